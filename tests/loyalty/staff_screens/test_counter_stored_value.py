"""Stored value (储值) at the counter: the balance on the card, a top-up with an offer
(once per form token) and its slip, paying part of a purchase from it (with the SMS
code above the limit), the receipt, a refund, and a cash-out by a manager only."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from loyalty.ledger import ledger_problems
from loyalty.models import Card, LoyaltySettings, Purchase, StoredValueEntry, TopUpOffer
from loyalty.stored_value import stored_value_top_up
from members import sms
from members.models import AuditEntry
from tests.loyalty.staff_screens.helpers import english

pytestmark = pytest.mark.django_db
D = Decimal


def token_of(page: str) -> str:
    return re.search(r'name="token" value="([^"]+)"', page).group(1)


def sv_url(member):
    return reverse("staff:stored_value", args=[member.member_no])


def balance(member) -> Decimal:
    return Card.objects.get(pk=member.pk).stored_value


@pytest.fixture
def offer(db):
    return TopUpOffer.objects.create(
        code="500-50", name="充500送50", pay_amount=D("500"), bonus=D("50"), points=100
    )


def top_up(member, amount, ref="seed"):
    stored_value_top_up(member=member, amount=amount, external_ref=ref)


def test_the_card_shows_the_balance_and_a_link_to_top_up(member, clerk):
    top_up(member, D("120.50"))
    page = english(clerk).get(reverse("staff:card", args=[member.member_no])).content.decode()
    assert 'id="stored-value-balance">¥120.50' in page
    assert sv_url(member) in page


def test_a_top_up_with_an_offer_is_recorded_once_with_its_slip_and_audit(
    member, clerk, store, offer
):
    client = english(clerk)
    page = client.get(sv_url(member), {"amount": "500", "offer": offer.code}).content.decode()
    assert "充500送50" in page and 'value="500"' in page
    data = {"amount": "500", "offer": offer.code, "tender": "wechat_pay", "token": token_of(page)}
    first = client.post(sv_url(member), data)
    twice = client.post(sv_url(member), data)  # the double click
    entry = StoredValueEntry.objects.get()
    slip = reverse("staff:stored_value_slip", args=[entry.pk])
    assert first["Location"] == twice["Location"] == slip
    assert (entry.principal_delta, entry.bonus_delta) == (D("500"), D("50"))
    assert entry.tender == "wechat_pay"
    assert entry.store == store and entry.actor == clerk
    assert balance(member) == D("550.00")
    assert Card.objects.get(pk=member.pk).points_balance == 100  # the offer's points
    printed = client.get(slip).content.decode()
    assert 'id="slip-paid">¥500.00' in printed and 'id="slip-balance">¥550.00' in printed
    assert "WeChat Pay" in printed
    audit = AuditEntry.objects.get(action="stored_value.top_up")
    assert audit.changes["top_up"] == [None, "500.00"] and audit.actor == clerk
    assert ledger_problems() == []


def test_a_top_up_over_the_cap_or_below_the_offer_is_refused_on_the_form(member, clerk, offer):
    LoyaltySettings.objects.filter(pk=1).update(stored_value_cap=D("300"))
    client = english(clerk)
    token = token_of(client.get(sv_url(member)).content.decode())
    over = client.post(sv_url(member), {"amount": "400", "tender": "cash", "token": token})
    assert over.status_code == 200 and "at most 300" in over.content.decode()
    short = client.post(
        sv_url(member), {"amount": "100", "offer": offer.code, "tender": "cash", "token": token}
    )
    assert "needs a top-up of at least 500" in short.content.decode()
    bad = client.post(sv_url(member), {"amount": "-5", "tender": "cash", "token": token})
    assert bad.status_code == 200 and not StoredValueEntry.objects.exists()


def test_paying_part_of_a_purchase_from_stored_value(member, clerk):
    top_up(member, D("200"))
    # Found by number, spending without a confirmation (the rule: test_chain_counter).
    LoyaltySettings.objects.filter(pk=1).update(spend_needs_dynamic_code=False)
    client = english(clerk)
    url = reverse("staff:purchase", args=[member.member_no])
    preview = client.get(url, {"amount": "80", "stored_value": "50"})
    quote = preview.context["quote"]
    assert quote.stored_value_used == D("50.00") and quote.cash_due == D("30.00")
    page = preview.content.decode()
    assert 'id="stored-value-used">−¥50.00' in page and 'id="cash-to-pay">¥30.00' in page
    assert 'id="confirmation_code"' not in page  # below the limit: no code
    data = {"amount": "80.00", "stored_value": "50.00", "points": "0", "token": token_of(page)}
    done = client.post(url, data)
    bought = Purchase.objects.get()
    assert done["Location"] == reverse("staff:receipt", args=[bought.pk])
    assert bought.stored_value_used == D("50.00") and balance(member) == D("150.00")
    receipt = client.get(done["Location"]).content.decode()
    assert 'id="receipt-stored-value">¥50.00' in receipt
    assert 'id="receipt-stored-balance">¥150.00' in receipt
    audit = AuditEntry.objects.get(action="purchase.record")
    assert audit.changes["stored_value_used"] == [None, "50.00"]
    # A full refund gives the stored value back, shown on the receipt.
    refund_page = client.get(reverse("staff:refund", args=[bought.pk])).content.decode()
    client.post(
        reverse("staff:refund", args=[bought.pk]),
        {"amount": "80.00", "reason": "退货", "token": token_of(refund_page)},
    )
    assert balance(member) == D("200.00")
    assert "stored value returned" in client.get(done["Location"]).content.decode()
    assert ledger_problems() == []


def test_more_than_the_balance_is_refused_in_the_preview(member, clerk):
    top_up(member, D("20"))
    response = english(clerk).get(
        reverse("staff:purchase", args=[member.member_no]), {"amount": "80", "stored_value": "30"}
    )
    assert response.context["quote"] is None
    assert "Not enough stored value: 20.00 yuan available" in response.content.decode()


def test_a_large_spend_needs_the_members_sms_code(member, clerk, settings):
    settings.SMS_BACKEND = "members.sms.LocmemBackend"
    sms.outbox.clear()
    top_up(member, D("800"))
    client = english(clerk)
    url = reverse("staff:purchase", args=[member.member_no])
    preview = client.get(url, {"amount": "600", "stored_value": "600"})
    page = preview.content.decode()
    assert 'id="id_confirmation_code"' in page and 'id="send-code"' in page
    data = {"amount": "600.00", "stored_value": "600.00", "points": "0", "token": token_of(page)}
    refused = client.post(url, data)
    assert refused.status_code == 200
    assert "needs the member&#x27;s confirmation" in refused.content.decode()
    back = url + "?amount=600&stored_value=600"
    sent = client.post(
        reverse("staff:stored_value_code", args=[member.member_no]), {**data, "next": back}
    )
    assert sent["Location"] == back and sms.outbox[-1].phone == member.phone
    wrong = client.post(url, {**data, "confirmation_code": "000000"})
    assert wrong.status_code == 200 and not Purchase.objects.exists()
    ok = client.post(url, {**data, "confirmation_code": sms.outbox[-1].code})
    assert ok.status_code == 302 and balance(member) == D("200.00")


def test_the_code_view_goes_nowhere_but_this_site(member, clerk, settings):
    settings.SMS_BACKEND = "members.sms.LocmemBackend"
    sent = english(clerk).post(
        reverse("staff:stored_value_code", args=[member.member_no]),
        {"next": "https://evil.example/"},
    )
    assert sent["Location"] == reverse("staff:purchase", args=[member.member_no])


def test_cash_out_is_for_managers_and_pays_back_the_principal(member, clerk, manager, offer):
    stored_value_top_up(member=member, amount=D("500"), external_ref="t1", offer_code=offer.code)
    url = reverse("staff:stored_value_cash_out", args=[member.member_no])
    assert 'id="cash-out-form"' not in english(clerk).get(sv_url(member)).content.decode()
    assert english(clerk).post(url, {"reason": "搬家", "paid_back": "on"}).status_code == 403
    client = english(manager)
    assert 'id="cash-out-form"' in client.get(sv_url(member)).content.decode()
    unchecked = client.post(url, {"reason": "搬家"})  # the money not handed over yet
    assert unchecked.status_code == 302 and balance(member) == D("550.00")
    done = client.post(url, {"reason": "搬家", "paid_back": "on"})
    entry = StoredValueEntry.objects.get(kind=StoredValueEntry.Kind.CASH_OUT)
    assert done["Location"] == reverse("staff:stored_value_slip", args=[entry.pk])
    assert balance(member) == D("0.00")
    slip = client.get(done["Location"]).content.decode()
    assert 'id="slip-paid">¥500.00' in slip and "¥50.00" in slip
    again = client.post(url, {"reason": "搬家", "paid_back": "on"}, follow=True)
    assert "no stored value to cash out" in again.content.decode()


def test_a_franchise_stores_member_and_their_slips_are_out_of_reach(theirs, franchise, clerk):
    top_up(theirs, D("50"), ref="theirs")
    client = english(clerk)
    assert client.get(sv_url(theirs)).status_code in (403, 404)
    entry = StoredValueEntry.objects.get()
    assert client.get(reverse("staff:stored_value_slip", args=[entry.pk])).status_code == 403


def test_the_360_timeline_lists_top_ups(member, clerk):
    top_up(member, D("66"))
    page = english(clerk).get(reverse("staff:member", args=[member.member_no])).content.decode()
    assert "Stored value: Top-up" in page and "+66.00" in page


def test_a_member_with_stored_value_cannot_delete_the_account_until_cashed_out(member, manager):
    from django.test import Client

    from members.models import Member
    from members.services import ErasureHeld, member_erase
    from tests.centre import sign_in

    top_up(member, D("30"))
    client = sign_in(Client(headers={"Accept-Language": "en"}), member)
    page = client.get("/me/privacy/delete/")
    assert 'id="erase-holds"' in page.content.decode() and "30.00 yuan of stored value" in (
        page.content.decode()
    )
    client.post("/me/privacy/delete/", {"confirm": "on"})
    assert Member.objects.get(pk=member.pk).status != Member.Status.ERASED
    with pytest.raises(ErasureHeld):
        member_erase(member=member)
    english(manager).post(
        reverse("staff:stored_value_cash_out", args=[member.member_no]),
        {"reason": "注销", "paid_back": "on"},
    )
    client.post("/me/privacy/delete/", {"confirm": "on"})
    assert Member.objects.get(pk=member.pk).status == Member.Status.ERASED


def test_the_member_centres_pay_code_confirms_a_large_spend(member, clerk):
    from django.test import Client

    from tests.centre import sign_in

    top_up(member, D("1500"))
    phone = sign_in(Client(headers={"Accept-Language": "en"}), member)
    assert 'id="get-pay-code"' in phone.get("/me/stored-value/").content.decode()
    shown = phone.post("/me/stored-value/").content.decode()
    found = re.search(r'id="pay-code">(\d{6})<', shown)
    assert found, shown[shown.find("pay-code") - 200 : shown.find("pay-code") + 600]
    code = found.group(1)
    client = english(clerk)
    url = reverse("staff:purchase", args=[member.member_no])

    def spend(stored_value):
        # A bill above the stored value: a tier discount won after the first one fits.
        query = {"amount": "900.00", "stored_value": stored_value}
        page = client.get(url, query).content.decode()
        data = {**query, "points": "0", "token": token_of(page)}
        return client.post(url, {**data, "confirmation_code": code})

    assert spend("600.00").status_code == 302 and balance(member) == D("900.00")
    reused = spend("600.00")  # a code confirms one spend only
    assert reused.status_code == 200 and balance(member) == D("900.00")


def test_no_pay_code_without_stored_value(member):
    from django.test import Client

    from tests.centre import sign_in

    phone = sign_in(Client(headers={"Accept-Language": "en"}), member)
    assert 'id="pay-code-section"' not in phone.get("/me/stored-value/").content.decode()
    assert 'id="pay-code"' not in phone.post("/me/stored-value/").content.decode()


def test_a_pay_code_cannot_sign_in_and_a_login_code_cannot_pay(member, clerk, settings):
    import datetime as dt

    from django.utils import timezone

    from members.otp import OtpError, otp_check, otp_issue, otp_send

    settings.SMS_BACKEND = "members.sms.LocmemBackend"
    pay = otp_issue(phone=member.phone)  # read out to a cashier
    with pytest.raises(OtpError):
        otp_check(phone=member.phone, code=pay)  # the member centre's sign-in: refused
    top_up(member, D("800"))
    sms.outbox.clear()
    # The member signs in a little later: that SMS code does not confirm a spend.
    otp_send(phone=member.phone, now=timezone.now() + dt.timedelta(minutes=2))
    client = english(clerk)
    url = reverse("staff:purchase", args=[member.member_no])
    page = client.get(url, {"amount": "900", "stored_value": "600"}).content.decode()
    data = {"amount": "900.00", "stored_value": "600.00", "points": "0", "token": token_of(page)}
    refused = client.post(url, {**data, "confirmation_code": sms.outbox[-1].code})
    assert refused.status_code == 200 and balance(member) == D("800.00")


def test_the_confirmed_form_sent_again_shows_the_receipt_not_a_used_code(member, clerk, settings):
    """A double click (or the browser's resend) of a spend confirmed with the member's SMS
    code: the purchase of that form is the answer, the used code is not asked again."""
    settings.SMS_BACKEND = "members.sms.LocmemBackend"
    sms.outbox.clear()
    top_up(member, D("800"))
    client = english(clerk)
    url = reverse("staff:purchase", args=[member.member_no])
    page = client.get(url, {"amount": "600", "stored_value": "600"}).content.decode()
    data = {"amount": "600.00", "stored_value": "600.00", "points": "0", "token": token_of(page)}
    client.post(reverse("staff:stored_value_code", args=[member.member_no]), data)
    data["confirmation_code"] = sms.outbox[-1].code
    first = client.post(url, data)
    again = client.post(url, data)
    assert first.status_code == again.status_code == 302
    assert again["Location"] == first["Location"]  # the same receipt
    assert Purchase.objects.count() == 1 and balance(member) == D("200.00")
