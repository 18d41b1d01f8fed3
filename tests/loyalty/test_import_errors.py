"""Bad rows: each problem named with its line and column; good rows go in; the bad
ones come back in a file of the upload's own format and encoding, to fix and upload."""

import datetime as dt
import random
from pathlib import Path

import pytest
from openpyxl import load_workbook

from loyalty.imports.report import first_errors
from loyalty.models import ImportJob
from members.models import Member
from members.services import member_by_phone
from tests.loyalty.import_files import (
    HEADERS_ZH,
    phone,
    read_csv,
    run_import,
    write_csv,
    write_xlsx,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _errors(job) -> dict[int, list[tuple[str, str]]]:
    found = {}
    for e in first_errors(job, dry_run=job.dry_run, limit=1000):
        found.setdefault(e["line"], []).append((e["column"], e["message"]))
    return found


BAD = {
    "bad phone": ([ "1380013", "甲", "", "", "", "", "", "", "", ""], "手机号", "not"),
    "no phone": (["", "乙", "", "", "", "", "", "", "", ""], "手机号", "required"),
    "bad date": ([None, "丙", "", "1990-02-30", "", "", "", "", "", ""], "生日", "not a date"),
    "future birthday": ([None, "丁", "", "2999-01-01", "", "", "", "", "", ""], "生日", "future"),
    "unknown tier": ([None, "戊", "", "", "", "黑金卡", "", "", "", ""], "等级", "Unknown tier"),
    "unknown store": ([None, "己", "", "", "", "", "", "", "", "XX99"], "门店", "Unknown store"),
    "negative points": ([None, "庚", "", "", "-5", "", "", "", "", ""], "积分", "negative"),
    "fractional points": ([None, "辛", "", "", "1.5", "", "", "", "", ""], "积分", "whole"),
    "bad amount": ([None, "壬", "", "", "", "", "一百", "", "", ""], "累计消费", "amount"),
    "bad gender": ([None, "癸", "X", "", "", "", "", "", "", ""], "性别", "gender"),
    "long name": ([None, "名" * 51, "", "", "", "", "", "", "", ""], "姓名", "Too long"),
    "long tag": ([None, "子", "", "", "", "", "", "", "标" * 51, ""], "标签", "too long"),
}  # fmt: skip


def test_each_problem_is_reported_with_its_line_and_column(tmp_path, store):
    rows, expected = [], {}
    for n, (row, column, says) in enumerate(BAD.values()):
        row = list(row)
        if row[0] is None:
            row[0] = phone(100 + n)
        rows.append(row)
        expected[n + 2] = (column, says)  # line 1 is the header
    rows.append([phone(1), "好人", "", "", "", "", "", "", "", ""])
    path = write_csv(tmp_path / "m.csv", [HEADERS_ZH, *rows], encoding="gbk")
    _output, counts = run_import(path)
    assert counts == {"created": 1, "updated": 0, "unchanged": 0, "errors": len(BAD)}
    errors = _errors(ImportJob.objects.get())
    for line, (column, says) in expected.items():
        assert any(c == column and says in m for c, m in errors[line]), (line, errors.get(line))
    assert Member.objects.count() == 1


def test_a_phone_twice_in_the_file_is_reported_on_both_rows_not_merged(tmp_path, store):
    path = write_csv(
        tmp_path / "m.csv",
        [
            HEADERS_ZH,
            [phone(1), "甲", "", "", "100", "", "", "", "", ""],
            [phone(2), "乙", "", "", "", "", "", "", "", ""],
            [f"+86 {phone(1)[:3]} {phone(1)[3:]}", "甲二", "", "", "900", "", "", "", "", ""],
        ],
    )
    output, counts = run_import(path)
    assert counts == {"created": 1, "updated": 0, "unchanged": 0, "errors": 2}
    errors = _errors(ImportJob.objects.get())
    for line in (2, 4):
        assert errors[line][0][0] == "手机号" and "lines 2, 4" in errors[line][0][1]
    assert member_by_phone(phone(1)) is None


def test_ten_percent_bad_rows_good_ones_in_bad_ones_back_as_gbk(tmp_path, store):
    rng = random.Random(5)
    rows, bad_lines = [], set()
    for i in range(1, 501):
        row = [phone(i), f"会员{i}", "女", "1990-01-02", "10", "", "", "", "", ""]
        if rng.random() < 0.1:
            row[rng.choice([0, 3, 4])] = rng.choice(["坏", "-1", "1990-13-01"])
            bad_lines.add(i + 1)
        rows.append(row)
    path = write_csv(tmp_path / "m.csv", [HEADERS_ZH, *rows], encoding="gbk")
    _output, counts = run_import(path, "--chunk-size", "64")
    assert counts["errors"] == len(bad_lines) and counts["created"] == 500 - len(bad_lines)
    job = ImportJob.objects.get()
    back = read_csv(job.error_file.path, "gb18030")  # GBK in, GBK out
    assert back[0] == ["错误原因", *HEADERS_ZH]
    assert len(back) == len(bad_lines) + 1
    assert all(r[0] for r in back[1:])  # every row says what is wrong
    # Fix the rows in the error file itself and upload it again: only those go in.
    fixed = [
        [f"150{9_0000_000 + n:08d}", *r[2:4], "1990-01-02", "10", *r[6:]]
        for n, r in enumerate(back[1:])
    ]
    again = write_csv(tmp_path / "fixed.csv", [back[0], *[["", *r] for r in fixed]], encoding="gbk")
    _output, counts = run_import(again)
    assert counts == {"created": len(bad_lines), "updated": 0, "unchanged": 0, "errors": 0}


def test_utf8_with_bom_comes_back_utf8_with_bom(tmp_path, store):
    path = write_csv(tmp_path / "m.csv", [["手机号", "姓名"], ["123", "甲"]], encoding="utf-8-sig")
    run_import(path)
    raw = Path(ImportJob.objects.get().error_file.path).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and "甲" in raw.decode("utf-8-sig")


def test_semicolon_csv_comes_back_with_semicolons(tmp_path, store):
    path = write_csv(
        tmp_path / "m.csv", [["phone", "name"], ["123", "A;B"]], delimiter=";", encoding="utf-8"
    )
    run_import(path)
    back = Path(ImportJob.objects.get().error_file.path).read_text(encoding="utf-8")
    assert back.splitlines()[0] == "error;phone;name" and '"A;B"' in back


def test_an_xlsx_comes_back_as_xlsx(tmp_path, store):
    path = write_xlsx(
        tmp_path / "m.xlsx",
        [["手机号", "姓名", "生日"], [phone(1), "甲", dt.date(1990, 1, 2)], ["123", "=1+1", None]],
    )
    _output, counts = run_import(path)
    assert counts["created"] == 1 and counts["errors"] == 1
    job = ImportJob.objects.get()
    assert job.error_file.name.endswith(".xlsx")
    sheet = load_workbook(job.error_file.path).active
    header, row = list(sheet.iter_rows(values_only=True))
    assert header == ("错误原因", "手机号", "姓名", "生日")
    assert row[1] == "123" and row[2] == "=1+1"  # text stays text, never a formula
    assert sheet.cell(2, 3).data_type == "s"
