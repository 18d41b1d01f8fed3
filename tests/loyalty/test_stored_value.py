"""Stored value (储值) through the POS API: top-ups with offers, spending inside a
purchase, refunds in the same split, cash-out, the cap, the confirmation of large
spends, and check_ledger's proof."""

from decimal import Decimal

import pytest
from django.core.management import call_command
from hypothesis import given
from hypothesis import strategies as st

from loyalty.ledger import ledger_problems
from loyalty.models import (
    Card,
    Coupon,
    CouponTemplate,
    LoyaltySettings,
    PointsEntry,
    StoredValueEntry,
    TopUpOffer,
)
from loyalty.stored_value import NothingToCashOut, share_back, split, stored_value_cash_out
from members.models import AuditEntry, Member
from members.otp import PAY, otp_send
from tests.factories import MemberFactory
from tests.loyalty.conftest import card_of

pytest_plugins = ["tests.loyalty.api_fixtures"]
D = Decimal
ORDERS = list(LoyaltySettings.StoredValueOrder)

money = st.integers(min_value=0, max_value=10_000_00).map(lambda fen: D(fen) / 100)


# --- the arithmetic: never a fen lost or made ------------------------------------


@given(principal=money, bonus=money, share=st.floats(0, 1), order=st.sampled_from(ORDERS))
def test_split_takes_exactly_the_amount_within_each_part(principal, bonus, share, order):
    amount = (D(str(share)) * (principal + bonus)).quantize(D("0.01"), rounding="ROUND_DOWN")
    from_principal, from_bonus = split(amount, principal, bonus, order)
    assert from_principal + from_bonus == amount
    assert D(0) <= from_principal <= principal and D(0) <= from_bonus <= bonus
    assert from_principal == from_principal.quantize(D("0.01"))
    if order == LoyaltySettings.StoredValueOrder.BONUS_FIRST:
        assert from_bonus == min(amount, bonus)
    elif principal + bonus:
        # Proportional: within a fen of the exact share.
        assert abs(from_principal - amount * principal / (principal + bonus)) <= D("0.01")


@given(used_p=money, used_b=money, paid_extra=money, parts=st.integers(1, 5))
def test_refunds_in_parts_give_back_exactly_what_was_spent(used_p, used_b, paid_extra, parts):
    paid = used_p + used_b + paid_extra  # the bill: stored value and cash
    if not paid:
        return
    left_p, left_b, refundable = used_p, used_b, paid
    piece = (paid / parts).quantize(D("0.01"), rounding="ROUND_DOWN")
    for i in range(parts):
        amount = refundable if i == parts - 1 else min(piece, refundable)
        back_p, back_b = share_back(amount, refundable, left_p, left_b)
        assert D(0) <= back_p <= left_p and D(0) <= back_b <= left_b
        left_p, left_b, refundable = left_p - back_p, left_b - back_b, refundable - amount
    assert (left_p, left_b) == (D(0), D(0))


# --- top-ups ---------------------------------------------------------------------


def top_up(pos, member, ref, amount, **fields):
    body = {"member_no": member.member_no, "amount": amount, "external_ref": ref, **fields}
    return pos.post("/stored-value/top-ups", body)


@pytest.fixture
def offer(db):
    return TopUpOffer.objects.create(code="c500", name="充500送50", pay_amount=500, bonus=50)


def test_a_top_up_with_an_offer_and_its_replay(pos, shopper, offer):
    first = top_up(pos, shopper, "PAY-1", "500.00", offer="c500", tender="wechat_pay")
    assert first.status_code == 201, first.content
    assert first.json() == {
        "external_ref": "PAY-1",
        "member_no": shopper.member_no,
        "amount": "500.00",
        "bonus": "50.00",
        "stored_value": {"balance": "550.00", "principal": "500.00", "bonus": "50.00"},
    }
    again = top_up(pos, shopper, "PAY-1", "500.00", offer="c500", tender="wechat_pay")
    assert again.status_code == 200 and again.json() == first.json()
    card = card_of(shopper)
    assert (card.stored_principal, card.stored_bonus) == (D("500.00"), D("50.00"))
    entry = StoredValueEntry.objects.get()
    assert (entry.tender, entry.offer, entry.store.code) == ("wechat_pay", offer, "SH01")
    assert not ledger_problems()


def test_the_same_reference_for_another_amount_is_a_conflict(pos, shopper):
    assert top_up(pos, shopper, "PAY-2", "100.00").status_code == 201
    answer = top_up(pos, shopper, "PAY-2", "200.00")
    assert answer.status_code == 409 and answer.json()["code"] == "reference_conflict"


