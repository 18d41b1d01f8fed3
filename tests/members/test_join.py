"""/join/: the QR registration page (phone, SMS code, consent, optional name)."""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from loyalty.models import PointsEntry, Referral
from members.member_auth import MEMBER_SESSION_KEY
from members.models import Member, OneTimeCode, PrivacyNotice, Role
from members.privacy import BUILTIN_VERSION
from members.services import member_erase, member_referral_code, staff_create
from tests.centre import join, last_code, messages_of, send_code, sign_in, text_of
from tests.conftest import PASSWORD
from tests.factories import MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db
PHONE = "13912345678"


def test_it_shows_the_store_of_the_qr_code_and_the_phone_step(web, store):
    response = web.get("/join/?store=SH01")

    assert response.status_code == 200
    assert "静安店" in text_of(response)
    assert 'name="phone"' in text_of(response) and 'value="send"' in text_of(response)


def test_it_registers_with_the_store_guide_and_referrer_of_the_link(web, store, clerk):
    referrer = MemberFactory(store=store)
    code = member_referral_code(referrer)
    url = f"/join/?store=SH01&staff={clerk.pk}&ref={code}"

    response = join(web, PHONE, url=url, name=" 王小明 ")

    assert response.status_code == 302 and response["Location"] == "/me/"
    member = Member.objects.get(phone_last4="5678")
    assert (member.store, member.guide, member.referred_by) == (store, clerk, referrer)
    assert (member.name, member.source) == ("王小明", Member.Source.REFERRAL)
    assert member.consent_version == BUILTIN_VERSION and member.consent_at is not None
    assert web.session[MEMBER_SESSION_KEY] == member.pk
    # The referral reward fires through members' signal.
    assert Referral.objects.get(invitee=member).referrer == referrer
    assert PointsEntry.objects.filter(member=referrer, source__startswith="referral:").exists()


def test_a_plain_qr_sign_up_is_source_qr_and_records_the_published_notice(web, store):
    notice = PrivacyNotice.objects.create(
        version="2026-11", title="隐私政策", body="……", published_at=timezone.now()
    )

    join(web, PHONE, url="/join/?store=SH01")

    member = Member.objects.get()
    assert (member.source, member.store, member.guide) == (Member.Source.QR, store, None)
    assert member.consent_version == notice.version


def test_the_consent_is_to_the_version_the_page_showed(web, store):
    old = PrivacyNotice.objects.create(
        version="2026-10", title="隐私政策", body="旧", published_at=timezone.now()
    )
    page = send_code(web, "/join/", PHONE)
    assert f'name="notice_version" value="{old.version}"' in web.get("/join/").content.decode()
    # The owner publishes a new version while the customer reads the old one.
    PrivacyNotice.objects.create(
        version="2026-11", title="隐私政策", body="新", published_at=timezone.now()
    )
    data = {"action": "join", "code": last_code(PHONE[-4:]), "consent": "on"}
    response = web.post("/join/", {**data, "notice_version": old.version})
    assert response.status_code == 200 and "has just changed" in text_of(response)
    assert not Member.objects.exists()
    assert 'value="2026-11"' in response.content.decode()  # the new one is shown now
    web.post("/join/", {**data, "notice_version": "2026-11"})
    assert Member.objects.get().consent_version == "2026-11"
    assert page is not None


def test_it_refuses_to_register_without_consent(web):
    response = join(web, PHONE, consent=False)

    assert response.status_code == 200
    assert "agree to the privacy notice" in text_of(response)
    assert not Member.objects.exists()
    # The code was not used up: ticking the box and sending again works.
    web.post("/join/", {"action": "join", "code": last_code(), "consent": "on"})
    assert Member.objects.count() == 1


def test_an_existing_phone_logs_in_instead_of_registering_twice(web, store):
    existing = MemberFactory(phone=PHONE, store=store)

    response = join(web, "+86 139-1234-5678", url="/join/?store=SH02")

    assert response.status_code == 302
    assert Member.objects.count() == 1
    assert web.session[MEMBER_SESSION_KEY] == existing.pk
    assert "already a member" in " ".join(messages_of(web.get("/me/")))


def test_a_qr_sign_up_gets_the_welcome_offer_once(web):
    join(web, PHONE)
    member = Member.objects.get()

    assert PointsEntry.objects.filter(member=member, source="welcome").count() == 1


