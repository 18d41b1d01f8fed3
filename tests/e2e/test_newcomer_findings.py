"""Issue #24's newcomer findings, seen in Chromium (Chinese; screenshots in
test-artifacts/newcomer-*.png): the receipt printed at 58 and 80 mm, the lowest tier's
badge, the invitation's copy button and share poster, /me/ with its benefits once and the
privacy notice's date, the store poster's toolbar, the dashboard right after seed_demo."""

import importlib
import io
import re
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from loyalty import rules
from loyalty.benefits.issuing import coupon_issue
from loyalty.models import Tier
from loyalty.purchases import purchase_record
from members.models import Role
from members.services import member_referral_code, staff_create
from tests.centre import sign_in_in_browser
from tests.e2e.conftest import ARTIFACTS
from tests.factories import MemberFactory, StoreFactory
from tests.loyalty.staff_screens.helpers import at, template

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "pass-2026-xyz"
PT_PER_MM = 72 / 25.4


@pytest.fixture(autouse=True)
def default_tiers(db):
    """The data migration's four tiers (a transactional test's flush removed them)."""
    if Tier.objects.exists():
        return
    defaults = importlib.import_module("loyalty.migrations.0002_default_tiers")
    for level, name, qualify, keep, rate, mult, benefits in defaults.TIERS:
        Tier.objects.create(level=level, name=name, qualify_threshold=Decimal(qualify),
                            keep_threshold=Decimal(keep), discount_rate=Decimal(rate),
                            points_multiplier=Decimal(mult), benefits=benefits)  # fmt: skip
    rules.forget()


def log_in(page, base, username, then="/staff/"):
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{base}{then}")


def page_size_mm(pdf: bytes) -> tuple[float, float]:
    box = re.search(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
    return float(box.group(1)) / PT_PER_MM, float(box.group(2)) / PT_PER_MM


def member_sign_in(page, base, member, settings):
    """Through the real SMS-code login (the in-memory backend's code)."""
    settings.SMS_BACKEND = "members.sms.LocmemBackend"
    sign_in_in_browser(page, base, member.phone[3:])


def test_the_receipt_prints_at_58_and_80_mm_with_a_short_number(live_server, laptop, shot):
    store = StoreFactory(code="SH01", name="静安旗舰店")
    staff_create(username="clerk1", password=PASSWORD, role=Role.CLERK, store=store)
    member = MemberFactory(phone="13800138000", name="李雷", store=store)
    bought, _ = purchase_record(
        member=member, amount="68.50", external_ref="counter:q8sgKqaalfYt", store=store
    )
    base = live_server.url
    log_in(laptop, base, "clerk1")
    laptop.goto(f"{base}/staff/purchases/{bought.pk}/")
    day = timezone.localdate().strftime("%Y%m%d")
    assert laptop.locator("#receipt-number").inner_text() == f"订单号 SH01-{day}-0001"
    assert "counter:" not in laptop.locator("#receipt").inner_text()
    # 80 mm by default: the printed page is the roll's width.
    width, height = page_size_mm(laptop.pdf(prefer_css_page_size=True))
    assert abs(width - 80) < 0.5 and 60 <= height < 200, (width, height)
    shot(laptop, "newcomer-receipt-80mm")
    laptop.locator("[data-receipt-width='58']").click()
    assert "receipt-w58" in laptop.evaluate("document.body.className")
    assert laptop.locator("[data-receipt-width='58']").get_attribute("aria-pressed") == "true"
    assert laptop.locator("#receipt").bounding_box()["width"] <= 58 / 25.4 * 96 + 1
    width, height = page_size_mm(laptop.pdf(prefer_css_page_size=True))
    assert abs(width - 58) < 0.5 and 60 <= height < 200, (width, height)
    shot(laptop, "newcomer-receipt-58mm")
    # Remembered: the next receipt opens at 58 mm.
    laptop.goto(f"{base}/staff/purchases/{bought.pk}/")
    assert "receipt-w58" in laptop.evaluate("document.body.className")


def test_the_lowest_tier_badge_and_the_coupon_validity_at_the_counter(live_server, laptop, shot):
    store = StoreFactory(code="SH01", name="静安旗舰店")
    staff_create(username="clerk1", password=PASSWORD, role=Role.CLERK, store=store)
    member = MemberFactory(phone="13800138000", name="李雷", store=store)
    tpl = template(name="年终 9 折", valid_days=None, valid_until=at(2026, 12, 31).date())
    coupon_issue(template=tpl, member=member, now=at(2026, 12, 1, 10))
    base = live_server.url
    log_in(laptop, base, "clerk1")
    laptop.goto(f"{base}/staff/m/{member.member_no}/")
    badge = laptop.locator("#member-tier")
    assert badge.inner_text() == "普通会员"
    colour = badge.evaluate("el => getComputedStyle(el).backgroundColor")
    assert colour != "rgb(255, 193, 7)", colour  # Bootstrap's warning gold
    laptop.wait_for_selector("#card-coupons")
    assert "有效期至 2026-12-31" in laptop.locator("#card-coupons").inner_text()
    shot(laptop, "newcomer-counter-badge")


def test_the_invitation_copies_and_has_a_share_poster(live_server, phone_page, shot, settings):
    zxingcpp = pytest.importorskip("zxingcpp")
    from PIL import Image

    store = StoreFactory(code="SH01", name="静安旗舰店")
    member = MemberFactory(phone="13912345678", name="韩梅梅", store=store)
    member_referral_code(member)
    member.refresh_from_db()
    page = phone_page
    base = live_server.url
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    member_sign_in(page, base, member, settings)
    page.goto(f"{base}/me/invite/")
    link = page.locator("#invite-link").input_value()
    assert link.endswith(f"/join/?ref={member.referral_code}")
    page.locator("#invite-copy").click()
    page.wait_for_function("document.getElementById('invite-status').textContent.length > 0")
    assert page.evaluate("navigator.clipboard.readText()") == link
    shot(page, "newcomer-invite")
    page.locator("#invite-poster").click()
    page.wait_for_url(f"{base}/me/invite/poster/")
    page.wait_for_function("document.getElementById('invite-poster-image').naturalWidth > 0")
    shot(page, "newcomer-invite-poster")
    save = page.locator("#poster-download")
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    save.click(trial=True)  # visible and not under the tab bar
    page.screenshot(path=str(ARTIFACTS / "newcomer-invite-poster-buttons.png"))
    assert save.is_visible() and save.get_attribute("download") == "invite.png"
    png = page.request.get(f"{base}/me/invite/poster.png").body()
    found = [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)).convert("L"))]
    assert link in found
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375


