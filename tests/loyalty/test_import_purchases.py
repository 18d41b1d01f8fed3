"""The second file: historic purchases become history, counted once with the totals."""

import datetime as dt
from decimal import Decimal

import pytest

from loyalty.models import Card, Purchase
from members.services import member_by_phone
from tests.loyalty.import_files import phone, run_import, write_csv

pytestmark = pytest.mark.django_db
SH = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _members(tmp_path, rows, name="m.csv"):
    return run_import(write_csv(tmp_path / name, [["手机号", "姓名", "累计消费"], *rows]))


def _purchases(tmp_path, rows, name="p.csv"):
    path = write_csv(tmp_path / name, [["手机号", "订单号", "实付金额", "消费时间", "品类"], *rows])
    return run_import(path, "--purchases")


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
    assert counts == {"created": 1, "updated": 0, "unchanged": 0, "errors": 3}
    assert "line 3, 手机号: No member has this mobile number" in output
    assert "line 4, 订单号" in output and "line 5, 订单号: A value is required" in output
