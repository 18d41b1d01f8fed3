from decimal import Decimal

import pytest

from loyalty.errors import RefundNotPossible
from loyalty.ledger import points_award, points_spend
from loyalty.models import PointsEntry, Purchase, Refund
from loyalty.purchases import purchase_record, purchase_refund
from tests.loyalty.conftest import card_of

pytestmark = pytest.mark.django_db


def test_a_full_refund_claws_back_points_and_counters(member, store, assert_ledger_ok):
    purchase, _ = purchase_record(member=member, amount="120", external_ref="P", store=store)
    refund, created = purchase_refund(purchase=purchase)
    assert created and refund.amount == Decimal("120.00") and refund.points_clawed_back == 120
    card = card_of(member)
    assert (card.points_balance, card.total_spent, card.purchase_count) == (0, 0, 0)
    purchase.refresh_from_db()
    assert purchase.status == Purchase.Status.REFUNDED
    with pytest.raises(RefundNotPossible):
        purchase_refund(purchase=purchase, key="again")
    assert_ledger_ok()


def test_a_partial_refund_claws_back_in_proportion(member, assert_ledger_ok):
    purchase, _ = purchase_record(member=member, amount="100", external_ref="P")
    refund, _ = purchase_refund(purchase=purchase, amount="25")
    assert refund.points_clawed_back == 25
    purchase.refresh_from_db()
    assert purchase.status == Purchase.Status.PARTIALLY_REFUNDED
    assert purchase.refundable_amount == Decimal("75.00")
    with pytest.raises(RefundNotPossible):
        purchase_refund(purchase=purchase, amount="75.01", key="too-much")
    rest, _ = purchase_refund(purchase=purchase, key="rest")
    assert rest.amount == Decimal("75.00") and rest.points_clawed_back == 75
    assert card_of(member).points_balance == 0
    assert_ledger_ok()


def test_the_same_refund_key_refunds_once(member):
    purchase, _ = purchase_record(member=member, amount="100", external_ref="P")
    first, _ = purchase_refund(purchase=purchase, amount="10", key="R1")
    again, created = purchase_refund(purchase=purchase, amount="10", key="R1")
    assert not created and again == first and Refund.objects.count() == 1


def test_points_used_come_back_in_proportion(member, assert_ledger_ok):
    points_award(member=member, points=1000, key="gift", reason="x")
    purchase, _ = purchase_record(member=member, amount="40", external_ref="P", points_to_use=1000)
    assert purchase.cash_paid == Decimal("30.00")
    refund, _ = purchase_refund(purchase=purchase)
    assert (refund.points_returned, refund.points_clawed_back) == (1000, 30)
    assert card_of(member).points_balance == 1000
    assert_ledger_ok()


def test_spent_points_become_a_debt_repaid_from_the_next_earnings(member, assert_ledger_ok):
    purchase, _ = purchase_record(member=member, amount="100", external_ref="P")
    points_spend(member=member, points=90, key="reward", reason="兑换")
    refund, _ = purchase_refund(purchase=purchase)
    assert (refund.points_clawed_back, refund.points_debt) == (10, 90)
    card = card_of(member)
    assert (card.points_balance, card.points_debt) == (0, 90)
    assert_ledger_ok()
    purchase_record(member=member, amount="50", external_ref="Q")  # earns 50, all owed
    card = card_of(member)
    assert (card.points_balance, card.points_debt) == (0, 40)
    purchase_record(member=member, amount="60", external_ref="R")  # earns 60: 40 repays, 20 kept
    card = card_of(member)
    assert (card.points_balance, card.points_debt) == (20, 0)
    repaid = PointsEntry.objects.filter(debt_delta__lt=0).values_list("debt_delta", flat=True)
    assert sorted(repaid) == [-50, -40]
    assert_ledger_ok()


def test_a_refund_with_an_empty_balance_records_the_debt_only(member, assert_ledger_ok):
    purchase, _ = purchase_record(member=member, amount="30", external_ref="P")
    points_spend(member=member, points=30, key="reward", reason="兑换")
    refund, _ = purchase_refund(purchase=purchase)
    assert (refund.points_clawed_back, refund.points_debt) == (0, 30)
    assert card_of(member).points_debt == 30
    assert_ledger_ok()


def test_a_refund_after_other_points_expired_owes_what_is_no_longer_there(
    member, store, assert_ledger_ok
):
    """Points that expired but were not yet swept by the job do not pay a clawback."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    t0 = dt.datetime(2025, 3, 1, 12, tzinfo=ZoneInfo("Asia/Shanghai"))
    purchase, _ = purchase_record(member=member, amount="50", external_ref="OLD", now=t0)
    points_award(
        member=member, points=100, key="bonus", reason="t", now=t0,
        expires_at=t0 + dt.timedelta(days=400),
    )  # fmt: skip
    points_spend(member=member, points=50, key="gift", reason="t", now=t0)  # the purchase's lot
    refund, _ = purchase_refund(purchase=purchase, now=t0 + dt.timedelta(days=420))
    assert (refund.points_clawed_back, refund.points_debt) == (0, 50)
    card = card_of(member)
    assert (card.points_balance, card.points_debt) == (0, 50)
    assert_ledger_ok()
