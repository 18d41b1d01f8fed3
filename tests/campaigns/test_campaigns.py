"""Campaigns (issue #22): assignment, sending through the outbox with consent, the
weekly cap and quiet hours, resuming after a crash, the commands and the report."""

import datetime as dt
import json
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import CommandError, call_command
from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns.marketing import sending
from campaigns.marketing.assign import assign
from campaigns.marketing.models import Campaign, CampaignMember, MarketingSettings, Variant
from campaigns.marketing.sending import campaign_send, next_allowed
from campaigns.models import Message
from loyalty.models import Coupon, CouponTemplate
from loyalty.purchases import purchase_record
from members.services import member_marketing_set
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOON = dt.datetime(2026, 12, 7, 12, 0, tzinfo=SHANGHAI)


# --- assignment ---------------------------------------------------------------------------


class Fake:
    def __init__(self, pk, holdout_percent=10):
        self.pk, self.holdout_percent = pk, holdout_percent


class FakeVariant:
    def __init__(self, name, weight):
        self.name, self.weight = name, weight


@settings(max_examples=40, deadline=None)
@given(
    campaign=st.integers(1, 10**6),
    holdout=st.integers(0, 50),
    weights=st.lists(st.integers(1, 5), min_size=1, max_size=4),
)
def test_assignment_is_deterministic_and_keeps_the_shares(campaign, holdout, weights):
    variants = [FakeVariant(chr(65 + i), w) for i, w in enumerate(weights)]
    c = Fake(campaign, holdout)
    members = range(1, 8001)
    first = [assign(c, variants, m) for m in members]
    assert first == [assign(c, variants, m) for m in members]  # never moves
    held = sum(1 for v in first if v is None) / len(members)
    assert abs(held - holdout / 100) < 0.03
    given_out = [v for v in first if v is not None]
    for variant in variants:
        share = sum(1 for v in given_out if v is variant) / max(len(given_out), 1)
        assert abs(share - variant.weight / sum(weights)) < 0.05


# --- sending ------------------------------------------------------------------------------


@pytest.fixture
def template(db):
    return CouponTemplate.objects.create(name="回来喝咖啡", code="back10", value=10, valid_days=14)


def spec_file(tmp_path, **spec):
    path = tmp_path / "spec.json"
    base = {"name": "唤回", "channels": ["inbox", "sms"], "title": "想你了",
            "message": "{name}，送你{coupon}，有效期至{expires}", "holdout_percent": 20,
            "variants": [{"name": "A", "coupon_template": "back10"},
                         {"name": "B", "points": 50}]}  # fmt: skip
    path.write_text(json.dumps({**base, **spec}, ensure_ascii=False), encoding="utf-8")
    return str(path)


def run(command, *args) -> list[str]:
    out = StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue().strip().splitlines()


def test_create_send_twice_and_report(tmp_path, template, store):
    members = [MemberFactory(store=store) for _ in range(40)]
    for m in members[:10]:
        member_marketing_set(member=m, consent=True)
    with time_machine.travel(NOON, tick=False):
        last = run("campaign_create", "--spec", spec_file(tmp_path))[-1]
        assert last.startswith("campaign=")
        pk = int(last.removeprefix("campaign="))
        assert run("campaign_send", str(pk))[-1] == "reached=40"
        assert run("campaign_send", str(pk))[-1] == "reached=0"  # nothing twice
    campaign = Campaign.objects.get(pk=pk)
    assert campaign.status == Campaign.Status.SENT
    rows = CampaignMember.objects.filter(campaign=campaign)
    held = rows.filter(variant__isnull=True)
    assert rows.count() == 40 and set(held.values_list("outcome", flat=True)) <= {"holdout"}
    sent = rows.filter(outcome="sent")
    assert sent.count() == 40 - held.count()
    # one inbox message per member reached; SMS only for those who said yes
    inbox = Message.objects.filter(campaign_member__campaign=campaign, channel="inbox")
    assert inbox.count() == sent.count()
    sms = Message.objects.filter(campaign_member__campaign=campaign, channel="sms")
    consenting = {m.pk for m in members[:10]}
    assert set(sms.values_list("member_id", flat=True)) <= consenting
    a = sent.filter(variant__name="A")
    assert Coupon.objects.filter(template=template).count() == a.count()
    body = inbox.filter(member_id__in=a.values("member_id")).first().body
    assert "回来喝咖啡" in body and "{" not in body
    assert "有效期至2026-12-20" in body  # 14 days from 12-07, the day of issue being day 1
    # a purchase in the window counts for the member's group
    buyer = a.first().member
    purchase_record(member=buyer, amount="30", external_ref="after-campaign",
                    now=NOON + dt.timedelta(days=2))  # fmt: skip
    data = json.loads("\n".join(run("campaign_report", str(pk), "--json")))
    assert data["campaign"] == pk and data["audience"] == 40
    a_row = next(v for v in data["variants"] if v["name"] == "A")
    assert a_row["purchasers"] == 1 and a_row["revenue"] == "30.00"
    assert a_row["coupons_issued"] == a.count()
    assert set(data["holdout"]) == {"members", "purchasers", "revenue", "conversion"}
    for key in ("conversion_ci", "lift_vs_holdout", "p_value_vs_holdout", "cost", "delivered"):
        assert key in a_row
    assert data["verdicts"]


