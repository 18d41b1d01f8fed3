"""A full or unwritable disk during an import or an export (the faults issue).

The faults are real: the files directory (MEDIA_ROOT) or Python's temporary directory
is a 1 MB tmpfs mounted for the test and filled until the kernel says ENOSPC, or
remounted read-only, or has a plain file where the storage wants its `exports` or
`imports` directory. Through the admin's screens and the tasks as django-q2 runs them
(inline: Q_SYNC in tests): the job fails with a sentence (not a traceback) shown on its
page, the upload with a form error (never a 500), nothing half-written is left among
the files or in the temporary directory, the books balance (check_ledger), and once
the disk is fixed the same export asked again, or the import resumed, finishes.
"""

import errno
import io
import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import translation
from openpyxl import load_workbook

from loyalty.imports import disk, exports
from loyalty.models import ExportJob, ImportJob
from members.models import AuditEntry, Member
from tests.factories import MemberFactory
from tests.loyalty.import_files import HEADERS_ZH, phone, write_csv, write_xlsx

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

EXPORT = reverse("admin:members_member_export")
ADD = reverse("admin:loyalty_importjob_add")
FILLER = ".filler"


class Disk:
    """A 1 MB tmpfs of the test's own: filled, freed, made read-only and writable again."""

    def __init__(self, root: Path):
        self.root = root

    def fill(self) -> None:
        """Write until the kernel refuses: not one more byte fits."""
        with open(self.root / FILLER, "wb") as filler:
            try:
                while True:
                    filler.write(b"\0" * 65536)
                    filler.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
        with pytest.raises(OSError) as refused:
            (self.root / "probe").write_bytes(b"x")
        assert refused.value.errno == errno.ENOSPC
        (self.root / "probe").unlink()

    def free(self) -> None:
        (self.root / FILLER).unlink()

    def read_only(self) -> None:
        _mount_command("-o", "remount,ro", str(self.root))

    def writable(self) -> None:
        _mount_command("-o", "remount,rw", str(self.root))

    def files(self) -> list[Path]:
        """Every file on it but the filler: what a failed write would have left."""
        return [p for p in self.root.rglob("*") if p.is_file() and p.name != FILLER]


def _mount_command(*args: str) -> None:
    try:
        done = subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        _cannot(f"cannot mount a tmpfs here ({exc}): the disk faults need root")
    if done.returncode:
        _cannot(f"cannot mount a tmpfs here ({done.stderr.strip()}): the disk faults need root")


def _cannot(reason: str) -> None:
    """Skipped on a developer's machine without root; in CI (root) a failure, never a
    quiet skip."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def make_disk(tmp_path):
    mounted = []

    def make(name: str) -> Disk:
        root = tmp_path / name
        root.mkdir()
        _mount_command("-t", "tmpfs", "-o", "size=1m", "tmpfs", str(root))
        mounted.append(root)
        return Disk(root)

    yield make
    for root in mounted:
        subprocess.run(["umount", "-l", str(root)], check=False, capture_output=True)


@pytest.fixture
def temp_dir(tmp_path, monkeypatch):
    """Python's temporary directory, the test's own (to see what is left in it)."""
    path = tmp_path / "tmp"
    path.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(path))
    return path


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def media_on_disk(settings, make_disk, temp_dir):
    """MEDIA_ROOT on a tmpfs of its own (the temporary directory elsewhere)."""
    small = make_disk("media")
    settings.MEDIA_ROOT = small.root
    return small


@pytest.fixture
def temp_on_disk(make_disk, monkeypatch, media):
    """Python's temporary directory on a tmpfs of its own (MEDIA_ROOT elsewhere)."""
    small = make_disk("tmp")
    monkeypatch.setattr(tempfile, "tempdir", str(small.root))
    return small


@pytest.fixture
def default_tiers(transactional_db):
    """A transactional test's flush removes the tiers the data migration made: put them back."""
    import importlib

    from django.apps import apps

    importlib.import_module("loyalty.migrations.0002_default_tiers").create_defaults(apps, None)


