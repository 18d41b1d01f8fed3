"""The Content-Security-Policy in Chromium (issue 25): the staff screens, the dashboard's
charts, the admin (its widgets, the segment builder, the campaign compose and preview, the
third-party apps' pages) and the member centre all work under the policy, and no page
reports a violation: neither a `securitypolicyviolation` event nor a console message
about the policy, nor an uncaught script error. A first check proves the watch works: an
inline script and a style attribute put on a page are refused and reported.
Screenshots: test-artifacts/csp-*.png."""

import json
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.dashboard import dashboard_aggregates
from campaigns.marketing.models import Campaign, MarketingSettings, Variant
from campaigns.models import Segment
from loyalty.benefits.issuing import coupon_issue
from loyalty.models import CouponTemplate, Purchase, StoredValueEntry, Tier, TopUpOffer
from loyalty.purchases import purchase_record
from loyalty.stored_value import stored_value_top_up
from members import sms
from members.models import Role
from members.services import staff_create
from tests.factories import MemberFactory, StoreFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
# Under the policy a page cannot eval a string: page.wait_for_function() is given a function
# ("() => ..."), which Playwright calls, not a bare expression, which it would eval.
PASSWORD = "pass-2026-xyz"
PHONE = "13912345678"

# Reports every violation to Python (an exposed binding is not subject to the policy).
WATCH = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolation(JSON.stringify({
    directive: e.violatedDirective, blocked: e.blockedURI, source: e.sourceFile,
    line: e.lineNumber, sample: e.sample, page: location.pathname + location.search,
  }));
}, true);
// Printing would open a dialog: count the calls instead.
window.print = () => { window.__printed = (window.__printed || 0) + 1; };
"""


class Watch:
    """What the pages of one browser context reported."""

    def __init__(self, context):
        self.violations: list[dict] = []
        self.problems: list[str] = []
        self.documents: list[tuple[str, str | None]] = []
        context.expose_function("__cspViolation", lambda v: self.violations.append(json.loads(v)))
        context.add_init_script(WATCH)

    def page(self, page):
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"{page.url}: {error}"))
        page.on("response", self._response)
        return page

    def _console(self, message):
        text = message.text
        if "Content Security Policy" in text or "Content-Security-Policy" in text:
            self.problems.append(f"console {message.type}: {text}")

    def _response(self, response):
        if response.request.resource_type == "document":
            self.documents.append((response.url, response.headers.get("content-security-policy")))

    def clear(self):
        self.violations.clear()
        self.problems.clear()

    def assert_clean(self, page):
        page.wait_for_timeout(150)  # the reports come in asynchronously
        assert not self.violations, json.dumps(self.violations, ensure_ascii=False, indent=1)
        assert not self.problems, "\n".join(self.problems)
        without = [url for url, policy in self.documents if not policy]
        assert not without, f"pages without the header: {without}"


@pytest.fixture
def watched(browser):
    def open_(**options):
        context = browser.new_context(locale="zh-CN", **options)
        watch = Watch(context)
        page = watch.page(context.new_page())
        page.set_default_timeout(10_000)
        contexts.append(context)
        return page, watch

    contexts = []
    yield open_
    for context in contexts:
        context.close()


def visit(page, url):
    response = page.goto(url)
    assert response.status < 400, f"{url}: {response.status}"
    page.wait_for_load_state("load")
    return response


def log_in(page, base, username, password=PASSWORD, next_url="/staff/"):
    page.goto(f"{base}/accounts/login/?next={next_url}")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()


def shop():
    store = StoreFactory(code="SH01", name="静安旗舰店")
    staff_create(username="boss", password=PASSWORD, role=Role.OWNER, store=None,
                 display_name="老板")  # fmt: skip
    staff_create(username="clerk1", password=PASSWORD, role=Role.CLERK, store=store,
                 display_name="小王")  # fmt: skip
    if not Tier.objects.exists():  # the data migration's, unless a flush removed them
        Tier.objects.create(level=1, name="普通会员")
        Tier.objects.create(level=2, name="银卡", qualify_threshold=1000)
    member = MemberFactory(phone=PHONE, name="李雷", store=store)
    for n in range(3):
        purchase_record(member=member, amount=Decimal("128"), external_ref=f"csp-{n}")
    template = CouponTemplate.objects.create(name="立减 10 元", kind="cash", value=10,
                                             valid_days=30)  # fmt: skip
    coupon_issue(template=template, member=member)
    offer = TopUpOffer.objects.create(code="c1000", name="充1000送150", pay_amount=1000,
                                      bonus=150, points=500)  # fmt: skip
    stored_value_top_up(member=member, amount="1000.00", external_ref="CSP-1", store=store,
                        offer_code=offer.code)  # fmt: skip
    for n in range(8):
        MemberFactory(store=store, name=f"会员{n}")
    return store, member, template


def test_the_watch_reports_an_inline_script_and_a_style_attribute(live_server, watched):
    page, watch = watched(viewport={"width": 1366, "height": 768})
    response = visit(page, f"{live_server.url}/accounts/login/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
    page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.__inlineRan = true";
          document.head.append(script);
          document.body.insertAdjacentHTML("beforeend", '<p id="styled" style="color: red">x</p>');
        }"""
    )
    page.wait_for_timeout(300)
    assert page.evaluate("window.__inlineRan") is None  # refused
    assert page.evaluate("document.getElementById('styled').style.color") == ""
    directives = {v["directive"] for v in watch.violations}
    assert {"script-src-elem", "style-src-attr"} <= directives, watch.violations
    assert watch.problems  # Chromium says so in the console too


