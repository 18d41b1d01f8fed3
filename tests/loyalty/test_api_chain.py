"""The POS API in a chain (issue 24): members and coupons are the merchant's, found and
used by any store's key with an exact key (phone, member_no, the dynamic member_code);
purchases are the store's (read and refunded only by the key's store). And the spending
rule: points, stored value or a count card spent with only a static key need the
member's confirmation while the setting "spending needs a dynamic code" is on."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from loyalty.benefits.issuing import coupon_issue
from loyalty.ledger import points_award
from loyalty.models import (
    Card,
    CountCard,
    CountCardTemplate,
    CouponTemplate,
    LoyaltySettings,
    Purchase,
)
from loyalty.stored_value import stored_value_top_up
from members import sms
from members.dynamic_code import code_for, code_used
from members.otp import PAY, otp_issue
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.loyalty.api_fixtures"]
D = Decimal


def rule(on: bool) -> None:
    LoyaltySettings.objects.update_or_create(pk=1, defaults={"spend_needs_dynamic_code": on})


@pytest.fixture
def tills(pos, other_pos):
    """SH01's and SH02's tills, with the setting at its default, on (`pos` switches it
    off for the older API tests)."""
    rule(True)
    return pos, other_pos


@pytest.fixture
def hangzhou_member(other_store):
    """A member who registered at SH02 (徐汇店), with 500 points and ¥300 stored value."""
    member = MemberFactory(phone="13900139000", name="韩梅梅", store=other_store)
    points_award(member=member, points=500, reason="test", key="grant:1")
    stored_value_top_up(member=member, amount=D("300"), external_ref="sv-1")
    return member


def test_the_default_is_on():
    assert LoyaltySettings.current().spend_needs_dynamic_code is True


# --- members and coupons: the chain's -------------------------------------------------------


def test_any_stores_key_finds_a_member_by_phone_number_or_dynamic_code(tills, hangzhou_member):
    sh01, _sh02 = tills
    by_phone = sh01.get("/members", {"phone": "139 0013 9000"})
    by_no = sh01.get("/members", {"member_no": hangzhou_member.member_no})
    by_code = sh01.get("/members", {"member_code": code_for(hangzhou_member)})
    for answer in (by_phone, by_no, by_code):
        assert answer.status_code == 200, answer.content
        assert answer.json()["member_no"] == hangzhou_member.member_no
        assert answer.json()["points_balance"] == 500
    # Reading a code does not use it up: the purchase that follows does.
    assert not code_used(code_for(hangzhou_member))


def test_another_stores_member_buys_here_with_points_by_dynamic_code(
    tills, hangzhou_member, store, other_store
):
    sh01, _sh02 = tills
    answer = sh01.post(
        "/purchases",
        {
            "external_ref": "SH01-1",
            "member_code": code_for(hangzhou_member),
            "amount": "100.00",
            "points_to_use": 100,
            "stored_value_to_use": "20.00",
        },
    )
    assert answer.status_code == 201, answer.content
    assert answer.json()["points_used"] == 100 and answer.json()["stored_value_used"] == "20.00"
    purchase = Purchase.objects.get(external_ref="SH01-1")
    assert purchase.store == store  # the purchase is the store's where it happened
    hangzhou_member.refresh_from_db()
    assert hangzhou_member.store == other_store  # the home store stays


def test_a_coupon_of_any_stores_member_is_read_and_redeemed_by_any_stores_key(
    tills, hangzhou_member, other_store
):
    sh01, _sh02 = tills
    template = CouponTemplate.objects.create(
        name="减10元", kind="cash", value=D("10"), valid_days=30
    )
    coupon, _created = coupon_issue(template=template, member=hangzhou_member)
    check = sh01.get(f"/coupons/{coupon.code}", {"member_no": hangzhou_member.member_no})
    assert check.status_code == 200 and check.json()["usable"] is True, check.content
    redeemed = sh01.post(f"/coupons/{coupon.code}/redeem", {})
    assert redeemed.status_code == 200 and redeemed.json()["status"] == "redeemed"


def test_purchases_are_read_and_refunded_only_by_their_stores_key(tills, hangzhou_member):
    sh01, sh02 = tills
    sh02.buy(hangzhou_member, "SH02-1", "80.00")
    mine = sh02.get("/purchases/SH02-1")
    assert mine.status_code == 200 and mine.json()["amount"] == "80.00", mine.content
    for answer in (sh01.get("/purchases/SH02-1"), sh01.refund("SH02-1", {"amount": "10.00"})):
        assert answer.status_code == 403
        assert answer.json()["code"] == "forbidden"
    assert sh01.get("/purchases/NOPE").json()["code"] == "not_found"
    assert sh02.refund("SH02-1", {"amount": "10.00"}).status_code == 200


def test_a_purchase_read_answers_as_the_purchase_did(tills, hangzhou_member):
    _sh01, sh02 = tills
    first = sh02.buy(hangzhou_member, "SH02-2", "88.80", member_code=code_for(hangzhou_member))
    assert first.status_code == 201
    assert sh02.get("/purchases/SH02-2").json() == first.json()


# --- the spending rule ---------------------------------------------------------------------


def _spend(till, member, ref, **fields):
    body = {"points_to_use": 100, **fields}
    return till.buy(member, ref, "100.00", **body)


def test_points_spent_by_member_number_need_the_members_confirmation(tills, hangzhou_member):
    sh01, _sh02 = tills
    refused = _spend(sh01, hangzhou_member, "S-1")
    assert refused.status_code == 422
    assert refused.json()["code"] == "confirmation_required"
    assert "动态会员码" in refused.json()["message"]  # the merchant's language
    assert not Purchase.objects.exists()
    assert Card.objects.get(pk=hangzhou_member.pk).points_balance == 500
    wrong = _spend(sh01, hangzhou_member, "S-1", confirmation_code="000000")
    assert wrong.status_code == 422 and wrong.json()["code"] == "confirmation_invalid"
    # The pay code the member shows in their member centre (members.otp, PAY).
    code = otp_issue(phone=hangzhou_member.phone, purpose=PAY)
    ok = _spend(sh01, hangzhou_member, "S-1", confirmation_code=code)
    assert ok.status_code == 201, ok.content
    # A retry of the recorded purchase is answered (its code is used up by now).
    again = _spend(sh01, hangzhou_member, "S-1", confirmation_code=code)
    assert again.status_code == 200 and again.json() == ok.json()


def test_stored_value_and_the_phone_need_it_too(tills, hangzhou_member):
    sh01, _sh02 = tills
    by_phone = sh01.post(
        "/purchases",
        {
            "external_ref": "S-2",
            "phone": hangzhou_member.phone,
            "amount": "50.00",
            "stored_value_to_use": "50.00",
        },
    )
    assert by_phone.status_code == 422 and by_phone.json()["code"] == "confirmation_required"


def test_earning_alone_needs_no_confirmation(tills, hangzhou_member):
    sh01, _sh02 = tills
    answer = sh01.buy(hangzhou_member, "S-3", "100.00")
    assert answer.status_code == 201 and answer.json()["points_earned"] == 100


def test_the_setting_off_lets_the_member_number_spend(tills, hangzhou_member):
    sh01, _sh02 = tills
    rule(False)
    assert _spend(sh01, hangzhou_member, "S-4").status_code == 201


def test_the_sms_code_the_api_sends_confirms_the_spend(tills, hangzhou_member):
    sh01, _sh02 = tills
    sms.outbox.clear()
    sent = sh01.post("/confirmation-codes", {"member_no": hangzhou_member.member_no})
    assert sent.status_code == 202, sent.content
    assert sent.json() == {
        "member_no": hangzhou_member.member_no,
        "sent_to": hangzhou_member.masked_phone,
    }
    assert "9000" in sent.json()["sent_to"] and "0013" not in sent.json()["sent_to"]
    code = sms.outbox[-1].code
    again = sh01.post("/confirmation-codes", {"member_no": hangzhou_member.member_no})
    assert again.status_code == 429 and again.json()["code"] == "too_many_codes"
    assert again.json()["retry_after"] > 0
    ok = _spend(sh01, hangzhou_member, "S-5", confirmation_code=code)
    assert ok.status_code == 201, ok.content


def test_a_large_stored_value_spend_needs_one_code_not_two(tills, hangzhou_member):
    sh01, _sh02 = tills
    LoyaltySettings.objects.filter(pk=1).update(stored_value_confirm_limit=D("100"))
    code = otp_issue(phone=hangzhou_member.phone, purpose=PAY)
    answer = sh01.buy(
        hangzhou_member,
        "S-6",
        "200.00",
        points_to_use=100,
        stored_value_to_use="150.00",
        confirmation_code=code,
    )
    assert answer.status_code == 201, answer.content


def test_a_large_stored_value_spend_still_needs_the_code_with_a_dynamic_code(
    tills, hangzhou_member
):
    sh01, _sh02 = tills
    LoyaltySettings.objects.filter(pk=1).update(stored_value_confirm_limit=D("100"))
    answer = sh01.buy(
        hangzhou_member,
        "S-7",
        "200.00",
        member_code=code_for(hangzhou_member),
        stored_value_to_use="150.00",
    )
    assert answer.status_code == 422 and answer.json()["code"] == "confirmation_required"


# --- the dynamic code through the API ---------------------------------------------------------


def test_a_dynamic_code_pays_once(tills, hangzhou_member):
    sh01, sh02 = tills
    code = code_for(hangzhou_member)
    first = _spend(sh01, hangzhou_member, "D-1", member_code=code)
    assert first.status_code == 201, first.content
    retry = _spend(sh01, hangzhou_member, "D-1", member_code=code)
    assert retry.status_code == 200 and retry.json() == first.json()
    for till, ref in ((sh01, "D-2"), (sh02, "D-3")):  # a screenshot of it, at any store
        reused = _spend(till, hangzhou_member, ref, member_code=code)
        assert reused.status_code == 422
        assert reused.json()["code"] == "member_code_used"
    assert Purchase.objects.count() == 1


def test_the_dynamic_code_alone_names_the_member(tills, hangzhou_member):
    sh01, _sh02 = tills
    answer = sh01.post(
        "/purchases",
        {"external_ref": "D-4", "member_code": code_for(hangzhou_member), "amount": "10.00"},
    )
    assert answer.status_code == 201 and answer.json()["member_no"] == hangzhou_member.member_no


def test_an_expired_or_altered_dynamic_code_is_refused(tills, hangzhou_member):
    sh01, _sh02 = tills
    old = code_for(hangzhou_member, now=timezone.now() - dt.timedelta(minutes=3))
    fresh = code_for(hangzhou_member)
    altered = fresh[:-1] + str((int(fresh[-1]) + 1) % 10)
    for code in (old, altered, "881234"):
        answer = _spend(sh01, hangzhou_member, "D-5", member_code=code)
        assert answer.status_code == 422, code
        assert answer.json()["code"] == "member_code_invalid"
        assert "刷新会员码" in answer.json()["message"]
        looked_up = sh01.get("/members", {"member_code": code})
        assert looked_up.status_code == 422
    assert not Purchase.objects.exists()


def test_a_dynamic_code_of_another_member_than_the_number_is_a_mismatch(tills, hangzhou_member):
    sh01, _sh02 = tills
    someone = MemberFactory(phone="13700137000")
    code = code_for(hangzhou_member)
    answer = sh01.buy(someone, "D-6", "10.00", member_code=code)
    assert answer.status_code == 422 and answer.json()["code"] == "member_mismatch"
    assert not code_used(code)  # given back: the right purchase can still use it
    assert _spend(sh01, hangzhou_member, "D-7", member_code=code).status_code == 201


def test_a_refused_purchase_gives_the_code_back(tills, hangzhou_member):
    sh01, _sh02 = tills
    code = code_for(hangzhou_member)
    short = sh01.buy(hangzhou_member, "D-8", "100.00", member_code=code, points_to_use=9999)
    assert short.status_code == 422 and short.json()["code"] == "not_enough_points"
    assert not code_used(code)
    assert _spend(sh01, hangzhou_member, "D-9", member_code=code).status_code == 201


def test_a_code_of_the_last_minute_is_still_good(tills, hangzhou_member):
    sh01, _sh02 = tills
    now = timezone.now().replace(second=0, microsecond=0)  # the code's minute starts
    code = code_for(hangzhou_member, now=now)
    with time_machine.travel(now + dt.timedelta(seconds=125), tick=False):
        late = _spend(sh01, hangzhou_member, "D-10", member_code=code)
    assert late.json()["code"] == "member_code_invalid"
    with time_machine.travel(now + dt.timedelta(seconds=65), tick=False):
        answer = _spend(sh01, hangzhou_member, "D-10", member_code=code)
    assert answer.status_code == 201, answer.content


# --- count cards ---------------------------------------------------------------------------


@pytest.fixture
def wash(db):
    return CountCardTemplate.objects.create(
        code="wash-10", name="10 次洗剪吹", uses=10, price=D("200"), valid_months=12
    )


def test_a_count_card_is_used_by_dynamic_code_or_with_the_members_confirmation(
    tills, hangzhou_member, wash
):
    sh01, _sh02 = tills
    sold = sh01.post(
        "/count-cards",
        {"member_no": hangzhou_member.member_no, "template": "wash-10", "external_ref": "C-1"},
    )
    assert sold.status_code == 201, sold.content  # paid in cash: nothing of theirs spent
    card_id = sold.json()["count_card"]["id"]
    use = {"card_id": card_id, "external_ref": "U-1"}
    refused = sh01.post("/count-cards/uses", {"member_no": hangzhou_member.member_no, **use})
    assert refused.status_code == 422 and refused.json()["code"] == "confirmation_required"
    by_code = sh01.post("/count-cards/uses", {"member_code": code_for(hangzhou_member), **use})
    assert by_code.status_code == 201, by_code.content
    pay_code = otp_issue(phone=hangzhou_member.phone, purpose=PAY)
    confirmed = sh01.post(
        "/count-cards/uses",
        {
            "member_no": hangzhou_member.member_no,
            "card_id": card_id,
            "external_ref": "U-2",
            "confirmation_code": pay_code,
        },
    )
    assert confirmed.status_code == 201, confirmed.content
    assert CountCard.objects.get(pk=card_id).uses_left == 8
    nobody = sh01.post("/count-cards/uses", {"card_id": card_id, "external_ref": "U-3"})
    assert nobody.status_code == 400


def test_a_count_card_paid_from_stored_value_needs_it_too(tills, hangzhou_member, wash):
    sh01, _sh02 = tills
    body = {"template": "wash-10", "external_ref": "C-2", "tender": "stored_value"}
    refused = sh01.post("/count-cards", {"member_no": hangzhou_member.member_no, **body})
    assert refused.status_code == 422 and refused.json()["code"] == "confirmation_required"
    ok = sh01.post("/count-cards", {"member_code": code_for(hangzhou_member), **body})
    assert ok.status_code == 201, ok.content
    assert ok.json()["stored_value"]["balance"] == "100.00"


# --- documented ----------------------------------------------------------------------------


def test_the_schema_documents_member_code_and_the_rule(tills):
    sh01, _sh02 = tills
    schema = sh01.client.get("/api/v1/openapi.json").json()
    purchase_in = schema["components"]["schemas"]["PurchaseIn"]["properties"]
    assert "dynamic member code" in purchase_in["member_code"]["description"]
    for name in ("CountCardSaleIn", "CountCardUseIn"):
        assert "member_code" in schema["components"]["schemas"][name]["properties"]
    params = schema["paths"]["/api/v1/members"]["get"]["parameters"]
    assert "member_code" in {p["name"] for p in params}
    assert "confirmation_required" in schema["info"]["description"]
    assert set(schema["paths"]["/api/v1/purchases/{external_ref}"]["get"]["responses"]) >= {
        "200",
        "403",
        "404",
    }


# --- a franchise store: out of the chain both ways (review of issue 24) ----------------------


def test_a_franchise_stores_key_and_members_stay_out_of_the_chain(tills, hangzhou_member, store):
    """SH02 serves its own members only: SH01's key does not find its member (404, as an
    unknown one), by any key, for reading or spending; SH02's key finds its own."""
    sh01, sh02 = tills
    hangzhou_member.store.serves_own_members_only = True
    hangzhou_member.store.save()
    for query in ({"phone": "139 0013 9000"}, {"member_no": hangzhou_member.member_no},
                  {"member_code": code_for(hangzhou_member)}):  # fmt: skip
        assert sh01.get("/members", query).status_code == 404, query
    assert sh02.get("/members", {"member_no": hangzhou_member.member_no}).status_code == 200
    rule(False)
    assert _spend(sh01, hangzhou_member, "F-1").status_code == 404
    assert not Purchase.objects.exists()
    # ...and the franchise's key does not reach SH01's members either.
    ours = MemberFactory(phone="13700137000", store=store)
    assert sh02.get("/members", {"member_no": ours.member_no}).status_code == 404


def test_a_refused_purchase_leaves_the_members_pay_code_usable(tills, hangzhou_member):
    """The pay code is checked in the purchase's transaction: a purchase refused after the
    check (more points than the balance) does not use it up."""
    sh01, _sh02 = tills
    code = otp_issue(phone=hangzhou_member.phone, purpose=PAY)
    too_many = _spend(sh01, hangzhou_member, "P-1", points_to_use=900, confirmation_code=code)
    assert too_many.status_code == 422 and too_many.json()["code"] != "confirmation_invalid"
    ok = _spend(sh01, hangzhou_member, "P-1", confirmation_code=code)
    assert ok.status_code == 201, ok.content
