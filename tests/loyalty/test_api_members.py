"""GET /api/v1/members (look a member up at the till) and POST (register one)."""

import pytest

from loyalty.ledger import points_award
from loyalty.models import Card, TierChange
from members.models import Member
from members.numbers import is_member_no
from tests.factories import MemberFactory
from tests.loyalty.api_fixtures import SHOPPER_PHONE, card_of

pytest_plugins = ["tests.loyalty.api_fixtures"]
pytestmark = pytest.mark.django_db


def test_it_finds_a_member_by_phone(pos, shopper):
    response = pos.get("/members", {"phone": SHOPPER_PHONE})

    assert response.status_code == 200
    assert response.json() == {
        "member_no": shopper.member_no,
        "name": "李雷",
        "tier": "普通会员",
        "points_balance": 0,
        "points_value": "0.00",
        "stored_value": {"balance": "0.00", "principal": "0.00", "bonus": "0.00"},
        "count_cards": [],
        "coupons": [],
    }


@pytest.mark.parametrize(
    "written",
    ["+86 138-0013-8000", "0086 138 0013 8000", "138 0013 8000", "１３８００１３８０００"],
)
def test_it_finds_a_member_by_phone_written_any_way(pos, shopper, written):
    response = pos.get("/members", {"phone": written})

    assert response.status_code == 200
    assert response.json()["member_no"] == shopper.member_no


def test_it_finds_a_member_by_member_no_with_points_and_their_cash_value(pos, shopper):
    points_award(member=shopper, points=1234, key="gift-1", reason="welcome gift")

    response = pos.get("/members", {"member_no": f" {shopper.member_no} "})

    assert response.status_code == 200
    body = response.json()
    assert (body["points_balance"], body["points_value"]) == (1234, "12.34")  # 100 points = ¥1


def test_it_rounds_the_points_value_down_to_the_fen(pos, shopper, conf):
    conf.points_per_cash_yuan = 30
    conf.save()
    points_award(member=shopper, points=100, key="gift-1", reason="welcome gift")

    body = pos.get("/members", {"member_no": shopper.member_no}).json()

    assert body["points_value"] == "3.33"  # 100 / 30 = 3.333…, never rounded up


def test_it_shows_the_current_tier(pos, gold_shopper):
    assert pos.get("/members", {"phone": SHOPPER_PHONE}).json()["tier"] == "金卡"


@pytest.mark.parametrize(
    "params", [{"phone": "13911112222"}, {"member_no": "000000000"}, {"member_no": "nobody"}]
)
def test_it_answers_404_for_an_unknown_member(pos, shopper, params):
    response = pos.get("/members", params, lang="en")

    assert response.status_code == 404
    assert response.json() == {
        "code": "not_found",
        "message": "No member with that phone or number.",
    }


def test_it_does_not_find_an_erased_member(pos, shopper):
    Member.objects.filter(pk=shopper.pk).update(status=Member.Status.ERASED)

    assert pos.get("/members", {"member_no": shopper.member_no}).status_code == 404


def test_it_needs_a_phone_or_a_member_no(pos, shopper):
    response = pos.get("/members", lang="en")

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert response.json()["message"] == "Give a phone or a member_no."


def test_it_refuses_a_malformed_phone_in_the_lookup(pos, shopper):
    response = pos.get("/members", {"phone": "abc"})

    assert response.status_code == 400
    assert response.json()["message"] == "“abc”不是电话号码。"


def test_it_registers_a_member(pos, store, tiers):
    response = pos.post(
        "/members",
        {"phone": "+86 139-1234-5678", "name": " 韩梅梅 ", "gender": "F", "birthday": "1990-05-01"},
    )

    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "韩梅梅" and body["tier"] == "普通会员"
    assert is_member_no(body["member_no"])
    member = Member.objects.get(member_no=body["member_no"])
    assert (member.phone, member.phone_last4) == ("+8613912345678", "5678")
    assert (member.gender, str(member.birthday)) == ("F", "1990-05-01")
    assert (member.source, member.store) == (Member.Source.API, store)
    card = card_of(member)
    # A member who signs up at the till gets the welcome offer (100 points by default).
    assert (card.tier, card.points_balance) == (tiers["普通会员"], 100)
    assert TierChange.objects.get(member=member).reason == TierChange.Reason.REGISTERED