def test_a_top_up_over_the_cap_is_refused_and_changes_nothing(pos, shopper):
    assert top_up(pos, shopper, "PAY-3", "4900.00").status_code == 201
    answer = top_up(pos, shopper, "PAY-4", "200.00")
    assert answer.status_code == 422 and answer.json()["code"] == "stored_value_cap"
    assert "5000" in answer.json()["message"]
    assert card_of(shopper).stored_value == D("4900.00")
    assert StoredValueEntry.objects.count() == 1


@pytest.mark.parametrize(
    "fields, code",
    [
        ({"amount": "300.00", "offer": "c500"}, "offer_not_applicable"),
        ({"amount": "500.00", "offer": "nope"}, "offer_not_applicable"),
    ],
)
def test_an_offer_that_does_not_apply_is_refused(pos, shopper, offer, fields, code):
    answer = top_up(pos, shopper, "PAY-5", **fields)
    assert answer.status_code == 422 and answer.json()["code"] == code
    assert not StoredValueEntry.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"amount": 500.0},  # a float
        {"amount": "-5"},
        {"amount": "1.234"},
        {"amount": "100", "tender": "bitcoin"},
    ],
)
def test_bad_top_ups_are_a_400(pos, shopper, body):
    answer = top_up(pos, shopper, "PAY-6", **body)
    assert answer.status_code == 400, answer.content
    assert not StoredValueEntry.objects.exists()


def test_an_offers_points_and_coupon_come_once(pos, shopper, offer):
    template = CouponTemplate.objects.create(name="咖啡券", kind="cash", value=10, valid_days=30)
    offer.points, offer.coupon = 200, template
    offer.save()
    for _ in range(2):
        assert top_up(pos, shopper, "PAY-7", "600.00", offer="c500").status_code in (200, 201)
    assert card_of(shopper).points_balance == 200
    coupon = Coupon.objects.get(member=shopper)
    assert (coupon.template, coupon.source) == (template, Coupon.Source.TOP_UP)
    assert not ledger_problems()


def test_the_member_shows_stored_value(pos, shopper):
    top_up(pos, shopper, "PAY-8", "350.50")
    member = pos.get("/members", {"member_no": shopper.member_no}).json()
    assert member["stored_value"] == {"balance": "350.50", "principal": "350.50", "bonus": "0.00"}
    assert member["count_cards"] == []


# --- spending ----------------------------------------------------------------------


@pytest.fixture
def funded(pos, shopper, offer):
    assert top_up(pos, shopper, "FUND", "500.00", offer="c500").status_code == 201
    return shopper  # 500 principal + 50 bonus


def test_a_purchase_paid_partly_with_stored_value(pos, funded):
    answer = pos.buy(funded, "ORD-1", "120.00", stored_value_to_use="110.00")
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["cash_paid"] == "120.00" and body["stored_value_used"] == "110.00"
    # In proportion: 110 x 500/550 = 100 principal, 10 bonus.
    assert body["stored_value"] == {"balance": "440.00", "principal": "400.00", "bonus": "40.00"}
    assert body["points_earned"] == 120  # stored value earns like cash (the default)
    replay = pos.buy(funded, "ORD-1", "120.00", stored_value_to_use="110.00")
    assert replay.status_code == 200 and replay.json() == body
    assert not ledger_problems()


def test_bonus_first_and_no_points_on_stored_value_when_set(pos, funded):
    LoyaltySettings.objects.filter(pk=1).update(
        stored_value_order="bonus_first", stored_value_earns=False
    )
    body = pos.buy(funded, "ORD-2", "100.00", stored_value_to_use="60.00").json()
    assert body["stored_value"] == {"balance": "490.00", "principal": "490.00", "bonus": "0.00"}
    assert body["points_earned"] == 40  # the cash part only


def test_more_than_the_balance_is_refused(pos, funded):
    answer = pos.buy(funded, "ORD-3", "600.00", stored_value_to_use="550.01")
    assert answer.status_code == 422 and answer.json()["code"] == "confirmation_required"
    LoyaltySettings.objects.filter(pk=1).update(stored_value_confirm_limit=10_000)
    answer = pos.buy(funded, "ORD-3", "600.00", stored_value_to_use="550.01")
    assert answer.status_code == 422 and answer.json()["code"] == "not_enough_stored_value"
    assert card_of(funded).stored_value == D("550.00")


def test_stored_value_cannot_pay_more_than_the_bill(pos, funded):
    answer = pos.buy(funded, "ORD-4", "30.00", stored_value_to_use="40.00")
    assert answer.status_code == 400, answer.content
    assert not StoredValueEntry.objects.filter(kind="spend").exists()


