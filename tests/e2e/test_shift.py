"""The shift report (交班 / 日结) on a shop laptop (1366x768): a clerk opens theirs from the
navigation, a manager picks a clerk and prints the 58 mm slip, an owner reads every store
in English. Screenshots: test-artifacts/shift-*.png."""

import re
from decimal import Decimal

import pytest

from loyalty.benefits.issuing import coupon_issue
from loyalty.count_cards import count_card_sell, count_card_use
from loyalty.models import CountCardTemplate
from loyalty.purchases import purchase_record, purchase_refund
from loyalty.stored_value import stored_value_top_up
from members.models import Role
from members.services import staff_create
from tests.e2e.test_counter import PASSWORD, assert_fits_the_laptop, log_in
from tests.factories import MemberFactory, StoreFactory
from tests.loyalty.staff_screens.helpers import template

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

MM = 72 / 25.4  # PDF points per millimetre


def _today(store, other_store):
    clerk = staff_create(username="clerk1", password=PASSWORD, role=Role.CLERK, store=store,
                         display_name="小王")  # fmt: skip
    clerk2 = staff_create(username="clerk2", password=PASSWORD, role=Role.CLERK, store=store,
                          display_name="小张")  # fmt: skip
    staff_create(username="boss", password=PASSWORD, role=Role.MANAGER, store=store,
                 display_name="李店长")  # fmt: skip
    staff_create(username="owner1", password=PASSWORD, role=Role.OWNER, store=None,
                 display_name="老板")  # fmt: skip
    member = MemberFactory(phone="13800138000", name="李雷", store=store)
    theirs = MemberFactory(phone="13900139000", name="韩梅梅", store=other_store)
    stored_value_top_up(member=member, amount="500", external_ref="T1", tender="wechat_pay",
                        store=store, actor=clerk)  # fmt: skip
    coupon, _ = coupon_issue(template=template(name="立减 10 元"), member=member)
    bought = [
        purchase_record(member=member, amount=Decimal(amount), external_ref=f"A{n}",
                        store=store, staff=clerk, apply_tier_discount=False,
                        coupon_code=coupon.code if n == 2 else "",
                        stored_value_to_use=Decimal("36.50") if n == 1 else 0)[0]
        for n, amount in enumerate(["128.00", "36.50", "278.50"])
    ]  # fmt: skip
    purchase_refund(purchase=bought[0], amount=Decimal("28.00"), key="R1", actor=clerk)
    CountCardTemplate.objects.create(code="wash10", name="10 次洗剪吹", uses=10,
                                     price=Decimal("298"), valid_months=12)  # fmt: skip
    card, _ = count_card_sell(member=member, template_code="wash10", external_ref="CC1",
                              tender="cash", store=store, actor=clerk)  # fmt: skip
    count_card_use(member=member, card_id=card.pk, key="U1", store=store, actor=clerk)
    purchase_record(member=member, amount=Decimal("58"), external_ref="B1", store=store,
                    staff=clerk2, apply_tier_discount=False)  # fmt: skip
    purchase_record(member=theirs, amount=Decimal("88"), external_ref="C1", store=other_store,
                    apply_tier_discount=False)  # fmt: skip


def test_clerk_manager_and_owner_close_the_shift(live_server, browser, laptop, shot):
    store = StoreFactory(code="SH01", name="静安旗舰店")
    other_store = StoreFactory(code="HZ01", name="杭州西湖店")
    _today(store, other_store)
    base = live_server.url

    log_in(laptop, base, "clerk1")
    laptop.locator("#shift-link").click()
    laptop.wait_for_url(f"{base}/staff/shift/")
    assert laptop.locator("#shift-purchase-count").inner_text() == "3"
    assert laptop.locator("#shift-paid").inner_text() == "¥433.00"
    assert laptop.locator("#shift-top-up").inner_text() == "¥500.00"
    assert laptop.locator("#shift-refunded").inner_text() == "−¥28.00"
    assert laptop.locator("#shift-net").inner_text() == "¥405.00"
    assert laptop.locator("#shift-coupons-redeemed").inner_text() == "1"
    assert laptop.locator("#shift-count-card-uses").inner_text() == "1"
    # Cash 298 (the count card), WeChat Pay 500 (the top-up), the purchases' money 396.50
    # (433.00 paid less 36.50 of stored value) less the refund's 28.00.
    assert laptop.locator("#shift-money-net").inner_text() == "¥1166.50"
    assert laptop.locator("select[name=staff]").count() == 0  # their own shift only
    assert_fits_the_laptop(laptop)
    shot(laptop, "shift-clerk")
    laptop.context.clear_cookies()

    log_in(laptop, base, "boss")
    laptop.goto(f"{base}/staff/shift/")
    assert laptop.locator("#shift-paid").inner_text() == "¥491.00"  # the store: both clerks
    assert "小张" in laptop.locator("#shift-by-staff").inner_text()
    assert_fits_the_laptop(laptop)
    shot(laptop, "shift-manager")
    laptop.locator("select[name=staff]").select_option(label="小王")
    laptop.locator("#shift-show").click()
    laptop.wait_for_url(re.compile(r".*staff=\d+.*"))
    assert laptop.locator("#shift-paid").inner_text() == "¥433.00"
    laptop.locator("#shift-print-58").click()
    laptop.wait_for_url(re.compile(r".*/staff/shift/print/\?.*width=58"))
    slip = laptop.locator("#shift-slip")
    assert "¥433.00" in slip.inner_text() and "小王" in slip.inner_text()
    # On screen the slip is the roll's width: 58 mm is 219 CSS pixels.
    assert abs(slip.bounding_box()["width"] - 58 * 96 / 25.4) < 2
    shot(laptop, "shift-print-58-screen")
    laptop.emulate_media(media="print")
    shot(laptop, "shift-print-58")
    # Printed, the page is the roll: 58 mm wide (the CSS named page of the slip).
    pdf = laptop.pdf(prefer_css_page_size=True)
    box = re.search(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
    assert box and abs(float(box.group(1)) - 58 * MM) < 1, box and box.group(0)
    laptop.emulate_media(media="screen")
    laptop.get_by_role("link", name="80 mm").click()
    laptop.wait_for_url(re.compile(r".*width=80"))
    assert abs(laptop.locator("#shift-slip").bounding_box()["width"] - 80 * 96 / 25.4) < 2
    laptop.emulate_media(media="print")
    shot(laptop, "shift-print-80")
    pdf = laptop.pdf(prefer_css_page_size=True)
    box = re.search(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
    assert box and abs(float(box.group(1)) - 80 * MM) < 1

    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="en-US")
    english = context.new_page()
    log_in_english(english, base, "owner1")
    english.goto(f"{base}/staff/shift/")
    assert english.locator("#shift-paid").inner_text() == "¥579.00"  # every store
    by_store = english.locator("#shift-by-store").inner_text()
    assert "杭州西湖店" in by_store and "静安旗舰店" in by_store
    assert "Shift report" in english.locator("h1").inner_text()
    assert_fits_the_laptop(english)
    shot(english, "shift-owner-en")
    context.close()


def log_in_english(page, base, username):
    page.goto(f"{base}/accounts/login/")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form button.btn-primary").click()
    page.wait_for_url(f"{base}/staff/")
