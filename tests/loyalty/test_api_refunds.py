"""POST /api/v1/purchases/{external_ref}/refund: points clawed back, returned or owed."""

from decimal import Decimal

import pytest

from loyalty.ledger import points_award, points_spend
from loyalty.models import PointsEntry, Purchase, Refund
from tests.loyalty.api_fixtures import card_of

pytest_plugins = ["tests.loyalty.api_fixtures"]
pytestmark = pytest.mark.django_db


def test_it_refunds_a_whole_purchase_and_claws_back_its_points(pos, shopper, assert_ledger_ok):
    pos.buy(shopper, "POS-1", "100.00")

    response = pos.refund("POS-1", {"reason": "退货"})

    assert response.status_code == 200
    assert response.json() == {
        "external_ref": "POS-1",
        "refunded": "100.00",
        "refunded_total": "100.00",
        "status": "refunded",
        "points_clawed_back": 100,
        "points_returned": 0,
        "points_owed": 0,
        "points_balance": 0,
        "stored_value_returned": "0.00",
        "stored_value": {"balance": "0.00", "principal": "0.00", "bonus": "0.00"},
    }
    purchase = Purchase.objects.get()
    assert (purchase.status, purchase.refunded_amount) == ("refunded", Decimal("100.00"))
    refund = Refund.objects.get()
    assert (refund.amount, refund.reason, refund.points_clawed_back) == (
        Decimal("100.00"),
        "退货",
        100,
    )
    clawback = PointsEntry.objects.get(kind="refund")
    assert (clawback.delta, clawback.balance_after, clawback.purchase) == (-100, 0, purchase)
    card = card_of(shopper)
    assert (card.points_balance, card.total_spent, card.purchase_count) == (0, Decimal("0.00"), 0)
    assert_ledger_ok()


def test_it_refunds_all_that_is_left_without_a_body(pos, shopper, assert_ledger_ok):
    pos.buy(shopper, "POS-1", "100.00")

    response = pos.refund("POS-1", raw="")

    assert response.status_code == 200
    assert (response.json()["refunded"], response.json()["status"]) == ("100.00", "refunded")
    assert_ledger_ok()


def test_it_refunds_part_of_a_purchase_then_the_rest(pos, shopper, assert_ledger_ok):
    pos.buy(shopper, "POS-1", "100.00")

    part = pos.refund("POS-1", {"amount": "30.00"}).json()

    assert (part["refunded"], part["refunded_total"], part["status"]) == (
        "30.00",
        "30.00",
        "partially_refunded",
    )
    assert (part["points_clawed_back"], part["points_balance"]) == (30, 70)
    card = card_of(shopper)
    assert (card.total_spent, card.purchase_count) == (Decimal("70.00"), 1)

    rest = pos.refund("POS-1").json()

    assert (rest["refunded"], rest["refunded_total"], rest["status"]) == (
        "70.00",
        "100.00",
        "refunded",
    )
    assert (rest["points_clawed_back"], rest["points_balance"]) == (70, 0)
    assert Refund.objects.count() == 2
    assert card_of(shopper).purchase_count == 0
    assert_ledger_ok()


def test_it_gives_back_the_points_used_on_a_refunded_purchase(pos, shopper, assert_ledger_ok):
    points_award(member=shopper, points=1000, key="gift-1", reason="welcome gift")
    bought = pos.buy(shopper, "POS-1", "100.00", points_to_use=500).json()
    assert (bought["cash_paid"], bought["points_balance"]) == ("95.00", 595)

    body = pos.refund("POS-1").json()

    assert (body["refunded"], body["points_returned"], body["points_clawed_back"]) == (
        "95.00",  # the cash paid, not the gross amount
        500,
        95,
    )
    assert body["points_balance"] == 1000
    assert_ledger_ok()


def test_it_owes_the_points_already_spent_and_repays_them_from_later_earnings(
    pos, shopper, assert_ledger_ok
):
    pos.buy(shopper, "POS-1", "100.00")
    points_spend(member=shopper, points=80, key="gift-redeem", reason="a gift")

    body = pos.refund("POS-1").json()

    # 100 to claw back, 20 left: the balance stops at 0 and 80 are owed.
    assert (body["points_clawed_back"], body["points_owed"], body["points_balance"]) == (20, 80, 0)
    card = card_of(shopper)
    assert (card.points_balance, card.points_debt) == (0, 80)
    assert_ledger_ok()

    later = pos.buy(shopper, "POS-2", "50.00").json()

    assert (later["points_earned"], later["points_balance"]) == (50, 0)  # all 50 repay the debt
    assert card_of(shopper).points_debt == 30
    assert_ledger_ok()


def test_a_replayed_refund_with_its_refund_ref_changes_nothing(pos, shopper, assert_ledger_ok):
    pos.buy(shopper, "POS-1", "100.00")
    body = {"amount": "10.00", "refund_ref": "RF-1"}

    first = pos.refund("POS-1", body)
    again = pos.refund("POS-1", body)

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.content == first.content
    assert Refund.objects.get().idempotency_key == "POS-1:refund:RF-1"
    assert card_of(shopper).points_balance == 90
    assert_ledger_ok()