def test_the_welcome_gift_is_told_in_one_welcome_notice_not_three(web):
    from decimal import Decimal

    from campaigns.models import Message
    from loyalty.models import CouponTemplate, LoyaltySettings

    conf = LoyaltySettings.current()
    conf.welcome_points = 88
    conf.welcome_coupon = CouponTemplate.objects.create(
        name="新人券", kind="cash", value=Decimal("10"), valid_days=30
    )
    conf.save()
    join(web, PHONE, name="王小明")
    member = Member.objects.get()
    coupon = member.coupons.get(source="welcome")

    messages = Message.objects.filter(member=member)
    channels = set(messages.values_list("channel", flat=True))
    assert "inbox" in channels
    assert set(messages.values_list("event", flat=True)) == {"welcome"}  # no points/coupon ones
    assert messages.count() == len(channels)  # one per channel
    body = messages.get(channel="inbox").body
    assert member.member_no in body and "王小明" in body
    assert "88" in body and coupon.display_code in body and "新人券" in body
    assert "。新人礼" in body  # Chinese sentences without a space between them
    assert messages.get(channel="inbox").data == {
        "member_no": member.member_no, "points": 88, "code": coupon.code,
        "summary": "入会礼：88 积分 + 新人券",  # a WeChat template's 20 characters
    }  # fmt: skip
    # Points and coupons given later are still told in their own notices.
    from loyalty.benefits.issuing import coupon_issue
    from loyalty.ledger import points_award

    points_award(member=member, points=5, key="later", reason="活动")
    coupon_issue(template=conf.welcome_coupon, member=member, apply_limits=False)
    later = set(Message.objects.filter(member=member).values_list("event", flat=True))
    assert later == {"welcome", "points_earned", "coupon_received"}


def test_a_welcome_without_a_gift_is_still_one_welcome_notice(web):
    from campaigns.models import Message
    from loyalty.models import LoyaltySettings

    conf = LoyaltySettings.current()
    conf.welcome_points, conf.welcome_coupon = 0, None
    conf.save()
    join(web, PHONE)
    member = Member.objects.get()
    inbox = Message.objects.get(member=member, channel="inbox")
    assert inbox.event == "welcome" and member.member_no in inbox.body
    assert inbox.data == {
        "member_no": member.member_no, "points": 0, "code": "",
        "summary": f"会员号 {member.member_no}",
    }  # fmt: skip


def test_joining_again_after_deleting_the_account_brings_no_second_welcome(web):
    import datetime as dt

    import time_machine
    from django.utils import timezone

    from members.services import member_erase

    join(web, PHONE)
    member_erase(member=Member.objects.get(), actor=None)
    web.cookies.clear()
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=2)):  # past the code limit
        join(web, PHONE)
    again = Member.objects.get(status=Member.Status.ACTIVE)
    assert not PointsEntry.objects.filter(member=again, source="welcome").exists()


def test_a_wrong_code_is_refused_with_the_tries_left(web):
    send_code(web, "/join/", PHONE)
    wrong = "000000" if last_code() != "000000" else "111111"

    response = web.post("/join/", {"action": "join", "code": wrong, "consent": "on"})

    assert response.status_code == 200
    assert "4 tries left" in text_of(response)
    assert not Member.objects.exists()


def test_a_second_code_within_a_minute_is_refused_with_a_message(web):
    send_code(web, "/join/", PHONE)

    response = web.post("/join/", {"action": "send", "phone": PHONE})

    assert response.status_code == 200
    assert "You can ask for another in" in text_of(response)
    assert OneTimeCode.objects.count() == 1


def test_an_expired_code_is_refused_with_a_message(web):
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        send_code(web, "/join/", PHONE)
        traveller.shift(dt.timedelta(minutes=5, seconds=1))
        response = web.post("/join/", {"action": "join", "code": last_code(), "consent": "on"})

    assert response.status_code == 200
    assert "expired" in text_of(response)


def test_joining_without_asking_for_a_code_first_is_a_message(web):
    response = web.post("/join/", {"action": "join", "code": "123456", "consent": "on"})

    assert response.status_code == 302
    assert "ask for a code first" in " ".join(messages_of(web.get("/join/")))


def test_an_invalid_phone_is_a_form_error(web):
    response = web.post("/join/", {"action": "send", "phone": "12345"})

    assert response.status_code == 200
    assert "not a valid mobile number" in text_of(response) or "12345" in text_of(response)
    assert not OneTimeCode.objects.exists()