def test_the_staff_screens_and_the_admin_work_under_the_policy(live_server, watched, shot):
    store, member, template = shop()
    dashboard_aggregates(timezone.localdate())
    segment = Segment.objects.create(name="全部会员", rules={"all": []})
    MarketingSettings.objects.update_or_create(pk=1, defaults={"quiet_from": 0, "quiet_until": 0})
    campaign = Campaign.objects.create(name="回归礼", segment=segment, channels=["inbox"],
                                       title="好久不见", message="{name}，送您{coupon}。",
                                       holdout_percent=10)  # fmt: skip
    Variant.objects.create(campaign=campaign, name="A", coupon_template=template)
    purchase = Purchase.objects.filter(member=member).latest("pk")
    slip = StoredValueEntry.objects.filter(member=member).latest("pk")
    base = live_server.url
    page, watch = watched(viewport={"width": 1366, "height": 768})

    # The lockout page (five wrong passwords), then the owner logs in.
    for _ in range(5):
        log_in(page, base, "clerk1", "wrong-password")
    assert page.locator(".alert-danger h1").inner_text() == "登录失败次数过多"
    log_in(page, base, "boss")
    page.wait_for_url(f"{base}/staff/")
    watch.assert_clean(page)

    # The counter: htmx swaps the card in, and its lazy figures after it.
    page.locator("input[name=q]").fill(PHONE)
    page.locator("input[name=q]").press("Enter")
    page.locator("#member-card").wait_for()
    page.wait_for_function(
        "() => !document.querySelector('#card-figures .text-secondary.staff-figure')"
    )
    bar = page.locator("#member-card .progress-bar")  # to the next tier: w-pct-N, no style=""
    assert "w-pct-" in bar.get_attribute("class")
    assert bar.evaluate("el => el.getBoundingClientRect().width") > 0
    shot(page, "csp-counter")
    watch.assert_clean(page)

    no = member.member_no
    for path in [f"/staff/m/{no}/", f"/staff/members/{no}/", f"/staff/m/{no}/purchase/",
                 f"/staff/m/{no}/stored-value/", f"/staff/m/{no}/count-cards/",
                 "/staff/my-customers/", "/staff/register/", f"/staff/members/{no}/edit/",
                 f"/staff/purchases/{purchase.pk}/refund/"]:  # fmt: skip
        visit(page, base + path)
        watch.assert_clean(page)

    # Receipts and slips print from a listener (no onclick attribute).
    for path in [f"/staff/purchases/{purchase.pk}/", f"/staff/stored-value/{slip.pk}/"]:
        visit(page, base + path)
        page.locator("[data-print]").click()
        assert page.evaluate("window.__printed") == 1
        watch.assert_clean(page)

    # The dashboard: Chart.js draws from the page's JSON.
    visit(page, f"{base}/dashboard/")
    page.wait_for_function(
        "() => window.Chart && Chart.getChart(document.getElementById('chart-new'))"
    )
    assert page.evaluate("Chart.getChart(document.getElementById('chart-tiers')) !== undefined")
    shot(page, "csp-dashboard")
    watch.assert_clean(page)
    for path in ["/dashboard/guides/", "/dashboard/stored-value/"]:
        visit(page, base + path)
        watch.assert_clean(page)

    # The admin: Django's, with its widgets (calendar, select2 autocomplete), and ours.
    visit(page, f"{base}/admin/")
    watch.assert_clean(page)
    visit(page, f"{base}/admin/members/member/")
    watch.assert_clean(page)
    visit(page, f"{base}/admin/members/member/{member.pk}/change/")
    page.locator(".select2-selection").first.click()  # the store's autocomplete
    page.locator(".select2-results__option").first.wait_for()
    shot(page, "csp-admin-member")
    watch.assert_clean(page)
    page.keyboard.press("Escape")
    visit(page, f"{base}/admin/loyalty/coupontemplate/add/")
    page.locator(".datetimeshortcuts a").first.click()  # "today" for "valid from"
    assert page.locator("#id_valid_from").input_value()
    page.locator("#calendarlink0").click()
    page.locator("#calendarbox0").wait_for()
    assert page.locator(".selector .selector-available").count() == 2  # the two-box pickers
    watch.assert_clean(page)

    # The segment builder: a condition and its live count (fetch).
    visit(page, f"{base}/admin/campaigns/segment/add/")
    builder = page.locator(".segment-builder")
    builder.get_by_role("button", name="+ 条件", exact=True).click()
    builder.locator(".segment-condition select").first.select_option("lifecycle")
    page.wait_for_function(
        "() => /^\\d+$/.test(document.querySelector('#segment-preview [data-count]').textContent)"
    )
    assert page.locator("#segment-preview [data-error]").is_hidden()
    shot(page, "csp-segment-builder")
    watch.assert_clean(page)

    # The campaign: compose (the kind greys the other fields), then the preview panel.
    visit(page, f"{base}/admin/campaigns/campaign/add/")
    page.locator("#id_kind").select_option("journey")
    assert page.locator(".campaign-schedule.campaign-inactive").count() > 0
    watch.assert_clean(page)
    visit(page, f"{base}/admin/campaigns/campaign/{campaign.pk}/change/")
    page.locator("[data-audience]").wait_for()
    shot(page, "csp-campaign-preview")
    watch.assert_clean(page)

    for path in [
        f"/admin/campaigns/segment/{segment.pk}/change/",
        f"/admin/campaigns/campaign/{campaign.pk}/report/",
        "/admin/loyalty/importjob/add/",
        "/admin/members/member/export/",
        f"/admin/members/store/{store.pk}/poster/",
        f"/admin/members/store/{store.pk}/change/",
        f"/admin/loyalty/card/{member.pk}/change/",
        "/admin/members/privacynotice/add/",
        "/admin/axes/accessattempt/",
        "/admin/django_q/schedule/",
        "/admin/django_q/schedule/add/",
        "/admin/loyalty/topupoffer/",  # list_editable
        "/admin/loyalty/topupoffer/add/",
    ]:
        visit(page, base + path)
        watch.assert_clean(page)
    # The API's documentation (django-ninja's vendored Swagger UI).
    visit(page, f"{base}/api/v1/docs")
    page.locator(".swagger-ui .opblock").first.wait_for()
    watch.assert_clean(page)

    visit(page, f"{base}/admin/members/store/{store.pk}/poster/")
    page.locator("[data-print]").click()
    assert page.evaluate("window.__printed") == 1
    watch.assert_clean(page)


