"""Dates written as bare numbers: an Excel serial (a date cell that lost its format)
is a date, a year alone or a small number is a row error, never a wrong date."""

import datetime as dt

import pytest

from loyalty.imports.report import first_errors
from loyalty.models import ImportJob
from members.services import member_by_phone
from tests.loyalty.import_files import phone, run_import, write_csv, write_xlsx

pytestmark = pytest.mark.django_db
HEADERS = ["手机号", "姓名", "生日", "注册时间"]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _errors() -> dict[int, list[tuple[str, str]]]:
    found = {}
    for e in first_errors(ImportJob.objects.get(), dry_run=False, limit=1000):
        found.setdefault(e["line"], []).append((e["column"], e["message"]))
    return found


def test_a_year_alone_or_a_small_number_is_a_row_error_not_a_date(tmp_path, store):
    path = write_csv(
        tmp_path / "m.csv",
        [
            HEADERS,
            [phone(1), "甲", "1990", ""],
            [phone(2), "乙", "12", ""],
            [phone(3), "丙", "", "2020"],
            [phone(4), "丁", "", "7"],
            [phone(5), "戊", "1990.0", "9999"],
        ],
        encoding="gbk",
    )
    output, counts = run_import(path)
    assert counts == {"created": 0, "updated": 0, "unchanged": 0, "errors": 5}
    assert "line 2, 生日: “1990” is a year alone, not a date" in output
    errors = _errors()
    assert errors[2] == [("生日", "“1990” is a year alone, not a date (write it as 1990-01-02).")]
    assert errors[3][0][0] == "生日" and "“12” is a number, not a date" in errors[3][0][1]
    assert errors[4][0][0] == "注册时间" and "“2020” is a year alone" in errors[4][0][1]
    assert errors[5][0][0] == "注册时间" and "“7” is a number, not a date" in errors[5][0][1]
    assert [c for c, _m in errors[6]] == ["生日", "注册时间"]
    assert "year alone" in errors[6][0][1] and "10000" in errors[6][1][1]
    assert member_by_phone(phone(1)) is None


def test_a_five_digit_excel_serial_in_a_csv_is_still_a_date(tmp_path, store):
    """What a CSV saved by Excel holds for a date column formatted as General."""
    path = write_csv(
        tmp_path / "m.csv",
        [
            HEADERS,
            [phone(1), "甲", "32875", "44259.4375"],
            [phone(2), "乙", "10000", "10000"],
            [phone(3), "丙", "9999", ""],  # below the first serial read as a date
        ],
    )
    output, counts = run_import(path)
    assert counts == {"created": 2, "updated": 0, "unchanged": 0, "errors": 1}
    first, second = member_by_phone(phone(1)), member_by_phone(phone(2))
    assert first.birthday == dt.date(1990, 1, 2)
    shanghai = dt.timezone(dt.timedelta(hours=8))
    assert first.created_at == dt.datetime(2021, 3, 4, 10, 30, tzinfo=shanghai)
    assert second.birthday == dt.date(1927, 5, 18)
    assert "line 4, 生日: “9999” is a number, not a date" in output


def test_an_xlsx_date_cell_is_a_date_a_number_cell_with_a_year_is_not(tmp_path, store):
    path = write_xlsx(
        tmp_path / "m.xlsx",
        [
            HEADERS,
            [phone(1), "甲", dt.date(1990, 1, 2), dt.datetime(2021, 3, 4, 10, 30)],  # noqa: DTZ001 - Excel has no zones
            [phone(2), "乙", 1990, None],  # a General cell: the number 1990
            [phone(3), "丙", None, 2021.0],
        ],
    )
    _output, counts = run_import(path)
    assert counts == {"created": 1, "updated": 0, "unchanged": 0, "errors": 2}
    first = member_by_phone(phone(1))
    assert first.birthday == dt.date(1990, 1, 2)
    shanghai = dt.timezone(dt.timedelta(hours=8))
    assert first.created_at == dt.datetime(2021, 3, 4, 10, 30, tzinfo=shanghai)
    errors = _errors()
    assert errors[3] == [("生日", "“1990” is a year alone, not a date (write it as 1990-01-02).")]
    assert errors[4][0][0] == "注册时间" and "“2021” is a year alone" in errors[4][0][1]
