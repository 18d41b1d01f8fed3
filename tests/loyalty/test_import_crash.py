"""A run that dies half-way: whole chunks only (never a member without a card or
balance), and running the file again, or resuming the job, finishes the rest."""

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from loyalty.imports import runner, sql
from loyalty.ledger import ledger_problems
from loyalty.models import Card, ImportJob, OpeningBalance, PointsEntry
from members.models import Member
from tests.loyalty.import_files import phone, run_import, write_csv

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _rows(n):
    return [["手机号", "姓名", "积分", "等级"]] + [
        [phone(i), f"会员{i}", str(i % 50 + 1), ""] for i in range(1, n + 1)
    ]


def _whole():
    """Every member has a card, an opening lot and its opening balance; books balance."""
    members = Member.objects.count()
    assert Card.objects.count() == members
    assert PointsEntry.objects.filter(kind="import").count() == members
    assert OpeningBalance.objects.count() == members
    assert not ledger_problems()


@pytest.mark.django_db
def test_an_error_inside_a_chunk_leaves_whole_chunks_and_resume_finishes(
    tmp_path, monkeypatch, store
):
    path = write_csv(tmp_path / "m.csv", _rows(250))
    real_insert, calls = sql.insert, {"cards": 0}

    def failing_insert(model, fields, rows):
        if model is Card:
            calls["cards"] += 1
            if calls["cards"] == 3:  # the third chunk: its members are already inserted
                raise RuntimeError("power cut")
        return real_insert(model, fields, rows)

    monkeypatch.setattr(sql, "insert", failing_insert)
    with pytest.raises(RuntimeError):
        run_import(path, "--chunk-size", "100")
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.FAILED and "power cut" in job.message
    assert (job.rows_done, job.created) == (200, 200)
    assert Member.objects.count() == 200
    _whole()
    monkeypatch.setattr(sql, "insert", real_insert)
    assert runner.import_job_queue(job=job, dry_run=False, task=False)
    job = runner.import_job_run(job_id=job.pk, chunk_size=100)
    assert job.status == ImportJob.Status.DONE
    assert (job.rows_done, job.created, job.unchanged) == (250, 250, 0)
    assert Member.objects.count() == 250
    _whole()


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_kill_9_mid_run_then_run_again_and_resume(tmp_path, default_tiers, store):
    path = write_csv(tmp_path / "big.csv", _rows(30_000))
    env = {**os.environ, "DATABASE_URL": _database_url(), "DATA_DIR": str(tmp_path / "data")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "import_members", str(path), "--chunk-size", "200"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            job = ImportJob.objects.first()
            if job is not None and job.rows_done >= 2_000:
                break
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.RUNNING  # killed, not finished
    assert 2_000 <= job.rows_done < 30_000
    # Whole chunks: the members are exactly the committed rows, each complete.
    assert Member.objects.count() == job.rows_done == job.created
    _whole()

    # The same file again: the committed part is unchanged, the rest created.
    _output, counts = run_import(path)
    assert counts == {
        "created": 30_000 - job.rows_done,
        "updated": 0,
        "unchanged": job.rows_done,
        "errors": 0,
    }
    _whole()

    # Or resume the killed job: once its heartbeat is stale, it goes on from its last chunk.
    assert not runner.import_job_queue(job=job, dry_run=False, task=False)  # not stale yet
    ImportJob.objects.filter(pk=job.pk).update(
        heartbeat_at=timezone.now() - runner.STALE - dt.timedelta(seconds=1)
    )
    assert runner.import_job_queue(job=job, dry_run=False, task=False)
    resumed = runner.import_job_run(job_id=job.pk)
    assert resumed.status == ImportJob.Status.DONE and resumed.rows_done == 30_000
    assert resumed.created == job.rows_done  # the kill's chunks; the rest already there
    assert resumed.unchanged == 30_000 - job.rows_done
    assert Member.objects.count() == 30_000
    _whole()


@pytest.fixture
def default_tiers(transactional_db):
    """A transactional test's flush removes the tiers the data migration made: put them back."""
    import importlib

    from django.apps import apps

    importlib.import_module("loyalty.migrations.0002_default_tiers").create_defaults(apps, None)