def test_the_member_centre_works_under_the_policy(live_server, watched, shot, settings):
    settings.SMS_BACKEND = "members.sms.LocmemBackend"
    shop()
    base = live_server.url
    phone = {"viewport": {"width": 375, "height": 667}, "is_mobile": True, "has_touch": True}
    visitor = watched(**phone)
    page, watch = watched(**phone)

    # Log in as the member and walk the centre.
    visit(page, f"{base}/me/login/")
    page.locator("input[name=phone]").fill(PHONE)
    page.locator("button[value=send]").click()
    page.locator("input[name=code]").fill(sms.outbox[-1].code)
    page.locator("button[value=login]").click()
    page.wait_for_url(f"{base}/me/")
    bar = page.locator(".m-progress > div")
    assert bar.get_attribute("class").startswith("w-pct-")
    assert bar.evaluate("el => el.getBoundingClientRect().width") > 0
    watch.assert_clean(page)
    for path in ["points/", "purchases/", "stored-value/", "coupons/", "rewards/", "messages/",
                 "account/", "profile/", "privacy/", "privacy/delete/"]:  # fmt: skip
        visit(page, f"{base}/me/{path}")
        watch.assert_clean(page)

    # The invitation: its link field selects itself on focus (a listener, no onfocus="").
    visit(page, f"{base}/me/invite/")
    page.locator("form[action='/me/invite/create/'] button").click()
    field = page.locator("input[data-select-on-focus]")
    field.focus()
    selected = field.evaluate("f => f.value.slice(f.selectionStart, f.selectionEnd)")
    assert selected and selected == field.input_value()
    shot(page, "csp-member-invite")
    watch.assert_clean(page)

    # /join/ and the code step (the resend countdown: static/js/otp.js), as a newcomer.
    page, watch = visitor
    visit(page, f"{base}/join/?store=SH01")
    page.locator("input[name=phone]").fill("13700001111")
    page.locator("button[value=send]").click()
    page.locator("input[name=code]").wait_for()
    waiting = page.locator("button[data-wait]")
    if waiting.count():
        first = waiting.first.inner_text()
        page.wait_for_timeout(1200)
        assert waiting.first.inner_text() != first  # the countdown runs
    watch.assert_clean(page)
