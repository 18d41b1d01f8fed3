"""The broker (Redis) down when an import or an export is queued (the faults issue).

The broker is a real django-q2 Redis broker pointed at a port nobody listens on: its
`rpush` is refused as a Redis server that is down refuses it. The request that queued
the work answers as usual (no 500), the job waits in "queued" (the row is the truth);
the every-minute sweep (requeue_waiting) queues its task again once the broker is back,
the task runs, and it runs once: a second sweep, or the first task turning up after
all, changes nothing.
"""

import datetime as dt
import importlib
import logging
import socket

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ

from loyalty import jobs
from loyalty.imports import exports
from loyalty.imports.exports import export_job_task
from loyalty.imports.requeue import WAIT, requeue_waiting
from loyalty.imports.tasks import import_job_task
from loyalty.job_labels import COUNT_LABELS
from loyalty.models import ExportJob, ImportJob, JobRun
from members.models import AuditEntry, Member
from tests.factories import MemberFactory
from tests.loyalty.import_files import HEADERS_ZH, phone

pytestmark = pytest.mark.django_db(transaction=True)

EXPORT = reverse("admin:members_member_export")
ADD = reverse("admin:loyalty_importjob_add")
ROWS = [
    [phone(1), "张三", "男", "", "500", "", "", "", "", ""],
    [phone(2), "李四", "女", "", "20", "", "", "", "", ""],
]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def default_tiers(transactional_db):
    """A transactional test's flush removes the tiers the data migration made: put them back."""
    from django.apps import apps

    importlib.import_module("loyalty.migrations.0002_default_tiers").create_defaults(apps, None)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def broker():
    """broker.down(): django-q2 on a Redis nobody answers; broker.up(): the tests' own
    (inline: Q_SYNC), as a broker that is back; broker.busy(): up, its workers busy
    (the ORM broker keeps the task, nobody runs it)."""
    patch = pytest.MonkeyPatch()

    class Broker:
        def down(self):
            patch.undo()
            patch.setattr(Conf, "SYNC", False)
            patch.setattr(Conf, "ORM", None)
            patch.setattr(Conf, "DJANGO_REDIS", None)
            patch.setattr(Conf, "REDIS", f"redis://127.0.0.1:{_closed_port()}/0")

        def busy(self):
            patch.undo()
            patch.setattr(Conf, "SYNC", False)

        def up(self):
            patch.undo()

    yield Broker()
    patch.undo()


def _later(minutes: float) -> dt.datetime:
    return timezone.now() + dt.timedelta(minutes=minutes)


def _sweep(minutes: float) -> dict:
    return requeue_waiting(timezone.localdate(), now=_later(minutes))


def _upload(client) -> ImportJob:
    text = "\r\n".join(",".join(r) for r in [HEADERS_ZH, *ROWS]) + "\r\n"
    upload = SimpleUploadedFile("会员.csv", text.encode("gbk"), content_type="text/csv")
    assert client.post(ADD, {"file": upload, "kind": "members"}).status_code == 302
    return ImportJob.objects.get()


def _queue(client, job: ImportJob, what: str, **data) -> ImportJob:
    response = client.post(
        reverse("admin:loyalty_importjob_run", args=[job.pk]), {"run": what, **data}
    )
    assert response.status_code == 302  # not a 500, not a 503: the work is saved
    job.refresh_from_db()
    return job


def test_an_import_queued_while_the_broker_is_down_runs_once_when_it_is_back(
    owner_client, store, default_tiers, broker, caplog
):
    job = _upload(owner_client)
    mapping = {f"col_{i}": key for i, key in job.mapping.items()}
    broker.down()
    with caplog.at_level(logging.WARNING, logger="members.queue"):
        job = _queue(owner_client, job, "dry", **mapping)
    assert job.status == ImportJob.Status.QUEUED
    assert "not queued, the broker is unavailable" in caplog.text
    page = owner_client.get(reverse("admin:loyalty_importjob_change", args=[job.pk]))
    assert page.status_code == 200

    assert _sweep(1) == {"imports_requeued": 0, "exports_requeued": 0}  # not waited long
    assert _sweep(3) == {"imports_requeued": 0, "exports_requeued": 0}  # still down
    job.refresh_from_db()
    assert job.status == ImportJob.Status.QUEUED

    broker.up()
    assert _sweep(3) == {"imports_requeued": 1, "exports_requeued": 0}
    job.refresh_from_db()
    assert job.status == ImportJob.Status.PREVIEWED and job.preview["created"] == 2
    assert _sweep(10) == {"imports_requeued": 0, "exports_requeued": 0}

    # The real run, queued while the broker is down again.
    broker.down()
    job = _queue(owner_client, job, "import")
    assert job.status == ImportJob.Status.QUEUED and not Member.objects.exists()
    broker.up()
    assert _sweep(3)["imports_requeued"] == 1
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE and job.created == 2
    done = (job.finished_at, job.rows_done, job.created, job.updated, job.unchanged)

    # The first task, lost with the broker, turns up after all; the sweep runs again.
    import_job_task(job.pk)
    assert _sweep(10) == {"imports_requeued": 0, "exports_requeued": 0}
    job.refresh_from_db()
    assert (job.finished_at, job.rows_done, job.created, job.updated, job.unchanged) == done
    assert Member.objects.count() == 2
    assert AuditEntry.objects.filter(action="import.run").count() == 1