def _said(code: int) -> str:
    """The sentence for errno `code`, in the language the admin speaks (the site's)."""
    with translation.override(django_settings.LANGUAGE_CODE):
        return disk.write_fault(OSError(code, "test"))


NO_SPACE = errno.ENOSPC
NOT_WRITABLE = errno.EROFS


def _files(root: Path) -> list[Path]:
    return [p for p in Path(root).rglob("*") if p.is_file() and p.name != FILLER]


def _ledger_ok() -> None:
    out = io.StringIO()
    call_command("check_ledger", stdout=out)  # exits 1 on drift
    assert "Ledger OK" in out.getvalue()


def test_the_errors_of_a_full_or_unwritable_disk_are_said_in_words():
    space, unwritable = _said(errno.ENOSPC), _said(errno.EROFS)
    assert space and unwritable and space != unwritable
    assert _said(errno.EDQUOT) == space
    for code in (errno.EACCES, errno.EPERM, errno.ENOTDIR):
        assert _said(code) == unwritable
    # Django's storage, when a directory of the path is a file.
    assert disk.write_fault(FileExistsError("media/exports exists and is not a directory."))
    assert disk.write_fault(OSError(errno.EIO, "I/O error")) is None  # a fault of another kind
    assert disk.write_fault(ValueError("bug")) is None
    with translation.override("en"):
        assert disk.write_fault(OSError(errno.ENOSPC, "x")).startswith("Not enough disk space")


# --- exports ------------------------------------------------------------------------------


@pytest.fixture
def people(store, monkeypatch):
    monkeypatch.setattr(exports, "INLINE_MAX_ROWS", 1)  # made by the task, not streamed
    return [MemberFactory(store=store, name=f"会员{i}") for i in range(3)]


def _export(client, fmt: str) -> ExportJob:
    response = client.post(EXPORT, {"format": fmt})
    job = ExportJob.objects.order_by("-pk").first()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:loyalty_exportjob_status", args=[job.pk])
    return job


def _failed_in_words(client, job: ExportJob, code: int) -> None:
    job.refresh_from_db()
    assert job.status == ExportJob.Status.FAILED and not job.file
    assert job.message == _said(code)
    page = client.get(reverse("admin:loyalty_exportjob_status", args=[job.pk]))
    text = page.content.decode()
    assert page.status_code == 200 and job.message in text and "Traceback" not in text


def _made_whole(client, fmt: str) -> None:
    job = _export(client, fmt)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.DONE and job.rows_done == 3, job.message
    download = client.get(reverse("admin:loyalty_exportjob_download", args=[job.pk]))
    content = b"".join(download.streaming_content)
    if fmt == "xlsx":
        assert load_workbook(io.BytesIO(content)).active.max_row == 4
    else:
        assert len(content.decode("utf-8-sig").strip().splitlines()) == 4


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_export_to_a_full_disk_fails_in_words_and_the_next_one_is_made(
    owner_client, people, media_on_disk, temp_dir, fmt
):
    media_on_disk.fill()
    job = _export(owner_client, fmt)
    _failed_in_words(owner_client, job, NO_SPACE)
    assert media_on_disk.files() == [] and _files(temp_dir) == []  # nothing half-written

    media_on_disk.free()
    _made_whole(owner_client, fmt)
    assert _files(temp_dir) == []


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_export_with_a_full_temporary_directory_fails_in_words_then_works(
    owner_client, people, temp_on_disk, media, fmt
):
    temp_on_disk.fill()
    job = _export(owner_client, fmt)
    _failed_in_words(owner_client, job, NO_SPACE)
    # Neither the temporary file nor openpyxl's sheet file is left behind.
    assert temp_on_disk.files() == [] and _files(media) == []

    temp_on_disk.free()
    _made_whole(owner_client, fmt)
    assert temp_on_disk.files() == []


