"""Import and export files hold personal data: deleted TRANSFER_RETENTION_DAYS after the
job by the nightly `prune_transfers`; the history (who, when, counts) stays."""

import datetime as dt
import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from loyalty.imports import runner
from loyalty.models import ExportJob, ImportJob, ImportRowError
from tests.loyalty.import_files import HEADERS_ZH, phone, write_csv

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.TRANSFER_RETENTION_DAYS = 30


def _import(tmp_path, name: str, *, dry_run: bool) -> ImportJob:
    rows = [
        [phone(1), "甲", "", "", "", "", "", "", "", ""],
        ["99", "乙", "", "", "", "", "", "", "", ""],
    ]
    path = write_csv(tmp_path / name, [HEADERS_ZH, *rows])
    return runner.import_file(path=str(path), dry_run=dry_run)


def _age(job, days: int) -> None:
    type(job).objects.filter(pk=job.pk).update(created_at=timezone.now() - dt.timedelta(days=days))


def test_old_files_and_refused_rows_go_the_history_stays(tmp_path, store, settings):
    old = _import(tmp_path, "old.csv", dry_run=False)
    waiting = _import(tmp_path, "waiting.csv", dry_run=True)  # a dry run never confirmed
    recent = _import(tmp_path, "recent.csv", dry_run=False)
    for job in (old, waiting):
        _age(job, 31)
    files = [Path(settings.MEDIA_ROOT) / f.name for f in (old.file, old.error_file)]
    assert all(f.exists() for f in files) and ImportRowError.objects.filter(job=old).exists()

    out = io.StringIO()
    call_command("run_job", "prune_transfers", stdout=out)

    assert "import_files=4" in out.getvalue()  # old: file + errors; waiting: file + errors
    assert not any(f.exists() for f in files)
    old.refresh_from_db()
    assert not old.file and not old.error_file and old.status == ImportJob.Status.DONE
    assert old.samples == [] and old.notes == {}  # the first rows shown, the tier texts
    assert (old.created, old.errors, old.file_name) == (1, 1, "old.csv")  # the history
    assert not ImportRowError.objects.filter(job__in=[old, waiting]).exists()
    waiting.refresh_from_db()
    assert waiting.status == ImportJob.Status.FAILED and "30" in waiting.message
    assert runner.import_job_queue(job=waiting, dry_run=False) is False  # nothing to import
    recent.refresh_from_db()
    assert recent.file and ImportRowError.objects.filter(job=recent).exists()
    assert recent.samples and recent.notes
    # Again: nothing more to do.
    call_command("run_job", "prune_transfers", stdout=(again := io.StringIO()))
    assert "import_files=0" in again.getvalue()


def test_old_export_files_go(owner_client, store, settings):
    from django.core.files.base import ContentFile

    job = ExportJob.objects.create(file_format="csv", what="all", query=b"", status="done")
    job.file.save("m.csv", ContentFile(b"member_no\n"), save=True)
    path = Path(settings.MEDIA_ROOT) / job.file.name
    _age(job, 31)
    call_command("run_job", "prune_transfers", stdout=io.StringIO())
    job.refresh_from_db()
    assert not job.file and not path.exists() and job.status == ExportJob.Status.DONE
