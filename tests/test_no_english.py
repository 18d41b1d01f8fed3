"""No English on a Chinese page (issue 24): the staff screens, the admin's index and
lists, and the member centre, rendered in zh-hans after a day of activity, show none of
the English words a newcomer met (Django's and the third-party apps' texts, channel and
job codes, raw audit diffs). Only the visible text counts: tags, attributes, URLs,
scripts and styles are left out.

The admin lists its sections in the merchant's order (config/admin_site.py), the 360
timeline says what staff did in sentences (loyalty/counter/audit_sentences.py), and the
job runs say what ran and what it did (loyalty/admin/job_labels.py)."""

import re
import secrets
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.urls import URLPattern, get_resolver, reverse

from campaigns.models import Message
from loyalty import jobs, rules
from loyalty.counter.services import counter_purchase, counter_top_up
from loyalty.ledger import points_adjust
from loyalty.models import JobRun, LoyaltySettings, Purchase, Tier
from loyalty.tiers import tier_set
from members.services import member_update
from members.tagging import member_tag_add
from tests.centre import sign_in
from tests.factories import MemberFactory, TagFactory

pytestmark = pytest.mark.django_db

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}

# Whole words, case-sensitive: Django's and the apps' English, channel and job codes.
ENGLISH_WORDS = [
    "Choose", "Chosen", "Available", "Save", "Delete", "Add", "Change", "Remove", "Search",
    "Filter", "Show all", "Clear all filters", "Home", "History", "Logout", "Log out",
    "Log in", "Forbidden", "Not Found", "Seconds", "SECONDS", "Counts", "Job", "None",
    "console", "inbox", "wechat", "Model name", "Add link", "Time Taken", "Started at",
    "Stopped at", "Function", "Task", "Cluster",
]  # fmt: skip
ENGLISH = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in ENGLISH_WORDS) + r")\b")
# A code in snake_case (expire_points, points_used): never meant for the reader.
CODE = re.compile(r"(?<![\w.:/-])[a-z]+(?:_[a-z]+)+(?![\w.:/-])")
RAW_DIFF = re.compile(r"\w+: — → ")