def test_two_refunds_of_one_amount_need_their_own_refund_refs(pos, shopper, assert_ledger_ok):
    pos.buy(shopper, "POS-1", "100.00")

    pos.refund("POS-1", {"amount": "10.00", "refund_ref": "RF-1"})
    second = pos.refund("POS-1", {"amount": "10.00", "refund_ref": "RF-2"}).json()

    assert (second["refunded_total"], second["points_balance"]) == ("20.00", 80)
    assert Refund.objects.count() == 2
    assert_ledger_ok()


@pytest.mark.parametrize("again", ["10", "10.0", "10.00"])
def test_a_retried_refund_without_refund_ref_is_one_refund_however_the_amount_is_written(
    pos, shopper, again, assert_ledger_ok
):
    # Without refund_ref the amount is the key: "10" and "10.00" once made two refunds.
    pos.buy(shopper, "POS-1", "100.00")

    first = pos.refund("POS-1", {"amount": "10.00"})
    retry = pos.refund("POS-1", {"amount": again})

    assert retry.status_code == 200 and retry.content == first.content
    assert first.json()["refunded"] == "10.00"
    assert Refund.objects.count() == 1
    assert Purchase.objects.get().refunded_amount == Decimal("10.00")
    assert_ledger_ok()


def test_it_refunds_with_long_references(pos, shopper, assert_ledger_ok):
    # 64 + 64 characters once overflowed the refund's key column: a 500 on PostgreSQL.
    ref, refund_ref = "R" * 64, "Z" * 64
    pos.buy(shopper, ref, "100.00")

    first = pos.refund(ref, {"amount": "1.00", "refund_ref": refund_ref})
    again = pos.refund(ref, {"amount": "1.00", "refund_ref": refund_ref})
    other = pos.refund(ref, {"amount": "1.00", "refund_ref": "Y" * 64})

    assert (first.status_code, again.status_code, other.status_code) == (200, 200, 200)
    assert again.content == first.content
    assert other.json()["refunded_total"] == "2.00"
    assert Refund.objects.count() == 2
    assert all(len(r.idempotency_key) <= 100 for r in Refund.objects.all())
    assert_ledger_ok()


def test_it_forbids_refunding_another_stores_purchase(pos, other_pos, shopper):
    pos.buy(shopper, "POS-1", "100.00")

    response = other_pos.refund("POS-1", lang="en")

    assert response.status_code == 403
    assert response.json() == {
        "code": "forbidden",
        "message": "This purchase was recorded by another store.",
    }
    assert not Refund.objects.exists()
    assert card_of(shopper).points_balance == 100


def test_it_answers_404_for_an_unknown_purchase(pos, shopper):
    response = pos.refund("NO-SUCH-ORDER", lang="en")

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "No purchase with that reference."}


def test_it_refuses_to_refund_more_than_is_left(pos, shopper, assert_ledger_ok):
    pos.buy(shopper, "POS-1", "100.00")
    pos.refund("POS-1", {"amount": "60.00"})

    response = pos.refund("POS-1", {"amount": "50.00"}, lang="en")

    assert response.status_code == 422
    assert response.json() == {
        "code": "refund_not_possible",
        "message": "At most 40.00 yuan can still be refunded.",
        "refundable": "40.00",
    }
    assert Purchase.objects.get().refunded_amount == Decimal("60.00")
    assert_ledger_ok()


def test_it_refuses_a_second_full_refund_with_a_new_refund_ref(pos, shopper):
    pos.buy(shopper, "POS-1", "100.00")
    pos.refund("POS-1")

    response = pos.refund("POS-1", {"refund_ref": "RF-2"})

    assert response.status_code == 422
    assert response.json()["code"] == "refund_not_possible"
    assert Refund.objects.count() == 1


@pytest.mark.parametrize(
    "body",
    [
        {"amount": 10.5},
        {"amount": "10.005"},
        {"amount": "0"},
        {"amount": "-5.00"},
        {"amount": "abc"},
        {"amount": "NaN"},
        {"amount": "1e100"},
        {"reason": "原" * 256},
        {"refund_ref": "R" * 65},
    ],
)
def test_it_refuses_an_invalid_refund(pos, shopper, body):
    pos.buy(shopper, "POS-1", "100.00")

    response = pos.refund("POS-1", body)

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert not Refund.objects.exists()
    assert card_of(shopper).points_balance == 100


def test_it_refuses_a_wrong_method(pos, shopper):
    pos.buy(shopper, "POS-1", "100.00")

    response = pos.client.get(
        "/api/v1/purchases/POS-1/refund", HTTP_AUTHORIZATION=f"Bearer {pos.key}"
    )

    assert response.status_code == 405
    assert not Refund.objects.exists()
