"""POST /api/v1/purchases: figures, ledger rows, the card, and idempotency on external_ref."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine

from loyalty.ledger import points_award
from loyalty.models import EarnRule, GrowthEntry, PointsEntry, Purchase, TierChange
from tests.factories import MemberFactory
from tests.loyalty.api_fixtures import card_of

pytest_plugins = ["tests.loyalty.api_fixtures"]
pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=SHANGHAI)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield NOW


def test_it_records_a_purchase_with_its_figures(pos, store, shopper, frozen, assert_ledger_ok):
    response = pos.buy(shopper, "POS-1", "38.50", category="服装")

    assert response.status_code == 201
    assert response.json() == {
        "external_ref": "POS-1",
        "member_no": shopper.member_no,
        "amount": "38.50",
        "discount": "0.00",
        "tier_discount": "0.00",
        "coupon_discount": "0.00",
        "points_used": 0,
        "points_value": "0.00",
        "cash_paid": "38.50",
        "stored_value_used": "0.00",
        "points_earned": 38,  # 1 point per yuan, rounded down
        "points_balance": 38,
        "stored_value": {"balance": "0.00", "principal": "0.00", "bonus": "0.00"},
        "tier": "普通会员",
        "occurred_at": "2026-11-27T10:00:00+08:00",
    }
    purchase = Purchase.objects.get()
    assert (purchase.store, purchase.channel, purchase.category) == (store, "api", "服装")
    assert (purchase.gross_amount, purchase.cash_paid) == (Decimal("38.50"), Decimal("38.50"))
    lot = PointsEntry.objects.get()
    assert (lot.kind, lot.delta, lot.remaining, lot.purchase) == ("earn", 38, 38, purchase)
    assert lot.idempotency_key == "purchase:POS-1:earn"
    assert GrowthEntry.objects.get().delta == 38
    card = card_of(shopper)
    assert (card.points_balance, card.total_spent, card.purchase_count) == (38, Decimal("38.50"), 1)
    assert card.last_purchase_at == NOW
    assert_ledger_ok()


def test_it_finds_the_member_by_phone_in_any_format(pos, shopper):
    response = pos.post(
        "/purchases", {"external_ref": "POS-1", "phone": "+86 138-0013-8000", "amount": "10.00"}
    )

    assert response.status_code == 201
    assert Purchase.objects.get().member == shopper


def test_it_applies_the_tier_discount_and_multiplier(pos, gold_shopper, assert_ledger_ok):
    body = pos.buy(gold_shopper, "POS-1", "200.00").json()

    assert (body["tier_discount"], body["discount"], body["cash_paid"]) == (
        "10.00",  # 金卡 pays 95%
        "10.00",
        "190.00",
    )
    assert (body["points_earned"], body["points_balance"], body["tier"]) == (285, 285, "金卡")
    assert card_of(gold_shopper).total_spent == Decimal("190.00")  # what was paid, not the tag
    assert_ledger_ok()


def test_it_rounds_the_tier_discount_half_up_to_the_fen(pos, gold_shopper):
    body = pos.buy(gold_shopper, "POS-1", "0.10").json()

    # 5% of 0.10 is 0.005: half up gives 0.01 off.
    assert (body["tier_discount"], body["cash_paid"], body["points_earned"]) == ("0.01", "0.09", 0)


def test_it_skips_the_tier_discount_when_told_not_to_apply_it(pos, gold_shopper):
    body = pos.buy(gold_shopper, "POS-1", "200.00", apply_tier_discount=False).json()

    assert (body["tier_discount"], body["cash_paid"], body["points_earned"]) == (
        "0.00",
        "200.00",
        300,
    )


def test_it_gives_no_tier_discount_on_excluded_categories(pos, gold_shopper, conf):
    conf.discount_excluded_categories = "礼品卡，烟酒"
    conf.save()

    body = pos.buy(gold_shopper, "POS-1", "200.00", category="礼品卡").json()

    assert (body["tier_discount"], body["cash_paid"]) == ("0.00", "200.00")


def test_it_pays_part_of_the_bill_with_points(pos, shopper, assert_ledger_ok):
    points_award(member=shopper, points=1000, key="gift-1", reason="welcome gift")

    response = pos.buy(shopper, "POS-1", "100.00", points_to_use=500)

    assert response.status_code == 201
    body = response.json()
    assert (body["points_used"], body["points_value"], body["cash_paid"]) == (500, "5.00", "95.00")
    # Points are earned on the cash part only.
    assert (body["points_earned"], body["points_balance"]) == (95, 1000 - 500 + 95)
    rows = PointsEntry.objects.filter(purchase__external_ref="POS-1").order_by("id")
    assert [(r.kind, r.delta, r.balance_after) for r in rows] == [
        ("redeem", -500, 500),
        ("earn", 95, 595),
    ]
    gift = PointsEntry.objects.get(idempotency_key="gift-1")
    assert gift.remaining == 500  # spent from the oldest lot
    card = card_of(shopper)
    assert (card.points_balance, card.total_spent) == (595, Decimal("95.00"))
    assert_ledger_ok()


def test_it_lets_points_pay_up_to_the_cap(pos, shopper, assert_ledger_ok):
    points_award(member=shopper, points=10_000, key="gift-1", reason="welcome gift")

    body = pos.buy(shopper, "POS-1", "10.00", points_to_use=500).json()

    # 50% of ¥10 is ¥5, i.e. 500 points: exactly the cap is allowed.
    assert (body["points_value"], body["cash_paid"], body["points_balance"]) == (
        "5.00",
        "5.00",
        10_000 - 500 + 5,
    )
    assert_ledger_ok()


def test_it_upgrades_the_tier_when_the_purchase_qualifies(pos, shopper, assert_ledger_ok):
    body = pos.buy(shopper, "POS-1", "500.00").json()

    assert body["tier"] == "银卡"  # 500 yuan spent
    assert card_of(shopper).tier.name == "银卡"
    change = TierChange.objects.filter(member=shopper).latest("id")
    assert (change.reason, change.purchase.external_ref) == ("upgrade", "POS-1")
    # This purchase earned at the tier the member had when paying.
    assert body["points_earned"] == 500
    # The next one is at the new tier: 98% of the price, 1.2 points per yuan.
    second = pos.buy(shopper, "POS-2", "100.00").json()
    assert (second["cash_paid"], second["points_earned"]) == ("98.00", 117)
    assert_ledger_ok()


def test_it_adds_an_earn_rule_for_the_category(pos, shopper, frozen):
    EarnRule.objects.create(name="美妆双倍", category="美妆", multiplier=Decimal("2"))

    assert pos.buy(shopper, "POS-1", "50.00", category="美妆").json()["points_earned"] == 100
    assert pos.buy(shopper, "POS-2", "50.00", category="服装").json()["points_earned"] == 50
    assert "美妆双倍" in Purchase.objects.get(external_ref="POS-1").earn_rule


def test_it_answers_a_replay_with_the_same_body_and_changes_nothing(
    pos, shopper, frozen, assert_ledger_ok
):
    first = pos.buy(shopper, "POS-1", "88.80")
    card_before = card_of(shopper)

    again = pos.buy(shopper, "POS-1", "88.80")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.content == first.content
    assert Purchase.objects.count() == 1 and PointsEntry.objects.count() == 1
    assert GrowthEntry.objects.count() == 1
    card = card_of(shopper)
    assert (card.points_balance, card.purchase_count, card.total_spent) == (
        card_before.points_balance,
        1,
        Decimal("88.80"),
    )
    assert_ledger_ok()


@pytest.mark.parametrize(
    ("first_fields", "replay_fields"),
    [
        # The same amount written another way is the same request.
        ({"amount": "100.0"}, {"amount": "100"}),
        ({"amount": "100"}, {"amount": "100.00"}),
        # A till's local time and the same instant in UTC.
        (
            {"amount": "100.00", "occurred_at": "2026-11-20T10:00:00"},
            {"amount": "100.00", "occurred_at": "2026-11-20T02:00:00Z"},
        ),
        (
            {"amount": "100.00", "occurred_at": "2026-11-20T10:00:00+08:00"},
            {"amount": "100.00", "occurred_at": "2026-11-20T10:00:00+08:00"},
        ),
    ],
)
def test_a_replay_answers_exactly_what_the_first_call_did(
    pos, shopper, frozen, first_fields, replay_fields
):
    # The first answer is built from the saved objects, the replay from the database:
    # they once differed ("1E+2" vs "100.00", "+08:00" vs "Z").
    first = pos.buy(shopper, "POS-1", **first_fields)
    again = pos.buy(shopper, "POS-1", **replay_fields)

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["amount"] == "100.00"
    assert again.content == first.content
    assert Purchase.objects.count() == 1


def test_a_replay_by_phone_of_a_purchase_recorded_by_member_no_is_the_same(pos, shopper):
    first = pos.buy(shopper, "POS-1", "20.00")
    again = pos.post(
        "/purchases", {"external_ref": "POS-1", "phone": "+86 13800138000", "amount": "20.00"}
    )

    assert again.status_code == 200 and again.content == first.content


def test_a_replay_keeps_the_figures_of_the_first_call(pos, shopper):
    # A retry is the same order: a changed category or points in the retry are ignored.
    first = pos.buy(shopper, "POS-1", "50.00")
    pos.buy(shopper, "POS-2", "50.00")

    again = pos.buy(shopper, "POS-1", "50.00", category="美妆", points_to_use=10)

    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.json()["points_balance"] == 50  # the balance right after POS-1
    assert card_of(shopper).points_balance == 100


def test_it_answers_409_for_a_reference_reused_for_another_amount(pos, shopper):
    pos.buy(shopper, "POS-1", "100.00")

    response = pos.buy(shopper, "POS-1", "99.00", lang="en")

    assert response.status_code == 409
    assert response.json() == {
        "code": "reference_conflict",
        "message": "Reference POS-1 was already used for a different purchase.",
        "external_ref": "POS-1",
    }
    assert Purchase.objects.get().gross_amount == Decimal("100.00")
    assert card_of(shopper).points_balance == 100


def test_it_answers_409_for_a_reference_reused_for_another_member(pos, shopper, store):
    other = MemberFactory(phone="13912345678", store=store)
    pos.buy(shopper, "POS-1", "100.00")

    response = pos.buy(other, "POS-1", "100.00")

    assert response.status_code == 409
    assert response.json()["code"] == "reference_conflict"
    assert card_of(other).points_balance == 0 and Purchase.objects.count() == 1


def test_it_answers_409_when_another_store_already_used_the_reference(pos, other_pos, shopper):
    pos.buy(shopper, "ORDER-0001", "100.00")

    # Same number, member and amount from another store's till: not a retry of this
    # store's request, and a 200 would make the till believe its purchase was recorded.
    response = other_pos.buy(shopper, "ORDER-0001", "100.00")

    assert response.status_code == 409
    assert response.json()["code"] == "reference_conflict"
    assert Purchase.objects.get().store.code == "SH01"
    assert card_of(shopper).points_balance == 100


def test_it_keeps_a_backdated_purchase_on_its_local_date(pos, shopper, frozen):
    # An offline till sends yesterday's sale late; naive times are Shanghai time.
    response = pos.buy(shopper, "POS-1", "10.00", occurred_at="2026-11-26T23:30:00")

    assert response.status_code == 201
    assert response.json()["occurred_at"] == "2026-11-26T23:30:00+08:00"
    purchase = Purchase.objects.get()
    assert purchase.occurred_at == dt.datetime(2026, 11, 26, 23, 30, tzinfo=SHANGHAI)
    assert card_of(shopper).last_purchase_at == purchase.occurred_at
    lot = PointsEntry.objects.get()
    # Points are valid 12 months from the day of the purchase, not of the upload.
    assert lot.expires_at == dt.datetime(2027, 11, 27, 0, 0, tzinfo=SHANGHAI)


def test_it_accepts_a_till_clock_a_little_ahead(pos, shopper, frozen):
    ahead = (NOW + dt.timedelta(minutes=4)).isoformat()

    assert pos.buy(shopper, "POS-1", "10.00", occurred_at=ahead).status_code == 201


def test_it_accepts_an_integer_amount(pos, shopper):
    body = pos.buy(shopper, "POS-1", 25).json()

    assert (body["amount"], body["cash_paid"], body["points_earned"]) == ("25.00", "25.00", 25)


def test_it_refuses_a_wrong_method(pos):
    response = pos.client.get("/api/v1/purchases", HTTP_AUTHORIZATION=f"Bearer {pos.key}")

    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_a_purchase_costs_a_pinned_number_of_statements(
    pos, shopper, django_assert_max_num_queries
):
    """Key, member, the retry check, settings, tiers and rules before the lock; the card,
    purchase, lot, growth, card and purchase updates and the notice inside it
    (docs/benchmarks.md, purchase). A statement more is a cost for every till."""
    pos.buy(shopper, "POS-0", "10.00")  # the key's last use is touched once a minute
    with django_assert_max_num_queries(15):
        response = pos.buy(shopper, "POS-1", "38.50")
    assert response.status_code == 201 and response.json()["points_balance"] == 48
