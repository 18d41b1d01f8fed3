"""A job run whose process was killed (a qcluster worker SIGKILLed, a host restarted)
shows as interrupted from the next run of any job on, not as running forever."""

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone, translation

from loyalty import jobs
from loyalty.job_runs import MARGIN, STOPPED, mark_interrupted, this_process
from loyalty.jobs import run_job
from loyalty.models import JobRun

pytestmark = pytest.mark.django_db
HOST = this_process()["host"]
TIMEOUT = dt.timedelta(seconds=settings.Q_CLUSTER["timeout"])
linux = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")


@pytest.fixture
def child():
    """A live process of this host; killed and reaped at the end whatever happened."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait(timeout=10)


def running(host=HOST, pid=None, ago=dt.timedelta(0), job="review_tiers") -> JobRun:
    return JobRun.objects.create(
        job=job, run_date=timezone.localdate(), host=host, pid=pid,
        started_at=timezone.now() - ago,
    )  # fmt: skip


def status(run: JobRun) -> str:
    run.refresh_from_db()
    return run.status


def test_the_run_of_a_killed_worker_is_interrupted_by_the_next_run(child):
    killed = running(pid=child.pid)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    with translation.override("en"):
        new = run_job("expire_points")
    killed.refresh_from_db()
    assert killed.status == JobRun.Status.INTERRUPTED and killed.finished_at
    assert "killed" in killed.error and "next run" in killed.error
    assert new.status == JobRun.Status.OK and (new.host, new.pid) == (HOST, os.getpid())
    # In the site's language otherwise, whichever it is.
    again = running(pid=child.pid)
    assert mark_interrupted() == 1 and status(again) == "interrupted"
    again.refresh_from_db()
    assert again.error == str(STOPPED)


def test_a_live_process_and_this_one_keep_running(child):
    live = running(pid=child.pid, ago=dt.timedelta(minutes=1))
    mine = running(pid=os.getpid(), ago=TIMEOUT * 3)  # even past the timeout
    run_job("expire_points")
    assert (status(live), status(mine)) == ("running", "running")


def test_past_the_timeout_a_run_of_any_host_is_interrupted():
    old = running(host="worker-2", pid=4321, ago=TIMEOUT + MARGIN + dt.timedelta(minutes=1))
    recent = running(host="worker-2", pid=4321, ago=TIMEOUT)  # django-q2 may still run it
    legacy_old = running(host="", ago=TIMEOUT + MARGIN + dt.timedelta(minutes=1))
    legacy_recent = running(host="", ago=dt.timedelta(minutes=5))  # before host and pid
    assert mark_interrupted() == 2
    assert [status(r) for r in (old, recent, legacy_old, legacy_recent)] == [
        "interrupted", "running", "interrupted", "running",
    ]  # fmt: skip
    assert mark_interrupted() == 0  # once


@linux
def test_a_killed_worker_not_yet_reaped_is_interrupted(child):
    run = running(pid=child.pid)
    child.send_signal(signal.SIGKILL)
    for _ in range(100):  # a zombie until its parent waits for it
        if Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            break
        time.sleep(0.05)
    assert mark_interrupted() == 1 and status(run) == "interrupted"


@linux
def test_a_pid_taken_by_a_newer_process_after_a_restart_is_interrupted(child):
    # The host restarted: the killed run's pid now belongs to a process started since.
    run = running(pid=child.pid, ago=MARGIN + dt.timedelta(minutes=5))
    assert mark_interrupted() == 1 and status(run) == "interrupted"


def test_a_run_that_finishes_after_all_is_ok_without_the_error(monkeypatch):
    # A hand run (manage.py run_job: no timeout) longer than the timeout, marked meanwhile
    # by another host's run.
    def slow(day, now=None):
        JobRun.objects.filter(status="running").update(status="interrupted", error="x")
        return {"members": 1}

    monkeypatch.setitem(jobs.JOBS, "expire_points", (slow, "", ""))
    run = run_job("expire_points")
    assert (run.status, run.error, run.counts) == ("ok", "", {"members": 1})


def test_the_admin_lists_and_filters_interrupted_runs(owner_client, child):
    run = running(pid=child.pid, job="expire_points")
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    with translation.override("en"):
        assert mark_interrupted() == 1
    url = reverse("admin:loyalty_jobrun_changelist")
    en = {"HTTP_ACCEPT_LANGUAGE": "en"}
    page = owner_client.get(url, **en).content.decode()
    assert "Interrupted" in page and "status__exact=interrupted" in page
    only = owner_client.get(url, {"status__exact": "interrupted"}, **en)
    assert list(only.context["cl"].result_list) == [JobRun.objects.get(pk=run.pk)]
    detail = owner_client.get(reverse("admin:loyalty_jobrun_change", args=[run.pk]), **en)
    text = detail.content.decode()
    assert "Interrupted" in text and "was killed" in text and HOST in text
    assert f">{child.pid}<" in text


@pytest.mark.django_db
def test_a_long_run_by_hand_on_this_host_is_not_interrupted_while_its_process_lives():
    """`manage.py run_job` has no timeout: on its own host only its process's death counts.
    Its process is init here (pid 1: alive, and started before the run)."""
    ago = TIMEOUT + MARGIN + dt.timedelta(minutes=1)
    proc_uptime = Path("/proc/uptime")
    uptime = float(proc_uptime.read_text().split()[0]) if proc_uptime.exists() else 0
    if uptime < (ago + MARGIN).total_seconds():
        pytest.skip("the machine started too recently for a run begun that long ago")
    long = running(pid=1, ago=ago)
    assert mark_interrupted() == 0
    long.refresh_from_db()
    assert long.status == JobRun.Status.RUNNING