def test_use_another_number_goes_back_to_the_phone_step(web):
    send_code(web, "/join/", PHONE)

    web.post("/join/", {"action": "change"})

    assert 'value="send"' in text_of(web.get("/join/"))
    assert 'name="code"' not in text_of(web.get("/join/"))


def test_unknown_or_malformed_link_parameters_are_ignored(web):
    url = "/join/?store=NOPE&staff=abc&ref=%01"

    assert web.get(url).status_code == 200
    assert web.get("/join/?ref=%00%01").status_code == 400  # a NUL: config/middleware_nul.py
    join(web, PHONE, url=url)
    member = Member.objects.get()
    assert (member.store, member.guide, member.referred_by) == (None, None, None)


def test_a_guide_of_another_store_is_not_recorded(web, store, other_store):
    elsewhere = staff_create(username="c2", password=PASSWORD, role=Role.CLERK, store=other_store)

    join(web, PHONE, url=f"/join/?store=SH01&staff={elsewhere.pk}")

    assert Member.objects.get().guide is None


def test_a_guide_link_without_a_store_records_the_guides_store(web, clerk, store):
    join(web, PHONE, url=f"/join/?staff={clerk.pk}")

    assert (Member.objects.get().guide, Member.objects.get().store) == (clerk, store)


def test_the_code_shows_on_the_page_only_in_development_with_a_local_backend(web, settings):
    settings.SMS_SHOW_CODE = False
    send_code(web, "/join/", PHONE)
    assert last_code() not in text_of(web.get("/join/"))

    settings.SMS_SHOW_CODE = True
    web.post("/join/", {"action": "change"})
    send_code(web, "/join/", "13912340000")
    assert f"the code is {last_code()}" in text_of(web.get("/join/"))


def test_a_phone_freed_by_erasure_can_join_again_as_a_new_member(web, store):
    old = MemberFactory(phone=PHONE, store=store)
    member_erase(member=old)

    join(web, PHONE)

    new = Member.objects.get(status=Member.Status.ACTIVE)
    assert new.pk != old.pk and new.phone == "+8613912345678"


def test_a_signed_in_member_goes_to_the_card(web, store):
    sign_in(web, MemberFactory(store=store))

    response = web.get("/join/?store=SH01")

    assert response.status_code == 302 and response["Location"] == "/me/"


def test_it_answers_405_to_other_methods(web):
    assert web.put("/join/").status_code == 405
    assert web.delete("/join/").status_code == 405


def test_every_form_needs_the_csrf_token(store):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)

    assert strict.post("/join/", {"action": "send", "phone": PHONE}).status_code == 403
    assert strict.post("/me/login/", {"action": "send", "phone": PHONE}).status_code == 403
    assert not OneTimeCode.objects.exists()


def test_the_privacy_notice_page_is_public(web):
    PrivacyNotice.objects.create(
        version="v2", title="隐私政策 v2", body="第一段。\n\n第二段。", published_at=timezone.now()
    )

    response = web.get("/join/privacy-notice/")

    assert response.status_code == 200
    assert "隐私政策 v2" in text_of(response) and "第二段。" in text_of(response)
    assert web.get(f"/join/privacy-notice/?version={BUILTIN_VERSION}").status_code == 200


def test_another_store_code_in_the_link_is_another_store(web, other_store):
    StoreFactory(code="SH03", name="浦东店", active=False)

    assert "浦东店" not in text_of(web.get("/join/?store=SH03"))
    assert "徐汇店" in text_of(web.get("/join/?store=SH02"))


def test_a_registration_costs_a_pinned_number_of_statements(
    web, store, django_assert_max_num_queries
):
    """The registration POST, welcome points and coupon included: every statement is
    paid inside SQLite's one write lock or beside it (docs/benchmarks.md, join)."""
    from decimal import Decimal

    from loyalty.models import CouponTemplate, LoyaltySettings

    conf = LoyaltySettings.current()
    conf.welcome_coupon = CouponTemplate.objects.create(
        name="新人券", kind="cash", value=Decimal("10"), valid_days=30
    )
    conf.save()
    send_code(web, "/join/?store=SH01", PHONE)
    data = {"action": "join", "code": last_code(PHONE[-4:]), "consent": "on"}
    with django_assert_max_num_queries(34):
        response = web.post("/join/?store=SH01", data)
    assert response.status_code == 302 and response["Location"] == "/me/"
    member = Member.objects.get()
    assert PointsEntry.objects.filter(member=member, source="welcome").count() == 1
    assert member.coupons.filter(source="welcome").count() == 1
