"""Issue 24's last items: pay codes counted per store or POS key (not per address, which a
whole shop shares), and the counter offering only the coupons usable at its store."""

import re

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from loyalty.benefits.issuing import coupon_issue
from loyalty.models import CouponTemplate
from members import otp, sms
from tests.factories import MemberFactory
from tests.loyalty.staff_screens.helpers import english

pytest_plugins = ["tests.loyalty.api_fixtures"]
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def local_sms(settings):
    settings.SMS_BACKEND = "members.sms.LocmemBackend"
    sms.outbox.clear()


def test_a_pos_key_asks_pay_codes_for_more_members_than_one_address_may(pos, store):
    members = [MemberFactory(phone=f"1370000{n:04d}", store=store) for n in range(25)]
    answers = [pos.post("/confirmation-codes", {"member_no": m.member_no}) for m in members]
    assert [a.status_code for a in answers] == [202] * 25  # above PER_IP_PER_HOUR (20)
    assert len(sms.outbox) == 25


def test_a_counter_asks_pay_codes_for_more_members_than_one_address_may(clerk, store):
    client = english(clerk)
    for n in range(otp.PER_IP_PER_HOUR + 3):
        member = MemberFactory(phone=f"1360000{n:04d}", store=store)
        sent = client.post(reverse("staff:stored_value_code", args=[member.member_no]))
        assert sent.status_code == 302
    assert len(sms.outbox) == otp.PER_IP_PER_HOUR + 3


def test_a_store_has_a_limit_of_its_own(monkeypatch, clerk, store):
    translation.activate("en")
    monkeypatch.setattr(otp, "PER_SOURCE_PER_HOUR", 2)
    client = english(clerk)
    for n in range(3):
        member = MemberFactory(phone=f"1350000{n:04d}", store=store)
        client.post(reverse("staff:stored_value_code", args=[member.member_no]))
    assert len(sms.outbox) == 2
    with pytest.raises(otp.OtpError) as refused:
        otp.otp_send(phone="13500008888", source=f"store:{store.pk}")
    assert refused.value.code == "source_hourly" and "this store" in refused.value.message
    # The address's own limit is not used up by the store: a member signs in from it.
    otp.otp_send(phone="13500009999", ip="127.0.0.1")
    assert len(sms.outbox) == 3


def test_members_signing_in_are_still_counted_by_address():
    for n in range(otp.PER_IP_PER_HOUR):
        otp.otp_send(phone=f"1340000{n:04d}", ip="10.0.0.9")
    with pytest.raises(otp.OtpError) as refused:
        otp.otp_send(phone="13400009999", ip="10.0.0.9")
    assert refused.value.code == "ip_hourly"


def test_the_counter_offers_only_coupons_usable_at_its_store(clerk, store, other_store):
    member = MemberFactory(store=store)
    here = CouponTemplate.objects.create(
        code="here", name="本店券", kind="cash", value=5, valid_days=30
    )
    there = CouponTemplate.objects.create(
        code="there", name="徐汇专享券", kind="cash", value=9, valid_days=30
    )
    there.stores.set([other_store])
    now = timezone.now()
    for template in (here, there):
        coupon_issue(member=member, template=template, key=f"t:{template.code}", now=now)
    client = english(clerk)
    form = client.get(reverse("staff:purchase", args=[member.member_no]) + "?amount=100")
    page = form.content.decode()
    offered = re.search(r'<option value="([^"]+)"[^>]*>徐汇专享券[^<]*</option>', page)
    assert "本店券" in page and offered and "disabled" in offered.group(0)
    assert "Only at: 徐汇店" in offered.group(0)
    extras = client.get(reverse("staff:card_extras", args=[member.member_no])).content.decode()
    assert "本店券" in extras and "徐汇专享券" in extras
    assert "Only at: 徐汇店" in extras