def test_it_registers_a_member_with_only_a_phone(pos):
    response = pos.post("/members", {"phone": "13912345678"})

    assert response.status_code == 201
    member = Member.objects.get(member_no=response.json()["member_no"])
    assert (member.name, member.gender, member.birthday) == ("", "", None)


def test_a_registered_member_can_buy_at_once_by_phone(pos):
    member_no = pos.post("/members", {"phone": "13912345678"}).json()["member_no"]

    response = pos.post(
        "/purchases", {"external_ref": "POS-1", "phone": "139 1234 5678", "amount": "20.00"}
    )

    assert response.status_code == 201
    # 100 welcome points + 20 earned.
    assert (response.json()["member_no"], response.json()["points_balance"]) == (member_no, 120)


@pytest.mark.parametrize("written", ["13800138000", "+86 138-0013-8000", "0086 13800138000"])
def test_it_answers_409_with_the_member_no_for_a_phone_already_registered(pos, shopper, written):
    response = pos.post("/members", {"phone": written, "name": "冒名"})

    assert response.status_code == 409
    assert response.json() == {
        "code": "duplicate_phone",
        "message": f"该手机号已被会员 {shopper.member_no} 使用。",
        "member_no": shopper.member_no,
    }
    assert Member.objects.count() == 1 and Card.objects.count() == 1


def test_it_says_duplicate_phone_in_english_when_asked(pos, shopper):
    response = pos.post("/members", {"phone": "+86 138-0013-8000"}, lang="en")

    assert response.status_code == 409
    assert response.json()["message"] == (
        f"This mobile number already belongs to member {shopper.member_no}."
    )


def test_an_erased_members_phone_can_register_again(pos, shopper):
    Member.objects.filter(pk=shopper.pk).update(status=Member.Status.ERASED, phone_hash=None)

    response = pos.post("/members", {"phone": SHOPPER_PHONE})

    assert response.status_code == 201
    assert response.json()["member_no"] != shopper.member_no


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phone": "abc"}, None),
        ({"phone": "12345"}, None),
        ({"phone": "02161234567"}, None),  # a Shanghai landline, not a mobile
        ({}, "phone"),
        ({"phone": ""}, None),
        ({"phone": "13912345678", "gender": "X"}, "gender"),
        ({"phone": "13912345678", "name": "名" * 51}, "name"),
        ({"phone": "13912345678", "birthday": "1990-02-30"}, "birthday"),
        ({"phone": "13912345678", "birthday": "2999-01-01"}, None),
        ({"phone": 13912345678}, "phone"),
    ],
)
def test_it_refuses_an_invalid_registration(pos, body, field):
    response = pos.post("/members", body)

    assert response.status_code == 400
    error = response.json()
    assert error["code"] == "validation_error" and error["message"]
    if field:  # refused by the schema: the errors name the field
        assert field in {e["loc"][-1] for e in error["errors"]}
    assert not Member.objects.exists()


def test_it_registers_members_of_other_stores_under_their_store(other_pos, other_store):
    response = other_pos.post("/members", {"phone": "13912345678"})

    assert Member.objects.get(member_no=response.json()["member_no"]).store == other_store


def test_it_finds_members_registered_by_another_store(pos, other_store):
    member = MemberFactory(phone="13912345678", store=other_store)

    assert pos.get("/members", {"phone": "13912345678"}).json()["member_no"] == member.member_no


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_it_refuses_a_wrong_method(pos, method):
    response = getattr(pos.client, method)(
        "/api/v1/members", HTTP_AUTHORIZATION=f"Bearer {pos.key}"
    )

    assert response.status_code == 405
    assert set(response["Allow"].split(", ")) == {"GET", "POST"}
