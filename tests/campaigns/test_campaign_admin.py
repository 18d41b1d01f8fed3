"""The campaign screens in the admin (issue #22): compose with variants, the checks of
sending.check_campaign shown as form errors, the preview, start sending (in the
background), the progress line, the report; who may do what."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse
from django.utils.html import escape

from campaigns.marketing.models import Campaign, CampaignMember, MarketingSettings, Variant
from campaigns.models import Message, Segment
from loyalty.models import Coupon, CouponTemplate
from loyalty.purchases import purchase_record
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
NOON = dt.datetime(2026, 12, 7, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
ADD = reverse("admin:campaigns_campaign_add")


@pytest.fixture
def template(db):
    return CouponTemplate.objects.create(name="回来喝咖啡", code="back10", value=10, valid_days=14)


@pytest.fixture
def everyone(db):
    return Segment.objects.create(name="全部会员", rules={"all": []})


def compose(segment, template, **fields):
    data = {
        "name": "双十二唤回", "kind": "broadcast", "segment": segment.pk,
        "channels": ["inbox", "wechat"], "title": "想你了", "message": "{name}，送你{coupon}",
        "holdout_percent": 20, "attribution_days": 14, "send_at_0": "", "send_at_1": "",
        "repeat_days": "", "trigger": "", "trigger_days": 0, "delay_days": 0,
        "variants-TOTAL_FORMS": 2, "variants-INITIAL_FORMS": 0,
        "variants-MIN_NUM_FORMS": 1, "variants-MAX_NUM_FORMS": 4,
        "variants-0-name": "A", "variants-0-weight": 1, "variants-0-points": 0,
        "variants-0-coupon_template": template.pk, "variants-0-message": "",
        "variants-1-name": "B", "variants-1-weight": 1, "variants-1-points": 50,
        "variants-1-coupon_template": "", "variants-1-message": "{name}，送你{points}积分",
        "_continue": "1",
    }  # fmt: skip
    return {**data, **fields}


def extra_variants(names: list[str]) -> dict:
    return {
        f"variants-{n}-{key}": value
        for n, name in enumerate(names, start=2)
        for key, value in {"name": name, "weight": 1, "points": 0}.items()
    }


def draft(segment=None, **fields) -> Campaign:
    values = {"name": "唤回", "title": "想你了", "message": "{name}，你好", "holdout_percent": 20,
              "channels": ["inbox"], "segment": segment, **fields}  # fmt: skip
    campaign = Campaign.objects.create(**values)
    Variant.objects.create(campaign=campaign, name="A")
    Variant.objects.create(campaign=campaign, name="B", points=50)
    return campaign


def change_url(campaign):
    return reverse("admin:campaigns_campaign_change", args=[campaign.pk])


def start_url(campaign):
    return reverse("admin:campaigns_campaign_start", args=[campaign.pk])


def report_url(campaign):
    return reverse("admin:campaigns_campaign_report", args=[campaign.pk])


def test_the_owner_composes_a_campaign_with_two_variants(owner_client, owner, everyone, template):
    assert owner_client.get(ADD).status_code == 200
    response = owner_client.post(ADD, compose(everyone, template))
    campaign = Campaign.objects.get()
    assert response.status_code == 302 and response["Location"] == change_url(campaign)
    assert campaign.status == Campaign.Status.DRAFT and campaign.created_by == owner
    assert campaign.channels == ["inbox", "wechat"] and campaign.segment == everyone
    a, b = campaign.variants.order_by("name")
    assert (a.name, a.coupon_template, a.points) == ("A", template, 0)
    assert (b.name, b.coupon_template, b.points) == ("B", None, 50)


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"message": "{name}，送你{colour}"}, "{colour}"),
        ({"variants-1-message": "{nmae}"}, "{nmae}"),
        ({"title": "一" * 21}, "21"),  # WeChat shows 20 characters of a template field
        ({"variants-TOTAL_FORMS": 5, **extra_variants(["C1", "D1", "E1"])}, None),  # at most 4
    ],
)
def test_a_campaign_sending_would_refuse_is_a_form_error(
    owner_client, everyone, template, fields, says
):
    response = owner_client.post(ADD, compose(everyone, template, **fields))
    assert response.status_code == 200
    assert not Campaign.objects.exists()
    errors = response.context["inline_admin_formsets"][0].formset.non_form_errors()
    assert errors
    if says:
        assert says in errors[0]
        page = response.content.decode()
        top = page.index('class="campaign-errors"')
        assert says in page[top : top + 500]  # shown at the top, above the fields


def test_a_long_title_is_fine_without_wechat(owner_client, everyone, template):
    fields = {"title": "一" * 21, "channels": ["inbox"]}
    response = owner_client.post(ADD, compose(everyone, template, **fields))
    assert response.status_code == 302 and Campaign.objects.get().title == "一" * 21


def test_the_preview_shows_the_audience_the_split_and_the_message(
    owner_client, store, other_store, template
):
    MemberFactory(store=store, name="李雷")
    MemberFactory(store=other_store, name="韩梅梅")
    campaign = draft(message="{name}，送你{coupon}，有效期至{expires}")
    Variant.objects.filter(campaign=campaign, name="A").update(coupon_template=template)
    with time_machine.travel(NOON, tick=False):
        response = owner_client.get(change_url(campaign))
    preview = response.context["preview"]
    assert preview["audience"] == 2
    assert [(g["percent"], g["members"]) for g in preview["split"]] == [
        (20, 0), (40, 1), (40, 1),
    ]  # fmt: skip
    first = preview["samples"][0]  # the newest member first
    texts = {t["variant"].name: t["body"] for t in first["texts"]}
    assert texts["A"] == "韩梅梅，送你回来喝咖啡，有效期至2026-12-20"
    assert texts["B"] == "韩梅梅，送你，有效期至"  # B gives no coupon
    page = response.content.decode()
    assert "data-audience>2<" in page and "韩梅梅，送你回来喝咖啡" in page
    assert 'action="' + start_url(campaign) + '"' in page
    # nothing sent, nothing given
    assert not CampaignMember.objects.exists() and not Coupon.objects.exists()
    assert not Message.objects.exists()


def test_a_manager_previews_their_store_but_may_not_send(
    manager_client, store, other_store, everyone
):
    MemberFactory(store=store)
    MemberFactory(store=other_store)
    campaign = draft(segment=everyone)
    response = manager_client.get(change_url(campaign))
    assert response.status_code == 200
    assert response.context["preview"]["audience"] == 1  # their store's only
    assert start_url(campaign) not in response.content.decode()
    assert manager_client.post(start_url(campaign)).status_code == 403
    assert manager_client.post(change_url(campaign), {"name": "改"}).status_code == 403
    assert manager_client.get(report_url(campaign)).status_code == 403
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT and campaign.name == "唤回"
    listing = manager_client.get(reverse("admin:campaigns_campaign_changelist"))
    assert listing.status_code == 200 and "唤回" in listing.content.decode()


def test_start_requires_post(owner_client, everyone):
    campaign = draft(segment=everyone)
    assert owner_client.get(start_url(campaign)).status_code == 405
    assert Campaign.objects.get().status == Campaign.Status.DRAFT


def test_start_sends_in_the_background_then_the_report_tells(
    owner_client, store, everyone, django_capture_on_commit_callbacks
):
    members = [MemberFactory(store=store) for _ in range(10)]
    campaign = draft(segment=everyone)
    with time_machine.travel(NOON, tick=False), django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(start_url(campaign))
    assert response.status_code == 302 and response["Location"] == change_url(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENT and campaign.rules == {"all": []}
    reached = CampaignMember.objects.filter(campaign=campaign)
    assert reached.count() == 10
    sent = reached.filter(outcome=CampaignMember.Outcome.SENT)
    assert Message.objects.filter(campaign_member__in=sent, channel="inbox").count() == sent.count()
    # started once: a second click changes nothing
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(start_url(campaign))
    assert reached.count() == 10
    # the change page shows the progress, no longer the editor's buttons
    page = owner_client.get(change_url(campaign))
    assert page.context["progress"]["done"] == 10 and page.context["progress"]["audience"] == 10
    assert not page.context["progress"]["active"] and 'name="_save"' not in page.content.decode()
    buyer = sent.filter(variant__name="A").first().member
    purchase_record(
        member=buyer, amount="30", external_ref="after", now=NOON + dt.timedelta(days=1)
    )
    report = owner_client.get(report_url(campaign))
    assert report.status_code == 200
    verdicts = report.context["report"]["verdicts"]
    assert verdicts and all(escape(v) in report.content.decode() for v in verdicts)
    assert report.context["too_small"]  # 10 members cannot tell
    assert any("¥30.00" in row["cells"] for row in report.context["rows"])  # the revenue
    download = owner_client.get(report_url(campaign), {"format": "json"})
    assert download.json()["campaign"] == campaign.pk and download.json()["audience"] == 10
    assert members


def test_the_report_gives_a_significant_verdict(owner_client, store):
    campaign = draft(holdout_percent=50, status=Campaign.Status.SENT, send_at=NOON,
                     rules={"all": []})  # fmt: skip
    Variant.objects.filter(campaign=campaign, name="B").delete()
    a = campaign.variants.get()
    for n in range(80):
        member = MemberFactory(store=store)
        variant = a if n % 2 else None
        outcome = "sent" if variant else "holdout"
        CampaignMember.objects.create(campaign=campaign, member=member, variant=variant,
                                      outcome=outcome, assigned_at=NOON)  # fmt: skip
        if (variant and n % 4 != 3) or n in (0, 2):  # 20 of 40 bought in A, 2 of 40 held out
            purchase_record(member=member, amount="20", external_ref=f"p{n}",
                            now=NOON + dt.timedelta(days=2))  # fmt: skip
    response = owner_client.get(report_url(campaign))
    assert not response.context["too_small"]
    [said] = response.context["report"]["verdicts"]
    assert said.endswith("差异显著") and escape(said) in response.content.decode()


def test_the_progress_line_refreshes_until_sent(owner_client, everyone):
    campaign = draft(segment=everyone, status=Campaign.Status.SENDING, rules={"all": []})
    status = reverse("admin:campaigns_campaign_status", args=[campaign.pk])
    response = owner_client.get(status, headers={"HX-Request": "true"})
    assert response.status_code == 200 and 'hx-trigger="every 2s"' in response.content.decode()
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENT)
    response = owner_client.get(status, headers={"HX-Request": "true"})
    assert response["HX-Refresh"] == "true"


def test_a_journey_is_not_started_by_hand(owner_client, everyone):
    campaign = draft(segment=everyone, kind=Campaign.Kind.JOURNEY, trigger="registered")
    page = owner_client.get(change_url(campaign)).content.decode()
    assert start_url(campaign) not in page
    owner_client.post(start_url(campaign))
    assert Campaign.objects.get().status == Campaign.Status.DRAFT


def test_the_list_shows_what_was_sent_in_a_fixed_number_of_queries(
    owner_client, store, everyone, django_assert_num_queries
):
    member = MemberFactory(store=store)
    for n in range(5):
        campaign = draft(segment=everyone, name=f"活动{n}", status=Campaign.Status.SENT)
        CampaignMember.objects.create(campaign=campaign, member=member, outcome="sent")
    url = reverse("admin:campaigns_campaign_changelist")
    with django_assert_num_queries(7):  # the same for 1 campaign or 100
        page = owner_client.get(url)
    assert page.status_code == 200
    assert page.content.decode().count(">1</a>") == 5  # sent to 1 member each
    assert page.content.decode().count(report_url(campaign)) == 1


def test_marketing_settings_are_one_row(owner_client):
    response = owner_client.get(reverse("admin:campaigns_marketingsettings_changelist"))
    assert response.status_code == 302
    assert owner_client.get(response["Location"]).status_code == 200
    assert owner_client.get(reverse("admin:campaigns_marketingsettings_add")).status_code == 403
    url = reverse("admin:campaigns_marketingsettings_delete", args=[1])
    assert owner_client.post(url, {"post": "yes"}).status_code == 403
    assert MarketingSettings.objects.count() == 1
