"""Coupons through the POS / mall API: listed on the member, checked, used with a
purchase (coupon_code), used on their own (a gift item), and every refusal a 4xx."""

from decimal import Decimal

import pytest

from loyalty.benefits.issuing import coupon_issue
from loyalty.ledger import ledger_problems
from loyalty.models import Coupon, CouponTemplate, Purchase
from tests.factories import MemberFactory

pytest_plugins = ["tests.loyalty.api_fixtures"]
pytestmark = pytest.mark.django_db


@pytest.fixture
def cash10(db):
    return CouponTemplate.objects.create(
        name="满 100 减 10",
        kind="threshold",
        value=Decimal("10"),
        min_spend=Decimal("100"),
        valid_days=30,
        per_member_limit=0,
    )


@pytest.fixture
def gift(db):
    return CouponTemplate.objects.create(
        name="生日赠饮", kind="gift", gift_name="中杯", value=Decimal("32"), valid_days=7
    )


def test_the_member_lookup_lists_usable_coupons(pos, shopper, cash10, gift):
    a, _ = coupon_issue(template=cash10, member=shopper)
    used, _ = coupon_issue(template=gift, member=shopper)
    pos.post(f"/coupons/{used.code}/redeem")
    body = pos.get("/members", {"member_no": shopper.member_no}).json()
    assert [c["code"] for c in body["coupons"]] == [a.code]
    coupon = body["coupons"][0]
    assert coupon["display_code"] == a.display_code and coupon["min_spend"] == "100.00"
    assert coupon["kind"] == "threshold" and coupon["status"] == "issued"


def test_a_purchase_with_a_coupon_code(pos, shopper, cash10):
    coupon, _ = coupon_issue(template=cash10, member=shopper)
    response = pos.buy(shopper, "C-1", "120.00", coupon_code=coupon.display_code.lower())
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["coupon_discount"], body["discount"], body["cash_paid"]) == (
        "10.00",
        "10.00",
        "110.00",
    )
    assert Coupon.objects.get(pk=coupon.pk).purchase.external_ref == "C-1"
    # The same request again is a replay, not a second use of the coupon.
    again = pos.buy(shopper, "C-1", "120.00", coupon_code=coupon.code)
    assert again.status_code == 200 and again.json() == body
    assert not ledger_problems()


@pytest.mark.parametrize(
    "amount, message_part",
    [("99.00", "100"), ("150.00", None)],
)
def test_a_refused_coupon_is_a_422_and_nothing_is_recorded(
    pos, shopper, cash10, amount, message_part
):
    coupon, _ = coupon_issue(template=cash10, member=shopper)
    if message_part is None:  # used up first
        pos.buy(shopper, "FIRST", "150.00", coupon_code=coupon.code)
    response = pos.buy(shopper, "C-2", amount, coupon_code=coupon.code)
    assert response.status_code == 422
    assert response.json()["code"] == "coupon_not_usable"
    if message_part:
        assert message_part in response.json()["message"]
    assert not Purchase.objects.filter(external_ref="C-2").exists()


def test_another_members_coupon_is_refused_in_their_language(pos, shopper, cash10, store):
    other = MemberFactory(store=store)
    coupon, _ = coupon_issue(template=cash10, member=other)
    response = pos.buy(shopper, "C-3", "150.00", coupon_code=coupon.code, lang="en")
    assert response.status_code == 422
    assert response.json()["message"] == "This coupon belongs to another member."
    zh = pos.buy(shopper, "C-4", "150.00", coupon_code=coupon.code, lang="zh-CN")
    assert zh.json()["message"] != "This coupon belongs to another member."


def test_an_unknown_coupon_code_is_a_404(pos, shopper):
    response = pos.buy(shopper, "C-5", "50.00", coupon_code="NOSUCHCODE")
    assert response.status_code == 404
    assert response.json()["code"] == "coupon_not_found"
    assert pos.get("/coupons/NOSUCHCODE").status_code == 404
    assert pos.post("/coupons/NOSUCHCODE/redeem").status_code == 404


def test_checking_a_coupon_says_whether_and_how_much(pos, shopper, cash10):
    coupon, _ = coupon_issue(template=cash10, member=shopper)
    ok = pos.get(f"/coupons/{coupon.code}", {"amount": "120.00", "member_no": shopper.member_no})
    assert ok.status_code == 200
    assert (ok.json()["usable"], ok.json()["discount"], ok.json()["reason"]) == (
        True,
        "10.00",
        "",
    )
    short = pos.get(f"/coupons/{coupon.code}", {"amount": "80"}, lang="en").json()
    assert short["usable"] is False and "100" in short["reason"] and short["discount"] is None
    bad = pos.get(f"/coupons/{coupon.code}", {"amount": "abc"})
    assert bad.status_code == 400


def test_a_gift_coupon_is_redeemed_once(pos, shopper, gift, store):
    coupon, _ = coupon_issue(template=gift, member=shopper)
    first = pos.post(f"/coupons/{coupon.code}/redeem", {"member_no": shopper.member_no})
    assert first.status_code == 200 and first.json()["status"] == "redeemed"
    coupon.refresh_from_db()
    assert coupon.redeemed_store == store
    second = pos.post(f"/coupons/{coupon.code}/redeem")
    assert second.status_code == 422 and second.json()["code"] == "coupon_not_usable"


def test_redeeming_for_the_wrong_member_is_refused(pos, shopper, gift, store):
    other = MemberFactory(store=store)
    coupon, _ = coupon_issue(template=gift, member=other)
    response = pos.post(f"/coupons/{coupon.code}/redeem", {"member_no": shopper.member_no})
    assert response.status_code == 422
    assert Coupon.objects.get(pk=coupon.pk).status == "issued"


def test_coupon_endpoints_need_a_key(pos, shopper, gift):
    coupon, _ = coupon_issue(template=gift, member=shopper)
    assert pos.get(f"/coupons/{coupon.code}", key=None).status_code == 401
    assert pos.post(f"/coupons/{coupon.code}/redeem", key="hy_wrong").status_code == 401


def test_registering_with_a_referral_code_links_the_referrer(pos, shopper):
    from members.services import member_referral_code

    code = member_referral_code(shopper)
    response = pos.post(
        "/members", {"phone": "13900001111", "name": "韩梅梅", "referral_code": code.lower()}
    )
    assert response.status_code == 201
    friend = shopper.referrals.get()
    assert friend.member_no == response.json()["member_no"]
    assert friend.referral.status == "rewarded"
    unknown = pos.post("/members", {"phone": "13900002222", "referral_code": "ZZZZZZZ"})
    assert unknown.status_code == 400 and "referral_code" in unknown.json()["errors"]