def test_a_large_spend_needs_the_members_code(pos, funded, settings):
    settings.SMS_BACKEND = "members.sms.ConsoleBackend"
    answer = pos.buy(funded, "ORD-5", "520.00", stored_value_to_use="520.00")
    assert answer.status_code == 422 and answer.json()["code"] == "confirmation_required"
    wrong = pos.buy(funded, "ORD-5", "520.00", stored_value_to_use="520.00",
                    confirmation_code="000000")  # fmt: skip
    assert wrong.status_code == 422 and wrong.json()["code"] == "confirmation_invalid"
    code = otp_send(phone=funded.phone, purpose=PAY)["code"]
    ok = pos.buy(funded, "ORD-5", "520.00", stored_value_to_use="520.00", confirmation_code=code)
    assert ok.status_code == 201, ok.content
    assert card_of(funded).stored_value == D("30.00")


# --- refunds and cash-out ---------------------------------------------------------


def test_refunds_return_stored_value_in_the_same_split(pos, funded):
    pos.buy(funded, "ORD-6", "220.00", stored_value_to_use="110.00")  # 100 principal + 10 bonus
    half = pos.refund("ORD-6", {"amount": "110.00", "refund_ref": "R1"}).json()
    assert half["stored_value_returned"] == "55.00"
    assert half["stored_value"] == {"balance": "495.00", "principal": "450.00", "bonus": "45.00"}
    rest = pos.refund("ORD-6", {"refund_ref": "R2"}).json()
    assert rest["stored_value_returned"] == "55.00"
    assert rest["stored_value"] == {"balance": "550.00", "principal": "500.00", "bonus": "50.00"}
    assert not ledger_problems()


def test_cash_out_pays_back_the_principal_and_forfeits_the_bonus(funded, owner):
    entry = stored_value_cash_out(member=funded, actor=owner, reason="顾客退卡")
    assert (entry.principal_delta, entry.bonus_delta) == (D("-500.00"), D("-50.00"))
    assert card_of(funded).stored_value == 0
    audit = AuditEntry.objects.get(action="stored_value.cash_out")
    assert audit.changes["paid_back"] == [None, "500.00"]
    with pytest.raises(NothingToCashOut):
        stored_value_cash_out(member=funded, actor=owner, reason="again")
    assert not ledger_problems()


def test_check_ledger_finds_a_drifted_stored_value(funded, capsys):
    Card.objects.filter(pk=funded.pk).update(stored_bonus=D("49.99"))
    assert [mid for mid, _ in ledger_problems()] == [funded.pk]
    with pytest.raises(SystemExit) as exit_:
        call_command("check_ledger")
    assert exit_.value.code == 1
    assert funded.member_no in capsys.readouterr().err


def test_a_spend_never_touches_the_points_ledger(pos, funded):
    pos.buy(funded, "ORD-7", "50.00", stored_value_to_use="50.00")
    assert not PointsEntry.objects.filter(kind=PointsEntry.Kind.REDEEM).exists()


# --- the member centre --------------------------------------------------------------


def test_the_member_centre_shows_balance_offers_and_history(client, pos, funded, offer, store):
    from django.test import Client

    from tests.centre import sign_in, text_of

    pos.buy(funded, "ORD-8", "100.00", stored_value_to_use="55.00")
    web = sign_in(Client(headers={"Accept-Language": "zh-hans"}), funded)
    assert 'id="stored-value" href="/me/stored-value/">¥495<' in text_of(web.get("/me/"))
    page = web.get("/me/stored-value/")
    assert page.status_code == 200
    body = text_of(page)
    assert 'id="stored-balance">¥495.00<' in body
    assert "本金 ¥450.00" in body and "赠送金 ¥45.00" in body
    assert "充 ¥500 送 ¥50" in body and "消费扣款" in body and "-55.00" in body
    # Another member sees their own (none), and a stranger is asked to log in.
    other = sign_in(Client(), MemberFactory(store=store))
    assert "¥0.00" in other.get("/me/stored-value/").content.decode()
    assert Client().get("/me/stored-value/").status_code == 302


def test_download_my_data_includes_stored_value(funded):
    from loyalty.centre.views import loyalty_export

    _name, data = loyalty_export(Member.objects.get(pk=funded.pk))
    assert data["card"]["stored_value_principal"] == "500.00"
    assert [e["kind"] for e in data["stored_value"]] == ["top_up"]


def test_the_admin_shows_offers_and_the_ledger_in_chinese(owner_client, funded):
    from django.urls import reverse

    offers = owner_client.get(reverse("admin:loyalty_topupoffer_changelist"))
    assert offers.status_code == 200 and "充500送50" in offers.content.decode()
    assert "充值优惠" in offers.content.decode()
    ledger = owner_client.get(reverse("admin:loyalty_storedvalueentry_changelist"))
    body = ledger.content.decode()
    assert ledger.status_code == 200 and "储值流水" in body and "充值" in body
    assert owner_client.get(reverse("admin:loyalty_storedvalueentry_add")).status_code == 403
    settings_page = owner_client.get(reverse("admin:loyalty_loyaltysettings_change", args=[1]))
    assert "每位会员储值余额上限" in settings_page.content.decode()