class VisibleText(HTMLParser):
    """The text a reader sees: no script, style or template content, no attributes."""

    HIDDEN = {"script", "style", "template", "noscript"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.lines, self.depth = [], 0

    def handle_starttag(self, tag, attrs):
        self.depth += tag in self.HIDDEN

    def handle_endtag(self, tag):
        self.depth -= tag in self.HIDDEN and self.depth > 0

    def handle_data(self, data):
        if not self.depth and data.strip():
            self.lines.append(" ".join(data.split()))


def visible_lines(html: str) -> list[str]:
    parser = VisibleText()
    parser.feed(html)
    return parser.lines


def english_on(client, urls) -> dict[str, list[str]]:
    """{url: the lines with English} for the pages that answered 200 (or 403, 404: their
    error pages), rendered in zh-hans."""
    found = {}
    for url in urls:
        response = client.get(url, **ZH)
        assert response.status_code in (200, 403, 404, 405), f"{url}: {response.status_code}"
        if response.status_code == 405 or "html" not in response["Content-Type"]:
            continue  # a form's POST-only address, a JSON or file answer
        bad = [
            line
            for line in visible_lines(response.content.decode())
            if ENGLISH.search(line) or CODE.search(line) or RAW_DIFF.search(line)
        ]
        if bad:
            found[url] = bad
    return found


def urls_of(module: str, prefix: str, **args) -> list[str]:
    """Every GET address of a URLconf whose arguments are known (member_no, pk)."""
    urls = []
    for pattern in get_resolver(module).url_patterns:
        if not isinstance(pattern, URLPattern):
            continue
        route = str(pattern.pattern)
        names = re.findall(r"<(?:\w+:)?(\w+)>", route)
        if any(name not in args for name in names):
            continue
        for name in names:
            route = re.sub(rf"<(?:\w+:)?{name}>", str(args[name]), route)
        urls.append(prefix + route)
    return urls


@pytest.fixture
def day(store, clerk, owner):
    """A member's day at the counter: a purchase paying with points, a top-up, a manual
    adjustment, a tier set by the owner, a profile edit and a tag; the notices they sent
    (inbox and console), and the jobs' runs."""
    LoyaltySettings.current()  # the row exists (a flushed database has none)
    LoyaltySettings.objects.update(spend_needs_dynamic_code=False)  # the static number pays
    rules.forget()
    member = MemberFactory(store=store, name="韩梅梅", phone="13800138000")
    points_adjust(member=member, delta=500, reason="开卡赠送", actor=clerk)
    counter_purchase(member=member, actor=clerk, store=store, amount=Decimal("268.50"),
                     token=secrets.token_urlsafe(9), points_to_use=100)  # fmt: skip
    counter_top_up(member=member, actor=clerk, store=store, amount=Decimal("500"),
                   token=secrets.token_urlsafe(9), tender="wechat_pay")  # fmt: skip
    tier_set(member=member, tier=Tier.objects.order_by("-level").first(), actor=owner,
             note="老顾客")  # fmt: skip
    member_update(member=member, actor=clerk, note="喜欢拿铁")
    member_tag_add(member=member, tag=TagFactory(name="咖啡控"), actor=clerk)
    for name in ("expire_points", "send_messages", "review_tiers"):
        jobs.run_job(name)
    return member


def test_the_staff_screens_have_no_english(client, clerk, day):
    client.force_login(clerk)
    purchase = Purchase.objects.get(member=day)
    urls = urls_of("loyalty.counter.urls", "/staff/", member_no=day.member_no, pk=purchase.pk)
    urls += [f"/staff/?q={day.member_no}", "/staff/members/999999999/"]  # a card, a 404
    assert f"/staff/members/{day.member_no}/" in urls
    assert english_on(client, urls) == {}


def test_the_admin_has_no_english(owner_client, day):
    assert JobRun.objects.exists() and Message.objects.filter(channel="console").exists()
    urls = ["/admin/"] + [
        reverse(f"admin:{name}_changelist")
        for name in (
            "loyalty_jobrun", "campaigns_message", "campaigns_campaign", "loyalty_coupontemplate",
            "members_member", "loyalty_purchase", "django_q_schedule", "django_q_success",
            "django_q_failure", "axes_accessattempt",
        )
    ]  # fmt: skip
    urls += [reverse("admin:loyalty_coupontemplate_add")]
    assert english_on(owner_client, urls) == {}


def test_the_member_centre_has_no_english(client, day):
    sign_in(client, day)
    urls = urls_of("loyalty.centre.urls", "/me/") + urls_of(
        "campaigns.member_urls", "/me/messages/"
    )
    urls += ["/me/account/", "/me/profile/", "/me/privacy/", "/me/privacy/marketing/"]
    assert "/me/" in urls and "/me/messages/" in urls
    assert english_on(client, urls) == {}


def test_the_timeline_says_what_staff_did_in_sentences(client, clerk, day):
    client.force_login(clerk)
    response = client.get(reverse("staff:member", args=[day.member_no]), **ZH)
    details = [e.detail for e in response.context["timeline"] if e.kind == "audit"]
    text = "\n".join(details)
    assert "记录消费 ¥268.50" in text and "使用 100 积分" in text
    assert "积分调整 +500" in text and "（原因：开卡赠送）" in text
    assert "储值充值 ¥500.00" in text and "支付方式：微信支付" in text
    assert "等级调整：" in text and "（原因：老顾客）" in text
    assert "员工备注：喜欢拿铁" in text and "添加标签：咖啡控" in text
    assert "counter:" not in text and "points_used" not in text and "—" not in text
    # The notices by their channels' names, never the codes.
    messages = [e.detail for e in response.context["timeline"] if e.kind == "message"]
    assert messages and all("会员中心消息" in m and "开发日志" in m for m in messages)


def test_the_admin_lists_the_merchants_sections_first(owner_client):
    response = owner_client.get("/admin/", **ZH)
    apps = [app["app_label"] for app in response.context["app_list"]]
    assert apps[:4] == ["members", "loyalty", "campaigns", "wechat"]
    assert apps[-2:] == ["axes", "django_q"]
    loyalty = next(app for app in response.context["app_list"] if app["app_label"] == "loyalty")
    models = [m["object_name"] for m in loyalty["models"]]
    assert models[:3] == ["LoyaltySettings", "Tier", "EarnRule"] and models[-1] == "JobRun"
    # The sidebar of every admin page is the same list.
    page = owner_client.get(reverse("admin:loyalty_tier_changelist"), **ZH)
    assert [a["app_label"] for a in page.context["available_apps"]] == apps


def test_the_job_runs_say_what_ran_and_what_it_did(owner_client, day):
    jobs.run_job("expire_points")
    page = owner_client.get(reverse("admin:loyalty_jobrun_changelist"), **ZH).content.decode()
    text = "\n".join(visible_lines(page))
    assert "过期积分清零" in text and "发送消息" in text  # the jobs by what they do
    assert "耗时" in text and " 秒" in text
    assert "已发送 " in text  # send_messages' counts as a sentence, not JSON
    assert "expire_points" not in text and '{"' not in text
    # Every job there is has a name and its counts' keys have labels.
    from loyalty.admin.job_labels import COUNT_LABELS, JOB_LABELS

    assert set(jobs.JOBS) <= set(JOB_LABELS)
    for run in JobRun.objects.all():
        assert set(run.counts) <= set(COUNT_LABELS), run.counts


def test_message_channels_are_named(owner_client, day):
    url = reverse("admin:campaigns_message_changelist")
    page = owner_client.get(url, **ZH).content.decode()
    lines = visible_lines(page)
    assert "会员中心消息" in lines and "开发日志" in lines
    assert "console" not in lines and "inbox" not in lines
    # The filter by channel, by name, still filters.
    filtered = owner_client.get(url + "?channel=console", **ZH)
    assert filtered.status_code == 200
    assert {m.channel for m in filtered.context["cl"].result_list} == {"console"}


def test_the_admins_change_pages_have_no_english(owner_client, day):
    """Every registered model's add page and the change page of its first row (the day's
    rows: a member, a purchase, ledger entries, job runs, messages, audit entries ...)."""
    from django.contrib import admin

    from loyalty.benefits.issuing import coupon_issue
    from loyalty.models import ApiKey, CountCardTemplate, CouponTemplate

    template = CouponTemplate.objects.create(
        name="立减 10 元", kind="cash", value=10, valid_days=30
    )
    coupon_issue(member=day, template=template, key="crawl")
    CountCardTemplate.objects.create(code="wash", name="洗车 10 次卡", uses=10, price=300)
    ApiKey.issue(store=day.store, name="收银机 1")
    urls = []
    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        if model_admin.has_add_permission(_owner_request(owner_client)):
            urls.append(reverse("admin:{}_{}_add".format(*info)))
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            urls.append(reverse("admin:{}_{}_change".format(*info), args=[first.pk]))
    assert "/admin/loyalty/jobrun/" in " ".join(urls) and len(urls) > 30
    assert english_on(owner_client, urls) == {}


def _owner_request(client):
    from django.test import RequestFactory

    from members.models import User

    request = RequestFactory().get("/admin/")
    request.user = User.objects.get(username="owner")
    return request
