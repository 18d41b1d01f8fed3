"""The second file: historic purchases become history, counted once with the totals."""

import datetime as dt
from decimal import Decimal

import pytest

from loyalty.imports.report import error_rows
from loyalty.models import Card, ImportJob, Purchase
from members.services import member_by_phone
from tests.loyalty.import_files import phone, run_import, write_csv

pytestmark = pytest.mark.django_db
SH = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _members(tmp_path, rows, name="m.csv"):
    return run_import(write_csv(tmp_path / name, [["手机号", "姓名", "累计消费"], *rows]))


def _purchases(tmp_path, rows, name="p.csv", args=()):
    path = write_csv(tmp_path / name, [["手机号", "订单号", "实付金额", "消费时间", "品类"], *rows])
    return run_import(path, "--purchases", *args)


ORDERS = [
    [phone(1), "A1", "30.00", "2023-05-01 10:00", "咖啡"],
    [phone(1), "A2", "20.5", "2023/6/1 09:30", ""],
    [phone(2), "A3", "12", "2023-07-01", ""],
]


def test_purchases_fill_history_dates_and_counters(tmp_path, store):
    _members(tmp_path, [[phone(1), "甲", ""], [phone(2), "乙", ""]])
    _output, counts = _purchases(tmp_path, ORDERS)
    assert counts == {"created": 3, "updated": 0, "unchanged": 0, "errors": 0}
    first = member_by_phone(phone(1))
    bought = Purchase.objects.filter(member=first).order_by("occurred_at")
    assert [p.external_ref for p in bought] == ["import:A1", "import:A2"]
    assert bought[0].channel == Purchase.Channel.IMPORT and bought[0].points_earned == 0
    assert bought[0].category == "咖啡" and bought[0].cash_paid == Decimal("30.00")
    card = Card.objects.get(pk=first.pk)
    assert (card.total_spent, card.purchase_count) == (Decimal("50.50"), 2)
    assert card.first_purchase_at == dt.datetime(2023, 5, 1, 10, tzinfo=SH)
    assert card.last_purchase_at == dt.datetime(2023, 6, 1, 9, 30, tzinfo=SH)


def test_the_same_purchases_twice_change_nothing(tmp_path, store):
    _members(tmp_path, [[phone(1), "甲", ""], [phone(2), "乙", ""]])
    _purchases(tmp_path, ORDERS)
    _output, counts = _purchases(tmp_path, ORDERS, name="again.csv")
    assert counts == {"created": 0, "updated": 0, "unchanged": 3, "errors": 0}
    card = Card.objects.get(pk=member_by_phone(phone(1)).pk)
    assert (card.total_spent, card.purchase_count) == (Decimal("50.50"), 2)


@pytest.mark.parametrize("members_first", [True, False])
def test_the_member_files_total_already_holds_the_purchases(tmp_path, store, members_first):
    """Either order: the total from the member file counts, not total + purchases."""
    if members_first:
        _members(tmp_path, [[phone(1), "甲", "1000"], [phone(2), "乙", ""]])
        _purchases(tmp_path, ORDERS)
    else:
        _members(tmp_path, [[phone(1), "甲", ""], [phone(2), "乙", ""]])
        _purchases(tmp_path, ORDERS)
        _members(tmp_path, [[phone(1), "甲", "1000"]], name="m2.csv")
    card = Card.objects.get(pk=member_by_phone(phone(1)).pk)
    assert card.total_spent == Decimal("1000.00") and card.purchase_count == 2


def test_unknown_members_and_repeated_orders_are_errors(tmp_path, store):
    _members(tmp_path, [[phone(1), "甲", ""]])
    rows = [
        [phone(1), "B1", "10", "2023-01-01", ""],
        [phone(9), "B2", "10", "2023-01-01", ""],
        [phone(1), "B1", "99", "2023-01-02", ""],
        [phone(1), "", "10", "2023-01-01", ""],
    ]
    output, counts = _purchases(tmp_path, rows)
    assert counts == {"created": 0, "updated": 0, "unchanged": 0, "errors": 4}
    assert "line 2, 订单号: This order number is on 2 rows of the file (lines 2, 4)" in output
    assert "line 3, 手机号: No member has this mobile number" in output
    assert "line 4, 订单号: This order number is on 2 rows" in output
    assert "line 5, 订单号: A value is required" in output
    assert not Purchase.objects.exists()


def _order_errors(dry_run: bool) -> dict[int, list]:
    job = ImportJob.objects.latest("pk")
    return {e.line: e.problems for e in error_rows(job, dry_run=dry_run)}


@pytest.mark.parametrize("dry_run", [True, False])
def test_an_order_on_two_rows_in_different_chunks_refuses_both(tmp_path, store, dry_run):
    """The duplicate check covers the whole file, not one chunk (as phones in member files)."""
    _members(tmp_path, [[phone(1), "甲", ""], [phone(2), "乙", ""]])
    rows = [
        [phone(1), "A1", "30.00", "2023-05-01 10:00", ""],  # line 2: chunk 1
        [phone(1), "A2", "20.5", "2023-06-01 09:30", ""],  # line 3: chunk 1
        [phone(1), " A1 ", "30.00", "2023-05-01 10:00", ""],  # line 4: chunk 2, the same row
        [phone(2), "A3", "12", "2023-07-01", ""],  # line 5: chunk 2
    ]
    args = ["--chunk-size", "2", *(["--dry-run"] if dry_run else [])]
    output, counts = _purchases(tmp_path, rows, args=args)
    assert counts == {"created": 2, "updated": 0, "unchanged": 0, "errors": 2}
    message = (
        "This order number is on 2 rows of the file (lines 2, 4): none of them is imported. "
        "Keep one row."
    )
    assert _order_errors(dry_run) == {2: [["订单号", message]], 4: [["订单号", message]]}
    assert f"line 4, 订单号: {message}" in output
    refs = set(Purchase.objects.values_list("external_ref", flat=True))
    assert refs == (set() if dry_run else {"import:A2", "import:A3"})


def test_orders_imported_already_stay_unchanged_in_chunks_and_a_dry_run(tmp_path, store):
    _members(tmp_path, [[phone(1), "甲", ""], [phone(2), "乙", ""]])
    _purchases(tmp_path, ORDERS)
    for args in (["--chunk-size", "2", "--dry-run"], ["--chunk-size", "2"]):
        _output, counts = _purchases(tmp_path, ORDERS, name="again.csv", args=args)
        assert counts == {"created": 0, "updated": 0, "unchanged": 3, "errors": 0}
    assert Purchase.objects.count() == 3


def test_an_order_imported_already_on_two_rows_of_a_new_file_refuses_both(tmp_path, store):
    """As a phone on two rows of a member file: the file cannot say which row is right,
    even when the order is in the database already."""
    _members(tmp_path, [[phone(1), "甲", ""], [phone(2), "乙", ""]])
    _purchases(tmp_path, ORDERS)
    output, counts = _purchases(tmp_path, [*ORDERS, ORDERS[0]], name="again.csv")
    assert counts == {"created": 0, "updated": 0, "unchanged": 2, "errors": 2}
    assert "line 2, 订单号: This order number is on 2 rows of the file (lines 2, 5)" in output
    assert "line 5, 订单号: This order number is on 2 rows" in output
    assert Purchase.objects.count() == 3