def test_a_bad_spec_exits_2(tmp_path, template):
    with pytest.raises(CommandError) as bad:
        call_command("campaign_create", "--spec", spec_file(tmp_path, message="{colour}"))
    assert bad.value.returncode == 2
    with pytest.raises(CommandError) as long_title:
        call_command("campaign_create", "--spec",
                     spec_file(tmp_path, channels=["wechat"], title="一" * 21))  # fmt: skip
    assert long_title.value.returncode == 2
    assert not Campaign.objects.exists()


def make(holdout=0, channels=("inbox",), **fields) -> Campaign:
    campaign = Campaign.objects.create(name="测试", title="测试", message="你好{name}",
                                       channels=list(channels), holdout_percent=holdout,
                                       status=Campaign.Status.SCHEDULED, send_at=NOON,
                                       rules={"all": []}, **fields)  # fmt: skip
    Variant.objects.create(campaign=campaign, name="A")
    return campaign


def test_withdrawn_consent_and_the_weekly_cap(store):
    said_no, busy, fine = (MemberFactory(store=store) for _ in range(3))
    member_marketing_set(member=said_no, consent=False)  # withdrew: nothing at all
    MarketingSettings.objects.update_or_create(pk=1, defaults={"weekly_cap": 1})
    earlier = make()
    CampaignMember.objects.create(campaign=earlier, member=busy, outcome="sent",
                                  sent_at=NOON - dt.timedelta(days=3))  # fmt: skip
    Campaign.objects.filter(pk=earlier.pk).update(status=Campaign.Status.SENT)
    campaign = make()
    with time_machine.travel(NOON, tick=False):
        campaign_send(campaign.pk, now=NOON)
    outcome = dict(
        CampaignMember.objects.filter(campaign=campaign).values_list("member_id", "outcome")
    )
    assert outcome == {said_no.pk: "no_consent", busy.pk: "capped", fine.pk: "sent"}


def test_quiet_hours_defer_to_the_morning(store):
    conf = MarketingSettings.current()
    late = dt.datetime(2026, 12, 7, 22, 30, tzinfo=SHANGHAI)
    assert next_allowed(late, conf) == dt.datetime(2026, 12, 8, 9, 0, tzinfo=SHANGHAI)
    early = dt.datetime(2026, 12, 8, 6, 0, tzinfo=SHANGHAI)
    assert next_allowed(early, conf) == dt.datetime(2026, 12, 8, 9, 0, tzinfo=SHANGHAI)
    assert next_allowed(NOON, conf) == NOON
    member = MemberFactory(store=store)
    campaign = make()
    Campaign.objects.filter(pk=campaign.pk).update(send_at=late)
    with time_machine.travel(late, tick=False):
        campaign_send(campaign.pk, now=late)
    message = Message.objects.get(member=member, campaign_member__campaign=campaign)
    assert message.status == Message.Status.PENDING  # not even the inbox, until 09:00
    assert message.next_try_at == dt.datetime(2026, 12, 8, 9, 0, tzinfo=SHANGHAI)


def test_a_crash_half_way_resumes_without_duplicates(store, template, monkeypatch):
    members = [MemberFactory(store=store) for _ in range(12)]
    campaign = make()
    Variant.objects.filter(campaign=campaign).update(coupon_template=template)
    real, calls = sending.deliver, {"n": 0}

    def crashing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 7:
            raise RuntimeError("worker killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(sending, "deliver", crashing)
    with pytest.raises(RuntimeError):
        campaign_send(campaign.pk, now=NOON)
    monkeypatch.setattr(sending, "deliver", real)
    counts = campaign_send(campaign.pk, now=NOON)  # still "sending": picked up again
    assert counts.get("sent") == 12  # the interrupted batch again: its offers and messages keyed
    assert Message.objects.filter(campaign_member__campaign=campaign).count() == 12
    assert Coupon.objects.filter(template=template).count() == 12
    assert Coupon.objects.filter(template=template).values("member").distinct().count() == 12
    assert {m.pk for m in members} == set(
        CampaignMember.objects.filter(campaign=campaign).values_list("member_id", flat=True)
    )


def test_the_holdout_gets_nothing(store, template):
    for _ in range(30):
        MemberFactory(store=store)
    campaign = make(holdout=50)
    Variant.objects.filter(campaign=campaign).update(coupon_template=template, points=10)
    campaign_send(campaign.pk, now=NOON)
    held = CampaignMember.objects.filter(campaign=campaign, variant__isnull=True)
    assert held.exists()
    held_ids = held.values("member_id")
    assert not Message.objects.filter(member_id__in=held_ids).exists()
    assert not Coupon.objects.filter(member_id__in=held_ids, template=template).exists()
