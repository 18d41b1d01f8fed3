"""/me/privacy/: the consent given, download my data, delete my account (PIPL)."""

import json

import pytest
from django.utils import timezone

from loyalty.benefits.issuing import coupon_issue
from loyalty.ledger import ledger_problems, points_award
from loyalty.models import Card, Coupon, CouponTemplate, PointsEntry, Purchase
from loyalty.purchases import purchase_record
from members.member_auth import MEMBER_SESSION_KEY
from members.models import AuditEntry, Member, PrivacyNotice, Tag
from members.services import member_erase, member_referral_code, member_update
from members.signals import member_erased
from tests.centre import join, messages_of, sign_in, text_of
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shopper(store):
    member = MemberFactory(phone="13800138000", name="李雷", store=store)
    member_update(
        member=member, actor=None, email="lilei@example.com", addresses="上海市静安区 1 号"
    )
    purchase_record(member=member, amount="88.00", external_ref="POS-1", store=store)
    points_award(member=member, points=100, key="gift-1", reason="gift")
    template = CouponTemplate.objects.create(name="10 元券", kind="cash", value=10, valid_days=30)
    coupon_issue(template=template, member=member, source=Coupon.Source.STAFF)
    member.refresh_from_db()
    return member


def test_it_shows_the_consent_and_the_notice_agreed_to(web):
    PrivacyNotice.objects.create(
        version="2026-11",
        title="隐私政策",
        body="我们只用你的手机号。",
        published_at=timezone.now(),
    )
    join(web, "13912345678")

    page = text_of(web.get("/me/privacy/"))

    assert "version 2026-11" in page and "我们只用你的手机号。" in page


def test_the_privacy_pages_need_a_signed_in_member(web):
    for url in ("/me/privacy/", "/me/privacy/my-data.json", "/me/privacy/delete/"):
        assert web.get(url).status_code == 302
    assert web.post("/me/privacy/delete/", {"confirm": "on"}).status_code == 302


def test_my_data_is_one_json_file_of_profile_purchases_points_and_coupons(web, shopper):
    sign_in(web, shopper)

    response = web.get("/me/privacy/my-data.json")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert "attachment" in response["Content-Disposition"]
    data = json.loads(response.content)
    profile = data["profile"]
    assert (profile["member_no"], profile["mobile_number"]) == (shopper.member_no, "+8613800138000")
    assert (profile["name"], profile["email"]) == ("李雷", "lilei@example.com")
    assert profile["addresses"] == ["上海市静安区 1 号"]
    loyalty = data["loyalty"]
    assert [p["reference"] for p in loyalty["purchases"]] == ["POS-1"]
    assert loyalty["card"]["points_balance"] == sum(e["points"] for e in loyalty["points"])
    assert [c["name"] for c in loyalty["coupons"]] == ["10 元券"]


def test_my_data_is_only_my_data(web, shopper, store):
    other = MemberFactory(phone="13900000001", name="韩梅梅", store=store)
    sign_in(web, other)

    body = web.get("/me/privacy/my-data.json").content.decode()

    assert "李雷" not in body and "POS-1" not in body and "13800138000" not in body


def test_deleting_the_account_needs_the_confirmation(web, shopper):
    sign_in(web, shopper)

    response = web.post("/me/privacy/delete/", {})

    assert response.status_code == 200 and "tick the box" in text_of(response)
    shopper.refresh_from_db()
    assert shopper.status == Member.Status.ACTIVE


def test_deleting_the_account_erases_the_profile_keeps_the_ledger_and_signs_out(web, shopper):
    sign_in(web, shopper)
    balance = Card.objects.get(pk=shopper.pk).points_balance
    assert balance > 0

    response = web.post("/me/privacy/delete/", {"confirm": "on"})

    assert response.status_code == 302 and response["Location"] == "/join/"
    assert MEMBER_SESSION_KEY not in web.session
    assert "deleted" in " ".join(messages_of(web.get("/join/")))
    erased = Member.objects.get(pk=shopper.pk)
    assert erased.status == Member.Status.ERASED and erased.erased_at is not None
    assert (erased.phone, erased.phone_hash, erased.email, erased.addresses) == ("", None, "", "")
    assert erased.name != "李雷" and erased.member_no == shopper.member_no
    # The books still balance: ledger rows and purchases stay; the points and coupons the
    # page said are lost are forfeited through the ledger (tests/loyalty/test_erasure.py).
    assert Purchase.objects.filter(member=erased).count() == 1
    forfeit = PointsEntry.objects.get(member=erased, idempotency_key=f"erase:{erased.pk}")
    assert forfeit.delta == -balance
    assert Card.objects.get(pk=shopper.pk).points_balance == 0
    assert Coupon.objects.get(member=erased).status == Coupon.Status.VOID
    assert not ledger_problems()


def test_delete_is_get_to_confirm_and_post_to_do(web, shopper):
    sign_in(web, shopper)

    assert web.get("/me/privacy/delete/").status_code == 200
    assert web.put("/me/privacy/delete/").status_code == 405
    shopper.refresh_from_db()
    assert shopper.status == Member.Status.ACTIVE


# --- the member_erase service ---------------------------------------------------------


def test_member_erase_blanks_every_personal_field_and_frees_the_phone(shopper, clerk):
    Member.objects.filter(pk=shopper.pk).update(wechat_openid="o-1", wechat_unionid="u-1")
    shopper.refresh_from_db()
    member_referral_code(shopper)
    shopper.tags.add(Tag.objects.create(name="常客"))

    erased = member_erase(member=shopper, actor=clerk)

    erased.refresh_from_db()
    for field in ("phone", "phone_last4", "email", "addresses", "wechat_unionid", "gender"):
        assert getattr(erased, field) == "", field
    for field in ("phone_hash", "birthday", "wechat_openid", "referral_code"):
        assert getattr(erased, field) is None, field
    assert erased.status == Member.Status.ERASED and not erased.tags.exists()
    MemberFactory(phone="13800138000")  # the number is free again


def test_member_erase_is_audited_and_scrubs_earlier_entries(shopper, clerk):
    member_erase(member=shopper, actor=clerk)

    entries = AuditEntry.objects.filter(object_type="members.member", object_id=str(shopper.pk))
    erase = entries.get(action="member.erase")
    assert erase.actor == clerk and erase.changes == {"status": ["active", "erased"]}
    assert "李雷" not in str(list(entries.values_list("object_repr", "changes")))
    assert "lilei" not in str(list(entries.values_list("changes", flat=True)))


def test_member_erase_sends_member_erased_once(shopper):
    seen = []

    def receiver(sender, member, actor, **kwargs):
        seen.append(member.pk)

    member_erased.connect(receiver)
    try:
        member_erase(member=shopper)
        member_erase(member=shopper)  # twice: the second changes nothing
    finally:
        member_erased.disconnect(receiver)

    assert seen == [shopper.pk]
