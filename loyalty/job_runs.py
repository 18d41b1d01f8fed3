"""Job runs whose process is gone: a qcluster worker killed mid-job (SIGKILL, django-q2's
timeout), a host restarted. Such a run never records its end, so the next run of any job
(the every-minute ones included) marks it interrupted. Nothing more is needed: the jobs
are idempotent and resumable (loyalty/jobs.py), and their next run finishes the work.
"""

import datetime as dt
import os
import socket

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import JobRun

# Past Q_CLUSTER["timeout"] django-q2 has killed the task anyway; the margin is for slow
# starts and clocks.
MARGIN = dt.timedelta(minutes=5)
# The run's error, in the site's language when it is marked.
STOPPED = _(
    "The process running this job stopped before the job finished (it was killed, or its "
    "server restarted). The next run of the job finishes the work."
)


def this_process() -> dict:
    """host and pid of a JobRun run by this process. The host is the hostname with the
    machine's id (/etc/machine-id, where there is one): cloned servers often keep the
    image's hostname ("debian"), and a pid is only meaningful on its own machine."""
    return {"host": f"{socket.gethostname()}{machine_id()}"[:100], "pid": os.getpid()}


def machine_id() -> str:
    try:
        with open("/etc/machine-id") as f:
            return ":" + f.read().strip()[:12]
    except OSError:
        return ""


def mark_interrupted(now: dt.datetime | None = None) -> int:
    """Running runs whose process is gone become interrupted; how many.

    Gone: on this host, no process has its pid (or a newer one does); on another host,
    it started longer ago than django-q2's timeout (runs recorded before the host and
    pid were, too). A run of this host whose process lives is never marked, however long
    it takes (a `manage.py run_job` by hand has no timeout); one on another host that
    outlives the timeout is shown interrupted until it records its end.
    """
    now = now or timezone.now()
    timeout = dt.timedelta(seconds=settings.Q_CLUSTER.get("timeout") or 1800)
    me, killed_by_now = this_process(), now - timeout - MARGIN
    running = JobRun.objects.filter(status=JobRun.Status.RUNNING)
    gone = [
        pk
        for pk, host, pid, started in running.values_list("pk", "host", "pid", "started_at")
        if (host, pid) != (me["host"], me["pid"])
        and (dead(pid, started) if host == me["host"] and pid else started < killed_by_now)
    ]
    if not gone:
        return 0
    return running.filter(pk__in=gone).update(
        status=JobRun.Status.INTERRUPTED,
        finished_at=now,
        error=str(STOPPED),
    )


def dead(pid: int, started: dt.datetime) -> bool:
    """Whether the process `pid` of this host, that started a run at `started`, is gone:
    no such process, a zombie, or (Linux) one started after the run, reusing the pid."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, another user's
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()  # after "pid (name)"
        with open("/proc/stat") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime "))
    except (OSError, IndexError, StopIteration, ValueError):
        return False  # not Linux, or it ended meanwhile: the timeout decides
    if fields[0] in ("Z", "X"):  # killed, its parent has not reaped it yet
        return True
    began = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: start time
    return dt.datetime.fromtimestamp(began, tz=dt.UTC) > started + MARGIN