def test_an_export_asked_for_while_the_broker_is_down_is_made_once(
    owner_client, store, broker, monkeypatch, media
):
    monkeypatch.setattr(exports, "INLINE_MAX_ROWS", 1)  # made by a task, not streamed
    MemberFactory(store=store)
    MemberFactory(store=store)
    broker.down()
    response = owner_client.post(EXPORT, {"format": "csv"})
    job = ExportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:loyalty_exportjob_status", args=[job.pk])
    assert job.status == ExportJob.Status.QUEUED
    assert owner_client.get(response["Location"]).status_code == 200

    broker.up()
    assert _sweep(1) == {"imports_requeued": 0, "exports_requeued": 0}
    assert _sweep(3) == {"imports_requeued": 0, "exports_requeued": 1}
    job.refresh_from_db()
    assert job.status == ExportJob.Status.DONE and job.rows_done == 2 and job.file
    made = (job.file.name, job.finished_at)

    export_job_task(job.pk)  # the lost task, after all
    assert _sweep(10) == {"imports_requeued": 0, "exports_requeued": 0}
    job.refresh_from_db()
    assert (job.file.name, job.finished_at) == made
    assert [p.name for p in media.rglob("*") if p.is_file()] == [made[0].rsplit("/", 1)[-1]]


def test_a_job_waiting_for_busy_workers_is_nudged_every_two_minutes_not_every_minute(
    owner_client, store, default_tiers, broker
):
    job = _upload(owner_client)
    mapping = {f"col_{i}": key for i, key in job.mapping.items()}
    broker.busy()  # up: the task is kept, no worker takes it
    job = _queue(owner_client, job, "dry", **mapping)
    assert job.status == ImportJob.Status.QUEUED and OrmQ.objects.count() == 1
    assert _sweep(3)["imports_requeued"] == 1 and OrmQ.objects.count() == 2
    assert _sweep(4)["imports_requeued"] == 0  # nudged a minute ago
    assert _sweep(3 + WAIT.total_seconds() / 60 + 0.1)["imports_requeued"] == 1
    assert OrmQ.objects.count() == 3

    # The workers get to them: the first runs the job, the others find nothing to do.
    broker.up()
    for _ in range(3):
        import_job_task(job.pk)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.PREVIEWED and job.preview["created"] == 2
    assert not Member.objects.exists()


def test_the_sweep_is_a_quiet_job_that_leaves_a_run_only_when_it_queued_something(
    owner_client, store, default_tiers, broker
):
    assert jobs.JOBS["requeue_waiting"][1] == "* * * * *"
    assert "requeue_waiting" in jobs.QUIET_JOBS
    jobs.run_job("requeue_waiting")
    assert not JobRun.objects.filter(job="requeue_waiting").exists()

    job = _upload(owner_client)
    broker.down()
    _queue(owner_client, job, "dry", **{f"col_{i}": k for i, k in job.mapping.items()})
    broker.up()
    run = jobs.run_job("requeue_waiting", now=_later(3))
    assert run.counts == {"imports_requeued": 1, "exports_requeued": 0}
    assert set(run.counts) <= set(COUNT_LABELS)
    assert JobRun.objects.filter(job="requeue_waiting").count() == 1


