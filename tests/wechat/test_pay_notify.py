"""/wechat/pay/notify/: WeChat Pay (v2 XML) notices, recorded once through purchase_record."""

import logging
import threading
from decimal import Decimal

import pytest
import xmltodict
from django.db import connections
from django.test import Client

from loyalty.ledger import ledger_problems
from loyalty.models import Purchase
from tests.factories import MemberFactory

from .conftest import FIXTURES, OPENID

pytestmark = pytest.mark.django_db
URL = "/wechat/pay/notify/"
NOTICE = (FIXTURES / "pay_notify.xml").read_bytes()
TAMPERED = (FIXTURES / "pay_notify_tampered.xml").read_bytes()


def notify(client, body: bytes = NOTICE):
    response = client.post(URL, body, content_type="text/xml")
    return response.status_code, xmltodict.parse(response.content)["xml"]["return_code"]


@pytest.fixture
def payer(fake, store):
    member = MemberFactory(store=store)
    member.__class__.objects.filter(pk=member.pk).update(wechat_openid=OPENID)
    return member


def test_a_signed_notice_records_the_purchase_and_answers_success(client, payer, store):
    assert notify(client) == (200, "SUCCESS")

    purchase = Purchase.objects.get()
    assert purchase.member_id == payer.pk and purchase.store == store
    assert purchase.channel == Purchase.Channel.WECHAT_PAY
    assert purchase.external_ref == "4200001234202611271234567890"
    assert purchase.gross_amount == Decimal("88.00")  # 8800 fen
    assert purchase.occurred_at.isoformat() == "2026-11-27T02:30:05+00:00"  # 10:30:05 Beijing
    assert purchase.points_earned > 0


def test_a_member_with_a_tier_discount_is_recorded_as_paying_what_wechat_took(client, payer):
    from loyalty.models import Card, Tier

    tier = Tier.objects.create(level=9, name="黑金", discount_rate=Decimal("0.80"))
    Card.objects.filter(pk=payer.pk).update(tier=tier)

    assert notify(client) == (200, "SUCCESS")

    purchase = Purchase.objects.get()
    assert purchase.tier_discount == 0 and purchase.cash_paid == Decimal("88.00")


def test_replays_change_nothing(client, payer):
    notify(client)
    before = list(Purchase.objects.values_list("pk", "points_earned"))

    for _ in range(3):
        assert notify(client) == (200, "SUCCESS")

    assert list(Purchase.objects.values_list("pk", "points_earned")) == before
    assert not ledger_problems()


def test_a_tampered_amount_fails_the_signature_and_records_nothing(client, payer):
    assert notify(client, TAMPERED) == (200, "FAIL")
    assert not Purchase.objects.exists()


@pytest.mark.parametrize("body", [b"", b"not xml", b"<xml><sign>x</sign></xml>",
                                  b'<!DOCTYPE x [<!ENTITY a "b">]><xml>&a;</xml>'])  # fmt: skip
def test_garbage_is_fail_not_500(client, payer, body):
    assert notify(client, body) == (200, "FAIL")


def test_another_apps_notice_is_refused(client, payer, settings):
    settings.WECHAT_APP_ID = "wxsomeoneelse000"
    assert notify(client) == (200, "FAIL")
    assert not Purchase.objects.exists()


def test_a_payer_who_is_no_member_is_acknowledged_and_nothing_recorded(client, fake):
    assert notify(client) == (200, "SUCCESS")
    assert not Purchase.objects.exists()


def test_get_is_405(client, fake):
    assert client.get(URL).status_code == 405


@pytest.mark.django_db(transaction=True)
def test_concurrent_replays_record_one_purchase(payer):
    # WeChat sometimes sends two at once; on PostgreSQL this races on the unique reference.
    barrier, answers = threading.Barrier(6), []

    def replay():
        try:
            barrier.wait()
            answers.append(notify(Client()))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=replay) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert answers == [(200, "SUCCESS")] * 6
    assert Purchase.objects.count() == 1
    assert not ledger_problems()


# --- a top-up by WeChat Pay: attach "top_up[:store[:offer]]" --------------------------


def signed_notice(**changes) -> bytes:
    """The recorded notice with fields changed, signed again with the Pay key."""
    from wechatpy.pay.utils import calculate_signature, dict_to_xml

    from .conftest import PAY_KEY

    data = dict(xmltodict.parse(NOTICE)["xml"])
    data.pop("sign")
    data.update(changes)
    return dict_to_xml(data, calculate_signature(data, PAY_KEY)).encode()


def test_a_top_up_notice_credits_stored_value_once_with_its_offer(client, payer, store):
    from loyalty.models import Card, StoredValueEntry, TopUpOffer

    TopUpOffer.objects.create(code="50-5", name="充50送5", pay_amount=Decimal("50"),
                              bonus=Decimal("5"))  # fmt: skip
    body = signed_notice(attach=f"top_up:{store.code}:50-5")
    for _ in range(3):  # WeChat resends until it reads SUCCESS
        assert notify(client, body) == (200, "SUCCESS")
    entry = StoredValueEntry.objects.get()
    assert (entry.kind, entry.tender, entry.store) == ("top_up", "wechat_pay", store)
    assert (entry.principal_delta, entry.bonus_delta) == (Decimal("88.00"), Decimal("5.00"))
    assert entry.reference == "4200001234202611271234567890"
    assert Card.objects.get(pk=payer.pk).stored_value == Decimal("93.00")
    assert not Purchase.objects.exists()  # a top-up is no purchase: no points, no growth
    assert not ledger_problems()


def test_a_top_up_whose_offer_ended_is_credited_without_the_bonus(client, payer):
    from loyalty.models import Card

    assert notify(client, signed_notice(attach="top_up::gone")) == (200, "SUCCESS")
    assert Card.objects.get(pk=payer.pk).stored_value == Decimal("88.00")


def test_a_top_up_over_the_cap_is_acknowledged_and_logged_not_credited(client, payer, caplog):
    from loyalty.models import Card, LoyaltySettings

    LoyaltySettings.objects.filter(pk=1).update(stored_value_cap=Decimal("50"))
    assert notify(client, signed_notice(attach="top_up")) == (200, "SUCCESS")
    assert Card.objects.get(pk=payer.pk).stored_value == 0
    assert "not recorded" in caplog.text


def test_a_paid_top_up_with_no_member_is_an_error_in_the_log(client, fake, caplog):
    with caplog.at_level(logging.INFO):
        assert notify(client, signed_notice(attach="top_up")) == (200, "SUCCESS")
    assert any(r.levelno == logging.ERROR and "not credited" in r.getMessage()
               for r in caplog.records)  # fmt: skip
