"""At the counter without a purchase: verify a coupon or a pickup code (核销), refund a
purchase, register a customer who has no WeChat at hand. Each is audited."""

from decimal import Decimal

import pytest
from django.urls import reverse

from loyalty.benefits.issuing import coupon_issue
from loyalty.benefits.rewards import reward_redeem
from loyalty.models import Card, Coupon, Purchase, Redemption
from loyalty.purchases import purchase_record
from members.models import AuditEntry, Member
from tests.factories import MemberFactory
from tests.loyalty.staff_screens.helpers import english, fund, reward, template

pytestmark = pytest.mark.django_db
VERIFY = reverse("staff:verify")


@pytest.mark.parametrize("role", ["owner", "manager", "clerk"])
def test_every_role_verifies_a_coupon_once(role, member, store, request):
    user = request.getfixturevalue(role)
    coupon, _ = coupon_issue(
        template=template(kind="gift", gift_name="拿铁", value=0), member=member
    )
    client = english(user)
    asked = client.post(VERIFY, {"code": coupon.display_code.lower()})  # a confirmation first
    assert asked.status_code == 200 and Coupon.objects.get(pk=coupon.pk).status == "issued"
    response = client.post(VERIFY, {"code": coupon.display_code.lower(), "confirm": "1"})
    assert response["Location"] == reverse("staff:card", args=[member.member_no])
    coupon.refresh_from_db()
    assert coupon.status == Coupon.Status.REDEEMED and coupon.redeemed_by == user
    assert coupon.redeemed_store == store  # owners act for the member's store
    again = client.post(VERIFY, {"code": coupon.code}, follow=True)
    assert "already used" in again.content.decode()
    assert AuditEntry.objects.filter(action="coupon.redeem", actor=user).count() == 1


def test_a_clerk_cannot_verify_a_franchise_stores_coupon(clerk, theirs, other_store):
    other_store.serves_own_members_only = True  # else the chain serves them (chain tests)
    other_store.save()
    coupon, _ = coupon_issue(template=template(), member=theirs)
    response = english(clerk).post(VERIFY, {"code": coupon.code, "confirm": "1"}, follow=True)
    assert "No coupon or pickup code" in response.content.decode()
    assert Coupon.objects.get(pk=coupon.pk).status == Coupon.Status.ISSUED


def test_a_pickup_code_hands_the_reward_over_once(clerk, member):
    fund(member, 1000)
    redemption, _ = reward_redeem(member=member, reward=reward(), key="k")
    client = english(clerk)
    client.post(VERIFY, {"code": redemption.pickup_code})
    redemption.refresh_from_db()
    assert redemption.status == Redemption.Status.FULFILLED and redemption.handled_by == clerk
    again = client.post(VERIFY, {"code": redemption.pickup_code}, follow=True)
    assert "not awaiting pickup" in again.content.decode()
    assert AuditEntry.objects.filter(action="redemption.fulfil").count() == 1


def test_an_empty_code_is_refused(clerk):
    response = english(clerk).post(VERIFY, {"code": ""}, follow=True)
    assert "Enter a coupon or pickup code" in response.content.decode()


def test_a_refund_takes_back_points_once_per_form(clerk, member):
    bought, _ = purchase_record(member=member, amount=Decimal("100"), external_ref="r1")
    client = english(clerk)
    url = reverse("staff:refund", args=[bought.pk])
    form = client.get(url).context["form"]
    data = {"amount": "40", "reason": "退一杯", "token": form.initial["token"]}
    client.post(url, data)
    client.post(url, data)  # the double click
    bought.refresh_from_db()
    assert bought.refunded_amount == Decimal("40.00")
    assert bought.status == Purchase.Status.PARTIALLY_REFUNDED
    assert Card.objects.get(pk=member.pk).points_balance == 60
    assert AuditEntry.objects.filter(action="purchase.refund", actor=clerk).count() == 1


def test_a_refund_above_what_is_left_is_refused(clerk, member):
    bought, _ = purchase_record(member=member, amount=Decimal("100"), external_ref="r1")
    url = reverse("staff:refund", args=[bought.pk])
    response = english(clerk).post(
        url, {"amount": "200", "reason": "x", "token": "tok-0123456789abcdef"}
    )
    assert "At most 100.00 yuan can still be refunded" in response.content.decode()


REGISTER = reverse("staff:register")


def test_a_clerk_registers_a_customer_at_their_counter(clerk, store):
    response = english(clerk).post(
        REGISTER, {"phone": "137 0013 7000", "name": "王芳", "consent": "on"}
    )
    member = Member.objects.get(name="王芳")
    assert response["Location"] == reverse("staff:card", args=[member.member_no])
    assert (member.source, member.store, member.guide) == (Member.Source.COUNTER, store, clerk)
    assert member.phone == "+8613700137000" and member.consent_at is not None
    assert Card.objects.filter(pk=member.pk).exists()
    assert AuditEntry.objects.filter(action="member.create", actor=clerk).exists()


def test_registration_needs_the_customers_consent(clerk):
    response = english(clerk).post(REGISTER, {"phone": "13700137000", "name": "王芳"})
    assert response.status_code == 200 and not Member.objects.exists()


def test_a_phone_already_registered_is_refused_with_its_member_number(clerk, member):
    response = english(clerk).post(REGISTER, {"phone": "13800138000", "consent": "on"})
    assert member.member_no in response.content.decode()
    assert Member.objects.count() == 1


def test_the_owner_chooses_the_store(owner, other_store):
    client = english(owner)
    assert "store" in client.get(REGISTER).context["form"].fields
    client.post(REGISTER, {"phone": "13700137000", "store": other_store.pk, "consent": "on"})
    assert Member.objects.get().store == other_store


def test_the_phone_from_the_search_is_filled_in(clerk):
    form = english(clerk).get(REGISTER, {"phone": "13700137000"}).context["form"]
    assert form.initial["phone"] == "13700137000"


def test_register_per_role(owner, manager, clerk):
    for user in (owner, manager, clerk):
        assert english(user).get(REGISTER).status_code == 200
    assert MemberFactory  # the factory module is imported for the other tests