def test_a_segment_run_asked_for_while_the_broker_is_down_runs_once_when_it_is_back(
    owner, store, broker, django_capture_on_commit_callbacks
):
    """campaigns' own sweep (requeue_segment_runs), the same promise as the imports'."""
    from campaigns.models import Segment, SegmentRun
    from campaigns.segments.services import requeue_segment_runs, segment_run_start
    from members.models import Member
    from tests.factories import MemberFactory, TagFactory

    MemberFactory.create_batch(3, store=store)
    tag = TagFactory()
    segment = Segment.objects.create(name="全部", rules={"all": []})
    broker.down()
    with django_capture_on_commit_callbacks(execute=True):
        run = segment_run_start(segment, kind="tag", actor=owner, tag=tag)
    run.refresh_from_db()
    assert run.status == SegmentRun.Status.QUEUED  # the task was lost, the row is not
    assert requeue_segment_runs(None, now=_later(3)) == {"segment_runs_requeued": 0}  # still down
    broker.up()
    assert requeue_segment_runs(None, now=_later(1)) == {"segment_runs_requeued": 0}  # too soon
    assert requeue_segment_runs(None, now=_later(3)) == {"segment_runs_requeued": 1}
    run.refresh_from_db()
    assert run.status == SegmentRun.Status.DONE
    assert Member.objects.filter(tags=tag).count() == 3
    assert requeue_segment_runs(None, now=_later(3)) == {"segment_runs_requeued": 0}


def _segment_run(owner, store, tag, capture):
    from campaigns.models import Segment
    from campaigns.segments.services import segment_run_start

    MemberFactory.create_batch(3, store=store)
    segment = Segment.objects.create(name="全部", rules={"all": []})
    with capture(execute=True):
        return segment_run_start(segment, kind="tag", actor=owner, tag=tag)


def test_a_waiting_segment_run_is_nudged_every_two_minutes_and_late_tasks_leave_it_failed(
    owner, store, broker, monkeypatch, django_capture_on_commit_callbacks
):
    from campaigns.models import SegmentRun
    from campaigns.segments import services
    from campaigns.segments.services import (
        REQUEUE_AFTER,
        requeue_segment_runs,
        segment_run_retry,
        segment_run_task,
    )
    from tests.factories import TagFactory

    def sweep(minutes):
        return requeue_segment_runs(None, now=_later(minutes))["segment_runs_requeued"]

    tag = TagFactory()
    broker.busy()  # up: the task is kept, no worker takes it
    run = _segment_run(owner, store, tag, django_capture_on_commit_callbacks)
    assert OrmQ.objects.count() == 1
    assert sweep(3) == 1 and OrmQ.objects.count() == 2
    assert sweep(4) == 0  # nudged a minute ago
    assert sweep(3 + REQUEUE_AFTER.total_seconds() / 60 + 0.1) == 1
    assert OrmQ.objects.count() == 3

    # The workers get to the tasks: the first fails, the late ones leave the failure be.
    broker.up()
    monkeypatch.setattr(services, "member_tags_add", _boom)
    with pytest.raises(RuntimeError):
        segment_run_task(run.pk)
    monkeypatch.undo()
    for _ in range(2):
        segment_run_task(run.pk)
    run.refresh_from_db()
    assert run.status == SegmentRun.Status.FAILED and run.error == "the disk is on fire"
    assert not Member.objects.filter(tags=tag).exists()
    assert sweep(30) == 0  # failed is not waiting

    # Started again on purpose: it runs, once.
    assert segment_run_retry(run)  # no transaction here: its task is queued at once
    run.refresh_from_db()
    assert run.status == SegmentRun.Status.DONE and run.error == ""
    assert Member.objects.filter(tags=tag).count() == 3
    assert not segment_run_retry(run) and sweep(30) == 0


def _boom(**kwargs):
    raise RuntimeError("the disk is on fire")


def _export(client, monkeypatch) -> ExportJob:
    monkeypatch.setattr(exports, "INLINE_MAX_ROWS", 1)  # made by a task, not streamed
    assert client.post(EXPORT, {"format": "csv"}).status_code == 302
    return ExportJob.objects.order_by("pk").last()


def test_an_export_waiting_for_busy_workers_is_nudged_every_two_minutes(
    owner_client, store, broker, monkeypatch, media
):
    MemberFactory.create_batch(2, store=store)
    broker.busy()
    job = _export(owner_client, monkeypatch)
    assert job.status == ExportJob.Status.QUEUED and OrmQ.objects.count() == 1
    assert _sweep(3)["exports_requeued"] == 1 and OrmQ.objects.count() == 2
    assert _sweep(4)["exports_requeued"] == 0  # nudged a minute ago
    assert _sweep(3 + WAIT.total_seconds() / 60 + 0.1)["exports_requeued"] == 1
    assert OrmQ.objects.count() == 3

    broker.up()
    for _ in range(3):
        export_job_task(job.pk)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.DONE and job.rows_done == 2
    assert len([p for p in media.rglob("*") if p.is_file()]) == 1