def test_a_small_xlsx_export_with_a_full_temporary_directory_is_a_form_error(
    owner_client, store, temp_on_disk
):
    MemberFactory(store=store)  # streamed in the request: the .xlsx is made in a temp file
    temp_on_disk.fill()
    response = owner_client.post(EXPORT, {"format": "xlsx"})
    assert response.status_code == 200 and _said(NO_SPACE) in response.content.decode()
    assert temp_on_disk.files() == []
    assert not AuditEntry.objects.filter(action="member.export").exists()  # nothing left

    temp_on_disk.free()
    response = owner_client.post(EXPORT, {"format": "xlsx"})
    assert response.status_code == 200 and response["Content-Disposition"].startswith("attachment")
    assert AuditEntry.objects.filter(action="member.export").count() == 1


def test_an_export_where_the_exports_directory_is_a_file_fails_in_words(
    owner_client, people, media, temp_dir
):
    media.mkdir(parents=True)
    (media / "exports").write_text("not a directory")
    job = _export(owner_client, "csv")
    _failed_in_words(owner_client, job, NOT_WRITABLE)
    assert _files(media) == [media / "exports"] and _files(temp_dir) == []

    (media / "exports").unlink()
    _made_whole(owner_client, "csv")


def test_an_export_to_a_read_only_disk_fails_in_words_then_works(
    owner_client, people, media_on_disk, temp_dir
):
    media_on_disk.read_only()
    job = _export(owner_client, "xlsx")
    _failed_in_words(owner_client, job, NOT_WRITABLE)
    assert _files(temp_dir) == []

    media_on_disk.writable()
    _made_whole(owner_client, "xlsx")


# --- imports ------------------------------------------------------------------------------


ROWS = [
    [phone(1), "张三", "男", "1990-01-02", "500", "", "88", "", "常客", ""],
    [phone(2), "李四", "女", "", "20", "", "", "", "", ""],
    [phone(3), "王五", "", "", "", "", "", "", "", ""],
    ["123", "坏号", "", "", "", "", "", "", "", ""],  # refused: the error file is written
]


def _csv_bytes(rows=ROWS) -> bytes:
    text = "\r\n".join(",".join(r) for r in [HEADERS_ZH, *rows]) + "\r\n"
    return text.encode("gbk")


def _xlsx_bytes(tmp_path) -> bytes:
    return write_xlsx(tmp_path / "会员.xlsx", [HEADERS_ZH, *ROWS]).read_bytes()


def _upload(client, content: bytes | None = None, name: str = "会员.csv"):
    upload = SimpleUploadedFile(name, content or _csv_bytes(), content_type="text/csv")
    return client.post(ADD, {"file": upload, "kind": "members"})


def _form_error(response, code: int) -> None:
    text = response.content.decode()
    assert response.status_code == 200 and _said(code) in text and "Traceback" not in text
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize("fault", ["full", "read-only", "imports is a file"])
def test_an_upload_to_a_full_or_unwritable_disk_is_a_form_error_then_works(
    owner_client, media_on_disk, temp_dir, fault
):
    if fault == "full":
        media_on_disk.fill()
    elif fault == "read-only":
        media_on_disk.read_only()
    else:
        (media_on_disk.root / "imports").write_text("not a directory")
    code = NO_SPACE if fault == "full" else NOT_WRITABLE
    _form_error(_upload(owner_client), code)
    assert media_on_disk.files() == ([media_on_disk.root / "imports"] if "file" in fault else [])
    assert _files(temp_dir) == []

    if fault == "full":
        media_on_disk.free()
    elif fault == "read-only":
        media_on_disk.writable()
    else:
        (media_on_disk.root / "imports").unlink()
    response = _upload(owner_client)
    job = ImportJob.objects.get()
    assert response.status_code == 302 and job.status == ImportJob.Status.UPLOADED
    assert [p.name for p in media_on_disk.files()] == ["会员.csv"]


def test_the_command_says_the_disk_is_full(media_on_disk, tmp_path, default_tiers):
    path = write_csv(tmp_path / "会员.csv", [HEADERS_ZH, *ROWS])
    media_on_disk.fill()
    with pytest.raises(CommandError) as refused, translation.override("en"):
        call_command("import_members", str(path), stdout=io.StringIO())
    assert refused.value.returncode == 2
    assert str(refused.value).startswith("Not enough disk space")
    assert media_on_disk.files() == [] and not ImportJob.objects.exists()
    assert not Member.objects.exists()


