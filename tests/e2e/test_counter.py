"""A clerk at the counter on a shop laptop (1366x768, Chinese): find the member, record a
purchase with a coupon and points (preview, then Enter confirms), see the receipt; a
manager opens the dashboard. Screenshots: test-artifacts/counter-*.png, dashboard.png."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.dashboard import dashboard_aggregates
from loyalty.benefits.issuing import coupon_issue
from loyalty.models import Card, Coupon, LoyaltySettings, Purchase
from loyalty.purchases import purchase_record
from members.models import Role
from members.services import staff_create
from tests.factories import MemberFactory, StoreFactory
from tests.loyalty.staff_screens.helpers import fund, template

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "pass-2026-xyz"


def log_in(page, base, username):
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{base}/staff/")


def assert_fits_the_laptop(page):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1366, f"{page.url} scrolls sideways ({width}px wide)"


def test_a_clerk_records_a_purchase_with_a_coupon_and_points(live_server, laptop, shot):
    store = StoreFactory(code="SH01", name="静安旗舰店")
    staff_create(username="clerk1", password=PASSWORD, role=Role.CLERK, store=store,
                 display_name="小王")  # fmt: skip
    staff_create(username="boss", password=PASSWORD, role=Role.MANAGER, store=store,
                 display_name="李店长")  # fmt: skip
    member = MemberFactory(phone="13800138000", name="李雷", store=store)
    fund(member, 1200)
    # Found by phone, points spent without a confirmation (the dynamic code's rule:
    # test_chain_counter.py).
    conf = LoyaltySettings.current()
    conf.spend_needs_dynamic_code = False
    conf.save()
    coupon, _ = coupon_issue(template=template(name="立减 10 元"), member=member)
    for n in range(3):  # some history for the card and the dashboard
        purchase_record(member=member, amount=Decimal("36"), external_ref=f"old-{n}",
                        occurred_at=timezone.now() - dt.timedelta(days=3 + n * 9))  # fmt: skip

    base = live_server.url
    log_in(laptop, base, "clerk1")
    search = laptop.locator("input[name=q]")
    assert search.evaluate("el => el === document.activeElement")  # keyboard-first
    search.fill("13800138000")
    search.press("Enter")
    card = laptop.locator("#member-card")
    card.wait_for()
    balance = Card.objects.get(pk=member.pk).points_balance
    assert "李雷" in card.inner_text()
    assert laptop.locator("#points-balance").inner_text() == str(balance)
    assert_fits_the_laptop(laptop)
    shot(laptop, "counter-card")

    laptop.locator("#record-purchase").click()
    laptop.wait_for_url(f"**/staff/m/{member.member_no}/purchase/")
    amount = laptop.locator("input[name=amount]")
    assert amount.evaluate("el => el === document.activeElement")
    amount.fill("128")
    laptop.locator("input[name=category]").fill("咖啡豆")
    laptop.locator("select[name=coupon]").select_option(coupon.code)
    laptop.locator("input[name=points]").fill("500")
    laptop.locator("input[name=points]").press("Enter")
    preview = laptop.locator("#preview")
    preview.wait_for()
    # 128 - 10 (coupon) = 118; 500 points pay 5; cash 113; 咖啡豆 earns nothing extra here.
    assert laptop.locator("#cash-to-pay").inner_text() == "¥113.00"
    assert laptop.locator("#confirm").evaluate("el => el === document.activeElement")
    assert not Purchase.objects.filter(external_ref__startswith="counter:").exists()
    assert_fits_the_laptop(laptop)
    shot(laptop, "counter-preview")

    laptop.keyboard.press("Enter")  # confirms
    laptop.locator("#receipt").wait_for()
    assert laptop.locator("#receipt-paid").inner_text() == "¥113.00"
    bought = Purchase.objects.get(external_ref__startswith="counter:")
    assert (bought.cash_paid, bought.points_used) == (Decimal("113.00"), 500)
    assert Coupon.objects.get(pk=coupon.pk).status == Coupon.Status.REDEEMED
    shot(laptop, "counter-receipt")
    laptop.emulate_media(media="print")
    shot(laptop, "counter-receipt-print")
    laptop.emulate_media(media="screen")

    laptop.keyboard.press("Escape")  # back to the member
    laptop.locator("#member-card").wait_for()
    laptop.goto(f"{base}/staff/members/{member.member_no}/")
    laptop.locator("#timeline").wait_for()
    assert "138 **** 8000" in laptop.locator("#profile-phone").inner_text()  # a clerk: masked
    assert_fits_the_laptop(laptop)
    shot(laptop, "counter-member-360")

    # The manager's dashboard, after the nightly job.
    dashboard_aggregates(timezone.localdate())
    laptop.context.clear_cookies()
    log_in(laptop, base, "boss")
    laptop.get_by_role("link", name="数据看板").or_(
        laptop.get_by_role("link", name="Dashboard")
    ).click()
    laptop.locator("#dash-figures").wait_for()
    laptop.wait_for_function("() => document.querySelector('#chart-new').width > 0")
    assert "静安旗舰店" in laptop.locator("#store").input_value()
    assert laptop.locator("#fig-members_total .dash-figure").inner_text() == "1"
    assert_fits_the_laptop(laptop)
    shot(laptop, "dashboard")
