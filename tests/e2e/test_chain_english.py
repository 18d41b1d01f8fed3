"""The screens of issue 24 in English (the site's other language), as the Chinese walk in
test_chain_counter.py, test_shift.py and test_dynamic_code.py shows them: a clerk of one
store serves another store's member found by the dynamic code (card, purchase preview,
receipt, the 360 page), finds a coupon and redeems it without a purchase only through
the confirmation, meets the 403 and 404 pages; the owner's admin index and shift
report; the member's card with the rotating code on a phone. Each page is in English
(no Chinese UI words: the data, such as store and member names, stays as typed).
Screenshots: test-artifacts/*-en.png."""

import re

import pytest

from loyalty.benefits.issuing import coupon_issue
from loyalty.models import Tier
from members.dynamic_code import code_for
from members.models import Role
from members.services import staff_create
from tests.centre import sign_in_in_browser
from tests.e2e.test_counter import PASSWORD, assert_fits_the_laptop
from tests.e2e.test_shift import log_in_english
from tests.factories import MemberFactory, StoreFactory
from tests.loyalty.staff_screens.helpers import fund, template

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# UI words of the Chinese pages: none may be left on an English one.
CHINESE_UI = re.compile(r"收银台|会员卡|积分|优惠券|确认|返回|门店前台|交班|首页|登录|有效期至")


def no_chinese_ui(page, *data: str, within: str = "body") -> None:
    """The page's text (or its parts `within`) has no Chinese UI word once the data
    (names, the member's own notices, written in the member's language) are taken out."""
    text = "\n".join(page.locator(within).all_inner_texts())
    for value in data:
        text = text.replace(value, "")
    found = CHINESE_UI.search(text)
    assert not found, text[max(0, found.start() - 300) : found.end() + 200]


def test_a_clerk_serves_another_stores_member_in_english(live_server, english_laptop, shot):
    jingan = StoreFactory(code="SH-JA", name="静安旗舰店")
    hangzhou = StoreFactory(code="HZ-XH", name="杭州西湖店")
    staff_create(username="clerk1", password=PASSWORD, role=Role.CLERK, store=jingan)
    member = MemberFactory(phone="13800138000", name="韩梅梅", store=hangzhou)
    fund(member, 1200)
    coupon, _ = coupon_issue(template=template(name="立减 10 元"), member=member)
    gift, _ = coupon_issue(
        template=template(name="免费拿铁", kind="gift", gift_name="拿铁", value=0), member=member
    )
    names = ("韩梅梅", "普通会员", "静安旗舰店", "杭州西湖店", "立减 10 元", "免费拿铁", "拿铁")
    base = live_server.url
    page = english_laptop
    log_in_english(page, base, "clerk1")

    search = page.locator("input[name=q]")
    search.fill(code_for(member))
    search.press("Enter")
    page.locator("#member-card").wait_for()
    page.locator("#member-other-store").wait_for()
    assert "Record a purchase" in page.locator("#member-card").inner_text()
    no_chinese_ui(page, *names)
    assert_fits_the_laptop(page)
    shot(page, "chain-counter-card-en")

    page.locator("#record-purchase").click()
    page.locator("input[name=amount]").fill("128")
    page.locator("select[name=coupon]").select_option(coupon.code)
    page.locator("input[name=points]").fill("500")
    page.locator("input[name=points]").press("Enter")
    page.locator("#preview").wait_for()
    no_chinese_ui(page, *names)
    shot(page, "chain-counter-preview-en")
    page.keyboard.press("Enter")
    page.locator("#receipt").wait_for()
    no_chinese_ui(page, *names)
    shot(page, "chain-counter-receipt-en")

    page.goto(f"{base}/staff/members/{member.member_no}/")
    page.locator("#other-store-note").wait_for()
    # The timeline quotes the notices sent to the member: in the member's language.
    no_chinese_ui(page, *names, within="nav, h1, h2, h3, #member-card, #other-store-note")
    shot(page, "chain-member-360-en")

    page.goto(f"{base}/staff/?q={gift.code}")
    page.locator("#coupon-found").wait_for()
    no_chinese_ui(page, *names)
    shot(page, "chain-coupon-found-en")
    page.locator("#coupon-no-purchase").click()
    page.locator("#verify-confirm").wait_for()
    no_chinese_ui(page, *names)
    shot(page, "chain-coupon-confirm-en")

    response = page.goto(f"{base}/staff/no-such-page/")
    assert response.status == 404
    page.locator("#error-page").wait_for()
    no_chinese_ui(page)
    shot(page, "chain-404-en")


def test_the_403_page_and_the_owners_screens_in_english(live_server, english_laptop, shot):
    jingan = StoreFactory(code="SH-JA", name="静安旗舰店")
    franchise = StoreFactory(code="FR-01", name="加盟店")
    franchise.serves_own_members_only = True
    franchise.save()
    staff_create(username="clerk1", password=PASSWORD, role=Role.CLERK, store=jingan)
    staff_create(username="owner1", password=PASSWORD, role=Role.OWNER, store=None)
    theirs = MemberFactory(phone="13800138000", store=franchise)
    base = live_server.url
    page = english_laptop

    log_in_english(page, base, "clerk1")
    response = page.goto(f"{base}/staff/members/{theirs.member_no}/")
    assert response.status == 403
    page.locator("#error-page").wait_for()
    no_chinese_ui(page)
    shot(page, "chain-403-en")

    page.context.clear_cookies()
    log_in_english(page, base, "owner1")
    page.goto(f"{base}/staff/shift/")
    assert "Shift report" in page.locator("h1").inner_text()
    no_chinese_ui(page, "静安旗舰店", "加盟店")
    shot(page, "shift-owner-en")
    page.goto(f"{base}/admin/")
    body = page.locator("#content").inner_text()
    assert "Members" in body and "Loyalty" in body
    shot(page, "admin-index-en")


def test_the_member_card_with_its_rotating_code_in_english(
    live_server, english_phone, shot, settings
):
    settings.SMS_BACKEND = "members.sms.LocmemBackend"
    # The data migration's tiers, gone if an earlier transactional test flushed them.
    for level, name in enumerate(["普通会员", "银卡", "金卡"], start=1):
        Tier.objects.get_or_create(
            name=name, defaults={"level": level, "qualify_threshold": 500 * (level - 1)}
        )
    store = StoreFactory(code="SH01", name="静安旗舰店")
    MemberFactory(phone="13912345678", name="王小明", store=store)
    page = english_phone
    sign_in_in_browser(page, live_server.url, "13912345678")
    countdown = page.locator("#code-countdown").inner_text()
    assert "second" in countdown
    no_chinese_ui(page, "王小明", "静安旗舰店", "普通会员", "银卡", "金卡")
    page.locator("#dynamic-code").scroll_into_view_if_needed()
    shot(page, "member-dynamic-code-en")
