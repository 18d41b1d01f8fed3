"""A customer on a phone (375x667, Chinese): scan the store's QR link -> join with the
code from the page (console SMS backend) -> see the card -> check in -> log out -> log in.

Screenshots go to test-artifacts/member-*.png.
"""

import datetime as dt
import io
import re

import pytest
import time_machine
from django.utils import timezone

from loyalty.models import CheckIn
from members.dynamic_code import member_for_code
from members.models import Member, Role
from members.services import member_referral_code, staff_create
from tests.centre import sign_in_in_browser
from tests.factories import MemberFactory, StoreFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = "13912345678"


def assert_fits_the_phone(page):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"{page.url} scrolls sideways ({width}px wide)"


def code_on(page) -> str:
    """The console backend's code, shown on the page in development (SMS_SHOW_CODE)."""
    text = page.locator(".alert-info").inner_text()
    return re.search(r"\b(\d{6})\b", text).group(1)


def decoded(page, selector) -> list[str]:
    zxingcpp = pytest.importorskip("zxingcpp")
    from PIL import Image

    element = page.locator(selector)
    element.evaluate("el => el.scrollIntoView({block: 'center'})")
    png = element.screenshot()
    image = Image.open(io.BytesIO(png)).convert("L")
    return [r.text for r in zxingcpp.read_barcodes(image)]


def test_a_customer_joins_by_qr_checks_in_logs_out_and_back_in(
    live_server, phone_page, shot, settings
):
    settings.SMS_BACKEND = "members.sms.ConsoleBackend"
    settings.SMS_SHOW_CODE = True
    store = StoreFactory(code="SH01", name="静安旗舰店")
    guide = staff_create(username="guide1", password="pass-2026-xyz", role=Role.CLERK, store=store)
    friend = MemberFactory(phone="13800138000", name="李雷", store=store)
    ref = member_referral_code(friend)
    page = phone_page

    with time_machine.travel(timezone.now(), tick=True) as traveller:
        # Scan the poster: the join page of the store, credited to the guide and the friend.
        page.goto(f"{live_server.url}/join/?store=SH01&staff={guide.pk}&ref={ref}")
        assert "静安旗舰店" in page.locator("header").inner_text()
        assert_fits_the_phone(page)
        shot(page, "member-join")

        page.locator("input[name=phone]").fill(PHONE)
        page.locator("button[value=send]").click()
        page.locator("input[name=code]").wait_for()
        shot(page, "member-join-code")
        page.locator("input[name=code]").fill(code_on(page))
        page.locator("input[name=name]").fill("王小明")
        page.locator("input[name=consent]").check()
        page.locator("button[value=join]").click()

        # The card: number, barcode and QR code for the counter.
        page.wait_for_url(f"{live_server.url}/me/")
        member = Member.objects.get(phone_last4="5678")
        assert (member.store, member.guide, member.referred_by) == (store, guide, friend)
        assert member.member_no in page.locator(".m-card").inner_text()
        assert_fits_the_phone(page)
        shot(page, "member-card")
        # They carry the dynamic member code, not the static number (issue 24).
        for scanned in (decoded(page, "#card-barcode"), decoded(page, "#card-qr")):
            assert len(scanned) == 1 and member_for_code(scanned[0]) == member

        # Check in.
        page.locator("form[action='/me/checkin/'] button").click()
        page.locator("#checkin-streak").wait_for()
        assert CheckIn.objects.filter(member=member).count() == 1
        assert page.locator("form[action='/me/checkin/']").count() == 0
        shot(page, "member-checked-in")

        # Log out (from "Me").
        page.locator("nav.m-tabs a[href='/me/account/']").click()
        assert_fits_the_phone(page)
        shot(page, "member-account")
        page.locator("form[action='/me/logout/'] button").click()
        page.wait_for_url(f"{live_server.url}/me/login/")
        page.goto(f"{live_server.url}/me/")
        assert "/me/login/" in page.url

        # A minute later (one code per minute per number), log in again.
        traveller.shift(dt.timedelta(seconds=61))
        page.locator("input[name=phone]").fill(PHONE)
        page.locator("button[value=send]").click()
        page.locator("input[name=code]").fill(code_on(page))
        shot(page, "member-login-code")
        page.locator("button[value=login]").click()
        page.wait_for_url(f"{live_server.url}/me/")
        assert member.member_no in page.locator(".m-card").inner_text()
        shot(page, "member-logged-in")


def test_every_member_page_fits_a_375px_phone(live_server, phone_page, shot, settings):
    store = StoreFactory(code="SH01", name="静安旗舰店")
    member = MemberFactory(phone=PHONE, name="欧阳娜娜娜娜娜娜娜娜娜", store=store)
    from loyalty.models import TopUpOffer
    from loyalty.stored_value import stored_value_top_up

    TopUpOffer.objects.create(code="c1000", name="充1000送150 · 会员周特惠", pay_amount=1000,
                              bonus=150, points=500)  # fmt: skip
    stored_value_top_up(member=member, amount="1000.00", external_ref="E2E-1", store=store,
                        offer_code="c1000")  # fmt: skip
    page = phone_page
    # Sign in through the real page (codes from the in-memory backend).

    settings.SMS_BACKEND = "members.sms.LocmemBackend"
    sign_in_in_browser(page, live_server.url, PHONE)
    assert member.member_no in page.locator(".m-card").inner_text()

    pages = ["", "points/", "purchases/", "stored-value/", "coupons/", "rewards/", "invite/",
             "messages/",
             "account/", "profile/", "privacy/", "privacy/delete/"]  # fmt: skip
    for path in pages:
        page.goto(f"{live_server.url}/me/{path}")
        assert_fits_the_phone(page)
        for box in page.locator("main .btn, .m-tabs a").all():
            size = box.bounding_box()
            if size and box.is_visible():
                assert size["height"] >= 36, f"{path}: a tap target is {size['height']}px tall"
        shot(page, "member-page-" + (path.strip("/").replace("/", "-") or "card"))
