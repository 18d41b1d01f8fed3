import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from loyalty.errors import (
    NotEnoughPoints,
    PointsOverCap,
    ReferenceConflict,
    TierDiscountNotApplicable,
)
from loyalty.ledger import points_award
from loyalty.models import GrowthEntry, PointsEntry, Purchase, TierChange
from loyalty.purchases import purchase_record
from loyalty.tiers import tier_set
from tests.loyalty.conftest import card_of

pytestmark = pytest.mark.django_db


def test_a_purchase_earns_points_and_updates_the_card(member, store, assert_ledger_ok):
    purchase, created = purchase_record(
        member=member, amount="38.50", external_ref="POS-1", store=store
    )
    assert created and purchase.cash_paid == Decimal("38.50")
    assert purchase.points_earned == 38  # 1 point per yuan, rounded down
    card = card_of(member)
    assert (card.points_balance, card.purchase_count, card.total_spent) == (38, 1, Decimal("38.50"))
    assert card.growth_value == 38 and GrowthEntry.objects.get().delta == 38
    assert card.first_purchase_at == card.last_purchase_at == purchase.occurred_at
    lot = PointsEntry.objects.get()
    assert (lot.kind, lot.delta, lot.remaining, lot.purchase) == ("earn", 38, 38, purchase)
    assert lot.rule  # which rule fired is recorded
    assert (purchase.points_balance_after, purchase.tier_after) == (38, "普通会员")
    assert_ledger_ok()


def test_the_same_reference_twice_changes_nothing(member, store):
    first, _ = purchase_record(member=member, amount="100", external_ref="POS-1", store=store)
    again, created = purchase_record(
        member=member, amount="100.00", external_ref="POS-1", store=store
    )
    assert not created and again == first
    assert Purchase.objects.count() == 1 and PointsEntry.objects.count() == 1
    assert card_of(member).purchase_count == 1


def test_a_reference_reused_for_another_amount_is_a_conflict(member, store):
    purchase_record(member=member, amount="100", external_ref="POS-1", store=store)
    with pytest.raises(ReferenceConflict):
        purchase_record(member=member, amount="99", external_ref="POS-1", store=store)


def test_the_tier_discount_and_multiplier_apply(member, store, owner, tiers):
    tier_set(member=member, tier=tiers["金卡"], actor=owner)
    purchase, _ = purchase_record(member=member, amount="200.00", external_ref="P", store=store)
    assert purchase.tier_discount == Decimal("10.00")  # 95折
    assert purchase.cash_paid == Decimal("190.00")
    assert purchase.points_earned == 285  # 190 × 1.5


def test_excluded_categories_get_no_tier_discount(member, store, owner, tiers, conf):
    conf.discount_excluded_categories = "礼品卡， 烟酒"
    conf.save()
    tier_set(member=member, tier=tiers["金卡"], actor=owner)
    purchase, _ = purchase_record(member=member, amount="200", external_ref="P", category="礼品卡")
    assert purchase.tier_discount == 0
    with pytest.raises(TierDiscountNotApplicable):
        purchase_record(
            member=member, amount="200", external_ref="Q", category="烟酒", apply_tier_discount=True
        )


def test_a_tier_without_discount_cannot_be_asked_for_one(member):
    with pytest.raises(TierDiscountNotApplicable):
        purchase_record(member=member, amount="50", external_ref="P", apply_tier_discount=True)
    assert not Purchase.objects.exists()


def test_points_pay_part_of_the_bill_oldest_lots_first(member, store, conf, assert_ledger_ok):
    points_award(member=member, points=300, key="gift-1", reason="礼品")
    points_award(member=member, points=300, key="gift-2", reason="礼品")
    purchase, _ = purchase_record(
        member=member, amount="20.00", external_ref="P", points_to_use=400
    )
    assert purchase.points_value == Decimal("4.00") and purchase.cash_paid == Decimal("16.00")
    gift1, gift2 = PointsEntry.objects.filter(kind="earn", purchase=None).order_by("id")
    assert (gift1.remaining, gift2.remaining) == (0, 200)
    assert card_of(member).points_balance == 600 - 400 + 16
    assert_ledger_ok()


def test_points_over_the_cap_are_refused_with_the_maximum(member, conf):
    points_award(member=member, points=5000, key="gift", reason="礼品")
    with pytest.raises(PointsOverCap) as exc:
        purchase_record(member=member, amount="20.00", external_ref="P", points_to_use=1001)
    assert exc.value.details["max_points"] == 1000  # 50% of 20 yuan at 100 points/yuan
    assert not Purchase.objects.exists() and card_of(member).points_balance == 5000


def test_not_enough_points_is_refused_and_nothing_is_written(member):
    points_award(member=member, points=50, key="gift", reason="礼品")
    with pytest.raises(NotEnoughPoints):
        purchase_record(member=member, amount="20.00", external_ref="P", points_to_use=100)
    assert not Purchase.objects.exists() and card_of(member).points_balance == 50


@pytest.mark.parametrize("amount", ["0", "-1", "1.234", "abc", "NaN", "Infinity", "1000000.01"])
def test_bad_amounts_are_validation_errors(member, amount):
    with pytest.raises(ValidationError):
        purchase_record(member=member, amount=amount, external_ref="P")


def test_an_empty_reference_is_refused(member):
    with pytest.raises(ValidationError):
        purchase_record(member=member, amount="10", external_ref="  ")


def test_crossing_a_threshold_upgrades_at_once_skipping_levels(member, tiers):
    purchase, _ = purchase_record(member=member, amount="2100", external_ref="P")
    card = card_of(member)
    assert card.tier == tiers["金卡"] and purchase.tier_after == "金卡"
    change = TierChange.objects.filter(reason="upgrade").get()
    assert (change.from_tier, change.to_tier, change.purchase) == (
        tiers["普通会员"],
        tiers["金卡"],
        purchase,
    )


def test_visits_basis_counts_purchases(member, tiers, conf):
    conf.tier_basis = "visits"
    conf.save()
    tiers["银卡"].qualify_threshold = 3
    tiers["银卡"].save()
    for i in range(3):
        purchase_record(member=member, amount="10", external_ref=f"P{i}")
    assert card_of(member).tier == tiers["银卡"]


def test_growth_basis_reads_growth_value(member, tiers, conf):
    conf.tier_basis = "growth"
    conf.growth_per_yuan = 2
    conf.save()
    purchase_record(member=member, amount="260", external_ref="P")  # 520 growth
    card = card_of(member)
    assert card.growth_value == 520 and card.tier == tiers["银卡"]


def test_a_rolling_window_ignores_old_spending(member, tiers, conf):
    conf.qualification_months = 12
    conf.save()
    old = dt.datetime(2024, 1, 10, 12, tzinfo=dt.UTC)
    purchase_record(member=member, amount="400", external_ref="OLD", occurred_at=old)
    purchase_record(member=member, amount="200", external_ref="NEW")
    assert card_of(member).tier == tiers["普通会员"]  # only 200 within the window
    purchase_record(member=member, amount="300", external_ref="NEW2")
    assert card_of(member).tier == tiers["银卡"]


def test_a_member_without_a_card_gets_one_on_first_purchase(member):
    card_of(member).delete()
    purchase_record(member=member, amount="10", external_ref="P")
    assert card_of(member).points_balance == 10
