"""The member endpoints of /api/mp/v1/: the member centre's figures and services (/me/),
as JSON: the card, points, coupons, check-in, the rewards catalog."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from loyalty.benefits.issuing import coupon_issue
from loyalty.ledger import points_award
from loyalty.models import (
    Card,
    CouponTemplate,
    LoyaltySettings,
    PointsEntry,
    Redemption,
    Reward,
)
from loyalty.stored_value import stored_value_top_up
from members.dynamic_code import member_for_code
from members.services import member_by_phone
from tests.factories import StoreFactory

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
PHONE = "13800138000"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def member(mp):
    """A member signed in to the mini-program (with no welcome points: round figures)."""
    conf = LoyaltySettings.current()
    conf.welcome_points = 0
    conf.save()
    mp.login("oMpMember00000000000000001")
    mp.register(PHONE, name="李雷")
    return member_by_phone(PHONE)


def fund(member, points: int) -> None:
    points_award(
        member=member,
        points=points,
        key=f"fund:{member.pk}:{points}",
        reason="期初",
        expires_at=dt.datetime(2099, 1, 1, tzinfo=dt.UTC),
    )


def cash_template(**fields) -> CouponTemplate:
    return CouponTemplate.objects.create(
        **{"name": "立减 10 元", "kind": "cash", "value": Decimal("10"), "valid_days": 30, **fields}
    )


def goods(**fields) -> Reward:
    reward = Reward(**{"name": "保温杯", "kind": Reward.Kind.GOODS, "points_cost": 300, **fields})
    reward.full_clean()
    reward.save()
    return reward


# --- /me -----------------------------------------------------------------------------------


def test_me_shows_the_card_as_the_member_centre_does(mp, member, store):
    fund(member, 250)
    stored_value_top_up(member=member, amount=Decimal("100.50"), external_ref="T-1", store=store)
    coupon, _created = coupon_issue(template=cash_template(), member=member)

    response = mp.get("/me")

    assert response.status_code == 200
    me = response.json()
    assert (me["member_no"], me["name"]) == (member.member_no, "李雷")
    assert me["phone"] == "138 **** 8000"
    assert me["points"]["balance"] == 250 and isinstance(me["points"]["balance"], int)
    assert me["points"]["value"] == "2.50"  # 100 points a yuan
    assert me["stored_value"] == {"balance": "100.50", "principal": "100.50", "bonus": "0.00"}
    (shown,) = me["coupons"]
    assert shown["code"] == coupon.code and shown["display_code"] == coupon.display_code
    assert (shown["value"], shown["min_spend"], shown["status"]) == ("10.00", "0.00", "issued")
    assert shown["last_day"] == "2026-12-30"
    assert me["tier"]["name"] and me["tier_progress"]["next_tier"]["level"] > me["tier"]["level"]
    assert "to reach" in me["tier_progress"]["text"]
    assert me["checkin"] == {"done_today": False, "streak": 0}
    # The dynamic code of the till: it names this member now.
    code = me["dynamic_code"]
    assert len(code["code"]) == 18 and code["used"] is False and 0 < code["seconds_left"] <= 60
    assert member_for_code(code["code"]) == member
    assert Card.objects.get(pk=member.pk).last_seen_at == NOW  # a visit, as /me/ notes


def test_code_gives_the_dynamic_code_alone(mp, member):
    code = mp.get("/code").json()

    assert set(code) == {"code", "display", "seconds_left", "used"}
    assert member_for_code(code["code"]) == member


# --- points and coupons ------------------------------------------------------------------


def test_points_lists_the_ledger_newest_first_a_page_at_a_time(mp, member):
    for n in range(1, 23):
        points_award(member=member, points=n, key=f"p:{n}", reason=f"第{n}次")

    first, second = mp.get("/points").json(), mp.get("/points", page=2).json()

    assert (first["balance"], first["page"], first["pages"]) == (253, 1, 2)
    assert [e["delta"] for e in first["entries"]][:2] == [22, 21]
    assert first["entries"][0] == {
        "kind": "earn",
        "kind_label": "Earned",
        "delta": 22,
        "balance_after": 253,
        "reason": "第22次",
        "created_at": "2026-12-01T10:00:00+08:00",
        "expires_at": first["entries"][0]["expires_at"],
    }
    assert len(first["entries"]) == 20 and len(second["entries"]) == 2
    assert mp.get("/points", page=0).status_code == 400


def test_coupons_are_listed_by_tab(mp, member):
    usable, _c = coupon_issue(template=cash_template(), member=member)
    used, _c = coupon_issue(template=cash_template(name="满 100 减 20"), member=member)
    used.status, used.redeemed_at = "redeemed", NOW
    used.save()

    assert [c["code"] for c in mp.get("/coupons").json()["coupons"]] == [usable.code]
    tab = mp.get("/coupons", status="used").json()
    assert tab["status"] == "used" and [c["code"] for c in tab["coupons"]] == [used.code]
    assert mp.get("/coupons", status="expired").json()["coupons"] == []
    refused = mp.get("/coupons", status="all")
    assert refused.status_code == 400 and refused.json()["code"] == "validation_error"


# --- check-in ------------------------------------------------------------------------------


def test_checkin_gives_the_points_once_a_day(mp, member):
    conf = LoyaltySettings.current()
    conf.checkin_points = 5
    conf.save()

    first = mp.post("/checkin")

    assert first.status_code == 200
    body = first.json()
    assert (body["day"], body["streak"], body["points"], body["points_balance"]) == (
        "2026-12-01", 1, 5, 5,
    )  # fmt: skip
    assert body["message"] == "Checked in: +5 points. 1 day in a row."
    again = mp.post("/checkin")
    assert again.status_code == 409
    assert again.json()["code"] == "already_checked_in"
    assert PointsEntry.objects.filter(member=member).count() == 1
    assert mp.get("/me").json()["checkin"] == {"done_today": True, "streak": 1}


# --- rewards -------------------------------------------------------------------------------


def test_rewards_lists_what_can_be_redeemed(mp, member):
    fund(member, 400)
    cup = goods()
    goods(name="停售", active=False)

    body = mp.get("/rewards").json()

    assert body["points_balance"] == 400
    assert [r["id"] for r in body["rewards"]] == [cup.pk]
    assert body["rewards"][0] == {
        "id": cup.pk,
        "name": "保温杯",
        "kind": "goods",
        "description": "",
        "picture": None,
        "points_cost": 300,
        "cash_part": "0.00",
        "stock_left": None,
        "affordable": True,
    }
    assert body["redemptions"] == []


def test_redeeming_goods_spends_the_points_and_gives_a_pickup_code(mp, member):
    fund(member, 400)
    cup = goods(stock=5)

    response = mp.post(f"/rewards/{cup.pk}/redeem", {"idempotency_key": "tap-1"})

    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["points"], body["points_balance"]) == ("awaiting", 300, 100)
    assert len(body["pickup_code"]) == Redemption.PICKUP_CODE_LENGTH
    # The same tap again (a retry): the same redemption, nothing spent twice.
    again = mp.post(f"/rewards/{cup.pk}/redeem", {"idempotency_key": "tap-1"})
    assert again.status_code == 200 and again.json()["pickup_code"] == body["pickup_code"]
    assert Redemption.objects.filter(member=member).count() == 1
    assert mp.get("/rewards").json()["redemptions"][0]["pickup_code"] == body["pickup_code"]


def test_redeeming_a_coupon_reward_gives_the_coupon_at_once(mp, member):
    fund(member, 400)
    voucher = goods(name="10 元券", kind=Reward.Kind.COUPON, coupon_template=cash_template())

    body = mp.post(f"/rewards/{voucher.pk}/redeem").json()

    assert body["status"] == "fulfilled"
    assert body["coupon"]["name"] == "立减 10 元" and body["coupon"]["code"]
    assert [c["code"] for c in mp.get("/coupons").json()["coupons"]] == [body["coupon"]["code"]]


def test_redeeming_without_enough_points_is_a_422(mp, member):
    fund(member, 100)
    cup = goods()

    response = mp.post(f"/rewards/{cup.pk}/redeem", {"idempotency_key": "tap-1"})

    assert response.status_code == 422
    assert response.json()["code"] == "not_enough_points"
    assert not Redemption.objects.exists()
    assert Card.objects.get(pk=member.pk).points_balance == 100


def test_redeeming_a_reward_out_of_stock_is_a_422(mp, member):
    fund(member, 400)
    cup = goods(stock=1)
    Reward.objects.filter(pk=cup.pk).update(redeemed_count=1)

    response = mp.post(f"/rewards/{cup.pk}/redeem")

    assert response.status_code == 422
    assert response.json()["code"] == "reward_not_available"


@pytest.mark.parametrize("reward_id", ["999999", "0", "99999999999999999999", "abc"])
def test_redeeming_an_unknown_reward_is_a_4xx(mp, member, reward_id):
    response = mp.post(f"/rewards/{reward_id}/redeem")

    assert response.status_code in (400, 404)
    assert response.json()["code"] in ("not_found", "validation_error")


# --- queries ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/me", "/points", "/coupons", "/rewards"])
def test_a_page_takes_as_many_queries_for_many_rows_as_for_few(mp, member, path):
    def queries() -> int:
        mp.get(path)  # the minute's rate counters made, the visit noted: as every next one
        with CaptureQueriesContext(connection) as ctx:
            assert mp.get(path).status_code == 200
        return len(ctx.captured_queries)

    def add(n: int, start: int) -> None:
        for i in range(start, start + n):
            template = cash_template(name=f"券{i}")
            template.stores.add(StoreFactory())
            coupon_issue(template=template, member=member)
            points_award(member=member, points=1000, key=f"q:{i}", reason="期初")
            goods(name=f"礼品{i}", points_cost=10)
            mp.post(f"/rewards/{Reward.objects.latest('pk').pk}/redeem")

    add(2, 0)
    few = queries()
    add(8, 2)
    assert queries() == few


# --- who may call --------------------------------------------------------------------------

MEMBER_ENDPOINTS = [
    ("get", "/me"),
    ("get", "/code"),
    ("get", "/points"),
    ("get", "/coupons"),
    ("post", "/checkin"),
    ("get", "/rewards"),
    ("post", "/rewards/1/redeem"),
]


@pytest.mark.parametrize(("method", "path"), MEMBER_ENDPOINTS)
def test_a_user_not_yet_a_member_is_asked_to_register(mp, method, path):
    mp.login("oMpNotAMember0000000000001")

    response = getattr(mp, method)(path)

    assert response.status_code == 403
    assert response.json()["code"] == "registration_required"


@pytest.mark.parametrize(("method", "path"), MEMBER_ENDPOINTS)
def test_without_a_token_it_is_a_401(mp, member, method, path):
    response = getattr(mp, method)(path, auth=False)

    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


@pytest.mark.parametrize(("method", "path"), MEMBER_ENDPOINTS)
def test_the_wrong_method_is_a_405(mp, member, method, path):
    other = "post" if method == "get" else "get"

    assert getattr(mp, other)(path).status_code == 405