def _run(client, job, what: str, **data):
    url = reverse("admin:loyalty_importjob_run", args=[job.pk])
    response = client.post(url, {"run": what, **data})
    assert response.status_code == 302
    job.refresh_from_db()
    return job


@pytest.mark.parametrize(("where", "fmt"), [("media", "csv"), ("temp", "csv"), ("temp", "xlsx")])
def test_an_import_whose_error_file_meets_a_full_disk_fails_in_words_and_resumes(
    owner_client, store, default_tiers, make_disk, settings, monkeypatch, tmp_path, where, fmt
):
    small = make_disk(where)
    if where == "media":
        settings.MEDIA_ROOT = small.root
        (tmp_path / "tmp").mkdir()
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    else:
        settings.MEDIA_ROOT = tmp_path / "media"
        monkeypatch.setattr(tempfile, "tempdir", str(small.root))
    if fmt == "xlsx":
        assert _upload(owner_client, _xlsx_bytes(tmp_path), "会员.xlsx").status_code == 302
    else:
        assert _upload(owner_client).status_code == 302
    job = ImportJob.objects.get()
    mapping = {f"col_{i}": key for i, key in job.mapping.items()}
    job = _run(owner_client, job, "dry", **mapping)
    assert job.status == ImportJob.Status.PREVIEWED and job.preview["errors"] == 1
    before = sorted(_files(settings.MEDIA_ROOT))  # the upload, the dry run's error file

    small.fill()
    job = _run(owner_client, job, "import")  # the rows are written, then the error file
    assert job.status == ImportJob.Status.FAILED and job.message == _said(NO_SPACE)
    assert (job.rows_done, job.created, job.errors) == (4, 3, 1)
    assert Member.objects.count() == 3
    _ledger_ok()
    assert sorted(_files(settings.MEDIA_ROOT)) == before  # no part of an error file
    assert _files(tempfile.gettempdir()) == []
    page = owner_client.get(reverse("admin:loyalty_importjob_change", args=[job.pk]))
    text = page.content.decode()
    assert job.message in text and 'value="resume"' in text and "Traceback" not in text

    small.free()
    job = _run(owner_client, job, "resume")
    assert job.status == ImportJob.Status.DONE and job.error_file, job.message
    assert (job.rows_done, job.created, job.updated, job.errors) == (4, 3, 0, 1)
    assert Member.objects.count() == 3
    assert AuditEntry.objects.filter(action="import.run").count() == 1
    _ledger_ok()
    errors = owner_client.get(reverse("admin:loyalty_importjob_errors", args=[job.pk]))
    content = b"".join(errors.streaming_content)
    if fmt == "xlsx":
        assert "坏号" in [c.value for c in load_workbook(io.BytesIO(content)).active[2]]
    else:
        assert "坏号" in content.decode("gb18030")


def test_an_upload_too_big_for_memory_on_a_full_disk_is_a_507_in_words(
    owner_client, settings, make_disk, media
):
    """Over FILE_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) Django writes the upload to a temporary
    file while it reads the request, in a middleware before any view: a full disk there
    is config/outage.py's 507 page, not a 500, and nothing is saved."""
    uploads = make_disk("uploads")
    uploads.fill()
    settings.FILE_UPLOAD_TEMP_DIR = str(uploads.root)
    owner_client.raise_request_exception = False
    big = _csv_bytes() + b"\n".join(b"13900%06d,x" % n for n in range(260_000))
    assert len(big) > settings.FILE_UPLOAD_MAX_MEMORY_SIZE
    response = _upload(owner_client, big)
    assert response.status_code == 507
    text = response.content.decode()
    assert "磁盘已满" in text and "Traceback" not in text
    assert not ImportJob.objects.exists()
    # The half-written temporary file is gone at once (config/uploads.py), not when the
    # last reference to the failed request goes (the test client still holds one here).
    assert uploads.files() == []
    uploads.free()
    assert _upload(owner_client).status_code == 302  # space again: the upload is taken
