"""Imports and exports left waiting because their task never reached the broker, or
left running because their worker was killed.

The rows are the truth: an ImportJob or ExportJob in "queued" is work asked for; the
task (members.queue.enqueue) is only the nudge, and with the broker (Redis) down it is
lost (logged). Every minute, `requeue_waiting` queues the task again of every job that
has waited more than WAIT since it was queued or last nudged (its heartbeat_at, set by
import_job_queue for an import; for an export, its created_at until a first nudge).
A job whose first task is still in the broker (the workers are busy) is nudged once
every WAIT too: harmless, as each task claims its job with a conditional UPDATE
(runner._claim, export_job_task) and the others find nothing to do.

A task killed with its worker (SIGKILL, the cluster stopped past its timeout, the
machine gone) is not delivered again by django-q2's Redis broker: its job stays
"running" with a heartbeat that no longer moves. The same sweep puts such a job back
in "queued" and queues its task: an export silent for STALE_EXPORT is made again from
the start (a new file); a real import silent for runner.STALE goes on after its last
committed chunk, as "Resume the import" does. Not a job found dead RESTART_WITHIN
after it started (an import: staff resume it) or was asked for (an export: failed,
asked for again): what kills its worker may kill every restart.
"""

import datetime as dt
import logging

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from members.queue import nudge_waiting

from ..models import ExportJob, ImportJob
from . import runner
from .exports import enqueue_export
from .runner import enqueue_import

log = logging.getLogger(__name__)
WAIT = dt.timedelta(minutes=2)
STALE_EXPORT = dt.timedelta(minutes=10)  # a running export beats every 30 s (exports.py)
RESTART_WITHIN = dt.timedelta(hours=3)
LIMIT = 500  # jobs a run nudges of each kind; the next minute takes the rest


def requeue_waiting(day: dt.date, now: dt.datetime | None = None) -> dict:
    """The job: queue again the tasks of the jobs waiting longer than WAIT, the dead
    ones first put back in the queue (counted with them)."""
    now = now or timezone.now()
    _resume_dead_imports(now)
    _restart_dead_exports(now)
    imports = ImportJob.objects.filter(status=ImportJob.Status.QUEUED)
    exports = ExportJob.objects.filter(status=ExportJob.Status.QUEUED)
    return {
        "imports_requeued": nudge_waiting(imports, "heartbeat_at", enqueue_import, now, wait=WAIT,
                                          limit=LIMIT),
        "exports_requeued": nudge_waiting(exports, "heartbeat_at", enqueue_export, now, wait=WAIT,
                                          limit=LIMIT),
    }  # fmt: skip


def _beat_is(beat: dt.datetime | None) -> dict:
    return {"heartbeat_at": beat} if beat else {"heartbeat_at__isnull": True}


def _resume_dead_imports(now: dt.datetime) -> None:
    """Real runs silent for runner.STALE back in "queued", their heartbeat as it was (so
    queued again at once). A dry run is left alone, as import_job_queue leaves it."""
    dead = ImportJob.objects.filter(
        status=ImportJob.Status.RUNNING, dry_run=False, heartbeat_at__lt=now - runner.STALE
    ).filter(Q(started_at__gte=now - RESTART_WITHIN) | Q(started_at__isnull=True))
    for job_id, beat in list(dead.order_by("pk").values_list("pk", "heartbeat_at")[:LIMIT]):
        # Only if still silent: a run that beat meanwhile is alive.
        jobs = ImportJob.objects.filter(
            pk=job_id, status=ImportJob.Status.RUNNING, heartbeat_at=beat
        )
        if jobs.update(status=ImportJob.Status.QUEUED):
            log.warning("import %s: its worker stopped; queued again to go on", job_id)


def _restart_dead_exports(now: dt.datetime) -> None:
    """Exports silent for STALE_EXPORT back in "queued" (made again from the start),
    their heartbeat as it was; failed when asked for more than RESTART_WITHIN ago."""
    stale = now - STALE_EXPORT
    dead = ExportJob.objects.filter(status=ExportJob.Status.RUNNING).filter(
        Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True, created_at__lt=stale)
    )
    rows = dead.order_by("pk").values_list("pk", "heartbeat_at", "created_at")[:LIMIT]
    for job_id, beat, asked in list(rows):
        jobs = ExportJob.objects.filter(
            pk=job_id, status=ExportJob.Status.RUNNING, **_beat_is(beat)
        )
        if asked >= now - RESTART_WITHIN:
            if jobs.update(status=ExportJob.Status.QUEUED, rows_done=0):
                log.warning("export %s: its worker stopped; queued again", job_id)
            continue
        message = _("The export stopped before its file was made. Ask for it again.")
        if jobs.update(status=ExportJob.Status.FAILED, message=message, finished_at=now):
            log.warning("export %s (asked for at %s): its worker stopped; failed", job_id, asked)