def test_me_says_each_benefit_once_and_the_notice_has_a_date(
    live_server, phone_page, shot, settings
):
    store = StoreFactory(code="SH01", name="静安旗舰店")
    member = MemberFactory(phone="13912345678", name="韩梅梅", store=store)
    Tier.objects.update(birthday_coupon=template(name="生日赠饮"))
    page = phone_page
    base = live_server.url
    member_sign_in(page, base, member, settings)
    tier = page.locator("section", has=page.locator("h2", has_text="会员等级"))
    text = tier.inner_text()
    assert text.count("生日赠饮") == 1 and text.count("9.8 折") == 1 and "98 折" not in text
    tier.scroll_into_view_if_needed()
    shot(page, "newcomer-me-benefits")
    page.goto(f"{base}/join/privacy-notice/")
    assert "版本 2026-11-27" in page.locator("main").inner_text()
    shot(page, "newcomer-privacy-notice")


def test_the_store_posters_toolbar(live_server, laptop, shot):
    store = StoreFactory(code="SH01", name="静安旗舰店")
    staff_create(username="boss", password=PASSWORD, role=Role.OWNER, store=None)
    staff_create(username="clerk1", password=PASSWORD, role=Role.CLERK, store=store,
                 display_name="小王")  # fmt: skip
    base = live_server.url
    log_in(laptop, base, "boss")
    laptop.goto(f"{base}/admin/members/store/{store.pk}/poster/")
    print_button = laptop.locator(".tools .tool-primary")
    assert print_button.inner_text() == "打印"
    assert print_button.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(140, 29, 47)"
    chips = laptop.locator(".tools-guides .chip")
    assert chips.count() == 2 and "chip-on" in chips.first.get_attribute("class")
    shot(laptop, "newcomer-store-poster")


def test_the_dashboard_right_after_seed_demo(live_server, laptop, shot):
    call_command("seed_demo", members=30, purchases=90, password=PASSWORD, stdout=io.StringIO())
    base = live_server.url
    log_in(laptop, base, "owner", then="/staff/")
    laptop.goto(f"{base}/dashboard/")
    line = laptop.locator("#dash-computed").inner_text()
    assert "尚未计算" not in line and re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", line), line
    assert laptop.locator("#tier-table").inner_text().strip()
    shot(laptop, "newcomer-dashboard-after-seed")