def test_an_export_whose_worker_was_killed_is_made_again_once(
    owner_client, store, broker, monkeypatch, media
):
    """A task killed with its worker is not handed out again by the Redis broker: the
    export would stay "running" for ever (and its retention think it busy)."""
    from loyalty.imports.requeue import RESTART_WITHIN, STALE_EXPORT

    MemberFactory.create_batch(2, store=store)
    broker.busy()
    dead, alive, old = (_export(owner_client, monkeypatch) for _ in range(3))
    now = timezone.now()
    silent = now - STALE_EXPORT - dt.timedelta(seconds=1)
    ExportJob.objects.filter(pk=dead.pk).update(
        status=ExportJob.Status.RUNNING, heartbeat_at=silent, rows_done=1
    )
    beat = now - dt.timedelta(minutes=5)
    ExportJob.objects.filter(pk=alive.pk).update(status=ExportJob.Status.RUNNING, heartbeat_at=beat)
    ExportJob.objects.filter(pk=old.pk).update(
        status=ExportJob.Status.RUNNING,
        heartbeat_at=silent,
        created_at=now - RESTART_WITHIN - dt.timedelta(minutes=1),
    )

    broker.up()
    assert _sweep(0) == {"imports_requeued": 0, "exports_requeued": 1}
    dead.refresh_from_db()
    assert dead.status == ExportJob.Status.DONE and dead.rows_done == 2 and dead.file
    made = (dead.file.name, dead.finished_at)
    alive.refresh_from_db()
    assert (alive.status, alive.heartbeat_at, alive.file.name) == (
        ExportJob.Status.RUNNING,
        beat,
        "",
    )
    old.refresh_from_db()  # what kills its worker would kill every restart: failed
    assert old.status == ExportJob.Status.FAILED
    # In the language of the worker (the site's: zh-hans), as the job page shows it.
    assert old.message == "导出在文件生成之前中断了，请重新导出。"

    export_job_task(dead.pk)  # the killed run's task, handed out after all (ORM broker)
    assert _sweep(1) == {"imports_requeued": 0, "exports_requeued": 0}
    dead.refresh_from_db()
    assert (dead.file.name, dead.finished_at) == made
    assert [p.name for p in media.rglob("*") if p.is_file()] == [made[0].rsplit("/", 1)[-1]]


def test_a_live_export_beats_more_often_than_it_is_thought_dead(store, monkeypatch):
    """Its heartbeat moves every BEAT_SECONDS while rows come (and at the end)."""
    from loyalty.imports.requeue import STALE_EXPORT

    assert dt.timedelta(seconds=exports.BEAT_SECONDS * 3) < STALE_EXPORT
    job = ExportJob.objects.create(
        file_format="csv", what="*", query=b"", status=ExportJob.Status.RUNNING
    )
    clock = iter(range(0, 10_000, 20))  # 20 s a row
    monkeypatch.setattr(exports, "monotonic", lambda: next(clock))
    rows = exports._progress(job, iter([["a"], ["b"], ["c"]]), [0])
    assert next(rows) == ["a"]
    job.refresh_from_db()
    assert job.heartbeat_at is None  # 20 s
    assert next(rows) == ["b"]
    job.refresh_from_db()
    assert job.heartbeat_at is not None and job.rows_done == 2  # 40 s
    assert list(rows) == [["c"]]
    job.refresh_from_db()
    assert job.rows_done == 3


def test_a_real_import_whose_worker_was_killed_goes_on_by_itself(
    owner_client, store, default_tiers, broker
):
    from loyalty.imports.requeue import RESTART_WITHIN
    from loyalty.imports.runner import STALE

    job = _upload(owner_client)
    job = _queue(owner_client, job, "dry", **{f"col_{i}": k for i, k in job.mapping.items()})
    assert job.status == ImportJob.Status.PREVIEWED
    broker.busy()
    job = _queue(owner_client, job, "import")
    now = timezone.now()
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.RUNNING,
        heartbeat_at=now - STALE - dt.timedelta(seconds=1),
        started_at=now - RESTART_WITHIN - dt.timedelta(minutes=1),
    )
    broker.up()
    # Found dead that long after it started: staff resume it ("Resume the import").
    assert _sweep(0)["imports_requeued"] == 0
    job.refresh_from_db()
    assert job.status == ImportJob.Status.RUNNING
    ImportJob.objects.filter(pk=job.pk).update(started_at=now - dt.timedelta(minutes=10))
    assert _sweep(0)["imports_requeued"] == 1
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE and job.created == 2
    assert Member.objects.count() == 2
