"""Files as merchants bring them: Excel on Chinese Windows (GBK), CSV UTF-8 with BOM,
semicolons and tabs, a title line above the table, XLSX with Excel dates, and files
that cannot be used at all (exit status 2)."""

import datetime as dt

import pytest

from members.models import Member
from tests.loyalty.import_files import (
    HEADERS_ZH,
    phone,
    run_import,
    run_import_unusable,
    write_csv,
    write_xlsx,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _member(number: str) -> Member:
    from members.services import member_by_phone

    return member_by_phone(number)


def test_it_reads_a_gbk_csv_with_chinese_headers(tmp_path, store):
    path = write_csv(
        tmp_path / "会员.csv",
        [
            HEADERS_ZH,
            [phone(1), "张三", "男", "1990-01-02", "500", "银卡", "1,234.50", "2020/5/6 12:30",
             "常客,新品尝鲜", "SH01"],
            [phone(2), "李四", "女", "1985/3/4", "", "", "", "", "", "静安店"],
        ],
        encoding="gbk",
    )  # fmt: skip
    output, counts = run_import(path)
    assert counts == {"created": 2, "updated": 0, "unchanged": 0, "errors": 0}
    assert "GB18030 / GBK" in output
    zhang = _member(phone(1))
    assert (zhang.name, zhang.gender, zhang.birthday) == ("张三", "M", dt.date(1990, 1, 2))
    assert zhang.card.tier.name == "银卡" and zhang.card.points_balance == 500
    assert str(zhang.card.total_spent) == "1234.50"
    assert sorted(zhang.tags.values_list("name", flat=True)) == ["常客", "新品尝鲜"]
    assert zhang.source == Member.Source.IMPORT
    assert _member(phone(2)).store == store  # by the store's name


def test_it_reads_utf8_with_bom_and_without(tmp_path, store):
    for n, encoding in enumerate(["utf-8-sig", "utf-8"]):
        path = write_csv(
            tmp_path / f"m{n}.csv",
            [["手机号码", "姓名"], [phone(10 + n), "王五"]],
            encoding=encoding,
        )
        _output, counts = run_import(path)
        assert counts["created"] == 1
        assert _member(phone(10 + n)).name == "王五"


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_it_finds_the_delimiter(tmp_path, delimiter):
    path = write_csv(
        tmp_path / "m.csv",
        [["mobile", "name", "birthday"], [phone(3), "Li, Lei", "1990-01-02"]],
        delimiter=delimiter,
    )
    _output, counts = run_import(path)
    assert counts["created"] == 1
    assert _member(phone(3)).name == "Li, Lei"


def test_it_reads_utf16_tab_separated_unicode_text(tmp_path):
    """Excel's "Unicode text" export: UTF-16 with a byte-order mark, tab-separated."""
    path = write_csv(
        tmp_path / "m.txt",
        [["手机", "名字"], [phone(4), "赵六"]],
        encoding="utf-16",
        delimiter="\t",
    )
    _output, counts = run_import(path)
    assert counts["created"] == 1 and _member(phone(4)).name == "赵六"


def test_it_skips_a_title_line_above_the_header(tmp_path):
    path = write_csv(
        tmp_path / "m.csv",
        [["会员列表 导出于 2024-05-01"], [], ["电话", "会员姓名"], [phone(5), "钱七"]],
        encoding="gbk",
    )
    output, counts = run_import(path)
    assert counts["created"] == 1
    assert "3" in output.splitlines()[1]  # the header line is reported


def test_it_reads_xlsx_with_excel_dates_and_serial_numbers(tmp_path):
    path = write_xlsx(
        tmp_path / "m.xlsx",
        [
            ["手机号", "姓名", "出生日期", "注册时间", "积分"],
            # A date cell, a datetime cell, a phone stored as a number.
            [int(phone(6)), "孙八", dt.date(1990, 1, 2), dt.datetime(2021, 3, 4, 10, 30), 120],  # noqa: DTZ001 - Excel has no zones
            # Serial numbers where the cells lost their date format.
            [phone(7), "周九", 32875, 44259.4375, 80.0],
        ],
    )
    _output, counts = run_import(path)
    assert counts == {"created": 2, "updated": 0, "unchanged": 0, "errors": 0}
    sun, zhou = _member(phone(6)), _member(phone(7))
    assert sun.birthday == dt.date(1990, 1, 2) and zhou.birthday == dt.date(1990, 1, 2)
    assert sun.created_at == dt.datetime(2021, 3, 4, 10, 30, tzinfo=dt.UTC) + dt.timedelta(hours=-8)
    assert zhou.created_at.astimezone(sun.created_at.tzinfo) == sun.created_at
    assert sun.card.points_balance == 120 and zhou.card.points_balance == 80


@pytest.mark.parametrize(
    "content, says",
    [
        (b"", "empty"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, ".xls"),
        (b"PK\x03\x04 not really a zip", "Excel"),
        (b"\x80\x81\xff\xfe\x00garbage" * 10, "encoding"),
    ],
)
def test_a_file_that_is_not_a_table_exits_2(tmp_path, content, says):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    assert says in run_import_unusable(path)


def test_a_file_without_a_phone_column_exits_2(tmp_path):
    path = write_csv(tmp_path / "m.csv", [["姓名", "生日"], ["张三", "1990-01-02"]])
    output = run_import_unusable(path)
    assert "Mobile number" in output or "手机号" in output
    assert not Member.objects.exists()


def test_a_missing_file_exits_2(tmp_path):
    run_import_unusable(tmp_path / "nowhere.csv")


def test_map_names_a_column_the_import_does_not_know(tmp_path):
    path = write_csv(tmp_path / "m.csv", [["会员电话号", "称呼"], [phone(8), "吴十"]])
    run_import_unusable(path)
    _output, counts = run_import(path, "--map", "会员电话号=phone", "--map", "称呼=name")
    assert counts["created"] == 1 and _member(phone(8)).name == "吴十"
