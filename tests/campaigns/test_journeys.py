"""Automated journeys (issue #22) with time frozen: each trigger fires on its day only,
once per occurrence however often the job runs, after its delay; the coupon expiry
job and its notice; the demo campaign and journeys of seed_demo."""

import datetime as dt
import json
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from campaigns.marketing.journeys import journey_start
from campaigns.marketing.models import Campaign, CampaignMember, Variant
from campaigns.marketing.sending import CampaignError
from campaigns.models import Message, Segment
from loyalty.benefits.issuing import coupon_issue
from loyalty.coupons import coupon_redeem
from loyalty.jobs import run_job
from loyalty.ledger import ledger_problems, points_award
from loyalty.models import Coupon, CouponTemplate, LoyaltySettings, PointsEntry, Tier
from loyalty.purchases import purchase_record
from loyalty.tiers import tier_set
from members.models import Member, Tag
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
SH = ZoneInfo("Asia/Shanghai")
Trigger = Campaign.Trigger


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def run_on(text: str, hour: int = 9, minute: int = 15) -> dict:
    """The campaign_journeys job for the day `text`, at its time of day."""
    d = day(text)
    with time_machine.travel(at(d.year, d.month, d.day, hour, minute), tick=False):
        return run_job("campaign_journeys", d).counts


def journey(trigger, n=0, delay=0, holdout=0, template=None, **fields) -> Campaign:
    fields = {"kind": Campaign.Kind.JOURNEY, "status": Campaign.Status.ACTIVE, **fields}
    campaign = Campaign.objects.create(
        name=f"旅程 {trigger}", channels=["inbox"], title="你好", message="{name}，送你{coupon}",
        trigger=trigger, trigger_days=n, delay_days=delay, holdout_percent=holdout, **fields,
    )  # fmt: skip
    Variant.objects.create(campaign=campaign, name="A", coupon_template=template)
    return campaign


def reached(campaign) -> set[tuple[int, str]]:
    rows = CampaignMember.objects.filter(campaign=campaign)
    return set(rows.values_list("member_id", "occurrence"))


def member_at(store, when: dt.datetime, **fields):
    with time_machine.travel(when, tick=False):
        return MemberFactory(store=store, created_at=when, **fields)


def buy(member, when: dt.datetime, amount="30", ref=None):
    with time_machine.travel(when, tick=False):
        purchase_record(member=member, amount=amount, external_ref=ref or f"P-{member.pk}-{when}")


@pytest.fixture
def old(store):
    """A member registered long before the days the tests look at."""
    return member_at(store, at(2025, 1, 10, 12))


# --- each trigger ---------------------------------------------------------------------


def test_registered_fires_on_the_day_and_catches_the_evening_next_morning(store):
    welcome = journey(Trigger.REGISTERED)
    morning = member_at(store, at(2026, 12, 7, 8))
    member_at(store, at(2026, 12, 7, 8), source=Member.Source.IMPORT)  # not a new one
    assert run_on("2026-12-06") == {"journeys": 1, "reached": 0, "sent": 0, "refused": 0}
    first = run_on("2026-12-07")
    assert (first["reached"], first["sent"]) == (1, 1)
    assert run_on("2026-12-07")["reached"] == 0  # the job again: nothing twice
    evening = member_at(store, at(2026, 12, 7, 20))  # after the day's run
    assert run_on("2026-12-08")["reached"] == 1
    assert run_on("2026-12-09")["reached"] == 0
    assert reached(welcome) == {(morning.pk, "2026-12-07"), (evening.pk, "2026-12-07")}
    inbox = Message.objects.filter(campaign_member__campaign=welcome, channel="inbox")
    assert inbox.count() == 2 and inbox.filter(member=morning).get().body.startswith(morning.name)


def test_a_delay_moves_the_day_it_fires(store):
    later = journey(Trigger.REGISTERED, delay=2)
    member = member_at(store, at(2026, 12, 7, 20))
    for text in ("2026-12-07", "2026-12-08"):
        assert run_on(text)["reached"] == 0
    assert run_on("2026-12-09")["reached"] == 1
    assert run_on("2026-12-10")["reached"] == 0
    assert reached(later) == {(member.pk, "2026-12-07")}


def test_first_purchase_fires_once(old, store):
    first = journey(Trigger.FIRST_PURCHASE)
    other = member_at(store, at(2025, 1, 10, 12))
    buy(old, at(2026, 12, 7, 8, 30))
    buy(other, at(2026, 11, 2, 12))  # an earlier first purchase
    buy(other, at(2026, 12, 7, 8, 40))
    assert run_on("2026-12-06")["reached"] == 0
    assert run_on("2026-12-07")["reached"] == 1
    buy(old, at(2026, 12, 9, 12))  # the second purchase is not a first one
    for text in ("2026-12-08", "2026-12-09", "2026-12-10"):
        assert run_on(text)["reached"] == 0
    assert reached(first) == {(old.pk, "2026-12-07")}


def test_no_second_purchase_n_days_after_the_first(old, store):
    nudge = journey(Trigger.NO_SECOND_PURCHASE, n=7)
    came_back = member_at(store, at(2025, 1, 10, 12))
    buy(old, at(2026, 12, 1, 23, 30))  # late evening in Shanghai: still 1 December
    buy(came_back, at(2026, 12, 1, 10))
    buy(came_back, at(2026, 12, 3, 10))
    assert run_on("2026-12-07")["reached"] == 0
    assert run_on("2026-12-08")["reached"] == 1
    assert run_on("2026-12-08")["reached"] == 0
    assert run_on("2026-12-09")["reached"] == 0
    assert reached(nudge) == {(old.pk, "2026-12-01")}


def test_inactive_exactly_n_days_after_the_last_purchase(old, store):
    back = journey(Trigger.INACTIVE, n=30)
    returned = member_at(store, at(2025, 1, 10, 12))
    buy(old, at(2026, 11, 7, 23, 50))
    buy(returned, at(2026, 11, 7, 12))
    buy(returned, at(2026, 11, 20, 12))
    assert run_on("2026-12-06")["reached"] == 0
    assert run_on("2026-12-07")["reached"] == 1
    assert run_on("2026-12-07")["reached"] == 0
    assert run_on("2026-12-08")["reached"] == 0
    assert reached(back) == {(old.pk, "2026-11-07")}
    # Inactive again later: a new occurrence, reached again.
    buy(old, at(2026, 12, 10, 12))
    assert run_on("2027-01-09")["reached"] == 1
    assert reached(back) == {(old.pk, "2026-11-07"), (old.pk, "2026-12-10")}


def test_birthday_n_days_before(store):
    cake = journey(Trigger.BIRTHDAY, n=3)
    member = member_at(store, at(2025, 1, 10, 12), birthday=dt.date(1990, 12, 10))
    member_at(store, at(2025, 1, 10, 12), birthday=dt.date(1990, 12, 11))
    assert run_on("2026-12-06")["reached"] == 0
    assert run_on("2026-12-07")["reached"] == 1
    assert run_on("2026-12-07")["reached"] == 0
    assert run_on("2026-12-08")["reached"] == 1  # the other one, the next day
    assert (member.pk, "2026-12-10") in reached(cake)


def test_a_29_february_birthday_counts_on_28_february_in_a_common_year(store):
    cake = journey(Trigger.BIRTHDAY, n=3)
    leapling = member_at(store, at(2025, 1, 10, 12), birthday=dt.date(2000, 2, 29))
    assert run_on("2027-02-24")["reached"] == 0
    assert run_on("2027-02-25")["reached"] == 1
    assert run_on("2027-02-26")["reached"] == 0
    assert run_on("2028-02-26")["reached"] == 1  # a leap year: 29 February itself
    assert reached(cake) == {(leapling.pk, "2027-02-28"), (leapling.pk, "2028-02-29")}


def test_tier_up_by_a_purchase_or_by_staff_and_not_a_downgrade(old, store, owner):
    up = journey(Trigger.TIER_UP)
    tiers = {t.name: t for t in Tier.objects.all()}
    staff_up, staff_down = (member_at(store, at(2025, 1, 10, 12)) for _ in range(2))
    with time_machine.travel(at(2026, 12, 1, 12), tick=False):
        tier_set(member=staff_down, tier=tiers["金卡"], actor=owner)
    assert run_on("2026-12-07")["reached"] == 0
    buy(old, at(2026, 12, 7, 14), amount="600")  # past 银卡's 500: upgraded
    with time_machine.travel(at(2026, 12, 7, 15), tick=False):
        tier_set(member=staff_up, tier=tiers["钻石卡"], actor=owner)
        tier_set(member=staff_down, tier=tiers["银卡"], actor=owner)
    assert run_on("2026-12-08")["reached"] == 2  # the afternoon's, the next morning
    assert run_on("2026-12-08")["reached"] == 0
    assert reached(up) == {(old.pk, "2026-12-07"), (staff_up.pk, "2026-12-07")}


def test_points_expiring_in_n_days_for_live_lots_only(old, store):
    reminder = journey(Trigger.POINTS_EXPIRING, n=7)
    spent = member_at(store, at(2025, 1, 10, 12))
    # Rolling 12 months: earned 14 December 2025 (late evening in Shanghai), the last
    # day is 14 December 2026.
    points_award(member=old, points=300, key="a", reason="t", now=at(2025, 12, 14, 23, 30))
    points_award(member=old, points=100, key="b", reason="t", now=at(2025, 12, 20, 10))
    points_award(member=spent, points=100, key="gone", reason="t", now=at(2025, 12, 14, 10))
    PointsEntry.objects.filter(idempotency_key="gone").update(remaining=0)  # as if spent
    assert run_on("2026-12-06")["reached"] == 0
    assert run_on("2026-12-07")["reached"] == 1
    assert run_on("2026-12-07")["reached"] == 0
    assert run_on("2026-12-08")["reached"] == 0
    assert run_on("2026-12-13")["reached"] == 1  # the lot of 20 December
    assert reached(reminder) == {(old.pk, "2026-12-14"), (old.pk, "2026-12-20")}


@pytest.fixture
def ten_days(db):
    return CouponTemplate.objects.create(name="十日券", code="ten", value=10, valid_days=10)


def test_coupon_expiring_in_n_days_for_usable_coupons_only(old, store, ten_days):
    reminder = journey(Trigger.COUPON_EXPIRING, n=3)
    used = member_at(store, at(2025, 1, 10, 12))
    with time_machine.travel(at(2026, 12, 1, 10), tick=False):
        coupon, _new = coupon_issue(template=ten_days, member=old)
        spent, _new = coupon_issue(template=ten_days, member=used)
        coupon_redeem(code=spent.code, store=store, member=used)
    assert coupon.valid_until == at(2026, 12, 11)  # usable through 10 December
    assert run_on("2026-12-06")["reached"] == 0
    assert run_on("2026-12-07")["reached"] == 1
    assert run_on("2026-12-07")["reached"] == 0
    assert run_on("2026-12-08")["reached"] == 0
    assert reached(reminder) == {(old.pk, "2026-12-10")}


def test_member_day_reaches_everyone_in_the_segment_on_that_day(store):
    conf = LoyaltySettings.current()
    conf.member_day = 8
    conf.save()
    vip = Tag.objects.create(name="常客")
    regulars = [member_at(store, at(2025, 1, 10, 12), tags=[vip]) for _ in range(3)]
    member_at(store, at(2025, 1, 10, 12))  # not in the segment
    segment = Segment.objects.create(
        name="常客", rules={"all": [{"field": "tag", "op": "eq", "value": "常客"}]}
    )
    party = journey(Trigger.MEMBER_DAY, segment=segment)
    assert run_on("2026-12-07")["reached"] == 0
    assert run_on("2026-12-08")["reached"] == 3
    assert run_on("2026-12-08")["reached"] == 0
    assert run_on("2026-12-09")["reached"] == 0
    assert run_on("2027-01-08")["reached"] == 3  # next month's: a new occurrence
    assert {m for m, _o in reached(party)} == {m.pk for m in regulars}
    conf.member_day = 0
    conf.save()
    assert run_on("2027-02-08")["reached"] == 0


# --- once per occurrence, what is run ---------------------------------------------------


def test_the_offer_and_the_message_are_given_once_and_the_holdout_gets_nothing(store, ten_days):
    welcome = journey(Trigger.REGISTERED, template=ten_days, holdout=30)
    members = [member_at(store, at(2026, 12, 7, 8)) for _ in range(20)]
    run_on("2026-12-07")
    run_on("2026-12-07", hour=16)
    run_on("2026-12-08")
    rows = CampaignMember.objects.filter(campaign=welcome)
    assert set(rows.values_list("member_id", flat=True)) == {m.pk for m in members}
    assert rows.count() == 20
    given = rows.exclude(variant__isnull=True)
    assert set(given.values_list("outcome", flat=True)) == {"sent"}
    assert set(rows.filter(variant__isnull=True).values_list("outcome", flat=True)) <= {"holdout"}
    coupons = Coupon.objects.filter(template=ten_days, issue_key__startswith="campaign:")
    assert coupons.count() == given.count()
    assert set(coupons.values_list("member_id", flat=True)) == set(
        given.values_list("member_id", flat=True)
    )
    messages = Message.objects.filter(campaign_member__campaign=welcome)
    assert messages.count() == given.count() == len({m.member_id for m in messages})


def test_only_active_journeys_whose_time_has_come_run(store):
    paused = journey(Trigger.REGISTERED, status=Campaign.Status.PAUSED)
    later = journey(Trigger.REGISTERED, send_at=at(2026, 12, 8, 9))
    broadcast = journey(Trigger.REGISTERED, kind=Campaign.Kind.BROADCAST)
    member_at(store, at(2026, 12, 7, 8))
    assert run_on("2026-12-07")["journeys"] == 0
    assert run_on("2026-12-08")["journeys"] == 1  # `later` starts, catching yesterday's
    assert reached(later) and not reached(paused) and not reached(broadcast)


def test_a_journey_that_cannot_run_is_left_out_and_the_others_run(store):
    broken = journey(Trigger.INACTIVE, n=0)
    welcome = journey(Trigger.REGISTERED)
    member_at(store, at(2026, 12, 7, 8))
    counts = run_on("2026-12-07")
    assert (counts["refused"], counts["journeys"], counts["reached"]) == (1, 1, 1)
    assert reached(welcome) and not reached(broken)


def test_journey_start_checks_activates_and_fixes_the_rule(store):
    regulars = {"all": [{"field": "purchase_count", "op": "gte", "value": 1}]}
    segment = Segment.objects.create(name="买过的", rules=regulars)
    campaign = journey(Trigger.REGISTERED, segment=segment, status=Campaign.Status.DRAFT)
    journey_start(campaign, now=at(2026, 12, 7, 7))
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.ACTIVE and campaign.rules == regulars
    assert campaign.started_at == at(2026, 12, 7, 7)
    # A later edit of the segment does not move the journey's audience.
    Segment.objects.filter(pk=segment.pk).update(rules={"all": []})
    member_at(store, at(2026, 12, 7, 8))  # never bought: outside the rule
    assert run_on("2026-12-07")["reached"] == 0
    draft = Campaign.Status.DRAFT
    for bad in (journey("", status=draft), journey(Trigger.INACTIVE, n=0, status=draft)):
        with pytest.raises(CampaignError):
            journey_start(bad)
        bad.refresh_from_db()
        assert bad.status == Campaign.Status.DRAFT


# --- coupons: the expiry job and the notice ----------------------------------------------


def test_expire_coupons_job_expires_once(old, ten_days):
    with time_machine.travel(at(2026, 12, 1, 10), tick=False):
        coupon, _new = coupon_issue(template=ten_days, member=old)
    with time_machine.travel(at(2026, 12, 11, 1), tick=False):
        assert run_job("expire_coupons", day("2026-12-10")).counts == {"coupons": 0}
        assert run_job("expire_coupons", day("2026-12-11")).counts == {"coupons": 1}
        assert run_job("expire_coupons", day("2026-12-11")).counts == {"coupons": 0}
    coupon.refresh_from_db()
    assert coupon.status == Coupon.Status.EXPIRED
    assert coupon.events.filter(kind="expired").count() == 1


def expiring_notices():
    return Message.objects.filter(event=Message.Event.COUPON_EXPIRING, channel="inbox")


def test_the_coupon_expiring_notice_comes_once_within_the_notice_days(old, store, ten_days):
    conf = LoyaltySettings.current()
    assert conf.coupon_notice_days == 3
    used = member_at(store, at(2025, 1, 10, 12))
    with time_machine.travel(at(2026, 12, 1, 10), tick=False):
        coupon, _new = coupon_issue(template=ten_days, member=old)
        spent, _new = coupon_issue(template=ten_days, member=used)
        coupon_redeem(code=spent.code, store=store, member=used)

    def notify(text):
        d = day(text)
        with time_machine.travel(at(d.year, d.month, d.day, 10, 10), tick=False):
            return run_job("notify_expiring_coupons", d).counts["notices"]

    assert notify("2026-12-06") == 0  # last day 10 December: 4 days ahead
    assert notify("2026-12-07") == 1
    assert notify("2026-12-08") == 1  # found again, but told once (the key)
    assert expiring_notices().count() == 1
    notice = expiring_notices().get()
    assert notice.member_id == old.pk and "十日券" in notice.body and "2026-12-10" in notice.body
    assert notice.data["coupon"] == coupon.pk


def test_a_coupon_issued_today_is_told_tomorrow_and_zero_days_means_none(old, db):
    short = CouponTemplate.objects.create(name="两日券", code="two", value=5, valid_days=2)
    with time_machine.travel(at(2026, 12, 7, 9), tick=False):
        coupon_issue(template=short, member=old)
        assert run_job("notify_expiring_coupons", day("2026-12-07")).counts["notices"] == 0
    with time_machine.travel(at(2026, 12, 8, 10, 10), tick=False):
        assert run_job("notify_expiring_coupons", day("2026-12-08")).counts["notices"] == 1
    LoyaltySettings.objects.update(coupon_notice_days=0)
    with time_machine.travel(at(2026, 12, 8, 10, 10), tick=False):
        assert run_job("notify_expiring_coupons", day("2026-12-08")).counts == {"notices": 0}
    assert expiring_notices().count() == 1


# --- the demo ------------------------------------------------------------------------------


def test_seed_demo_makes_a_finished_ab_campaign_with_a_result_and_two_journeys(db):
    call_command("seed_demo", "--members", "200", stdout=StringIO())
    broadcast = Campaign.objects.get(kind=Campaign.Kind.BROADCAST)
    assert broadcast.status == Campaign.Status.SENT
    assert broadcast.finished_at < timezone.now() - dt.timedelta(days=15)  # time-shifted
    out = StringIO()
    call_command("campaign_report", str(broadcast.pk), "--json", stdout=out)
    data = json.loads(out.getvalue())
    variants = {v["name"]: v for v in data["variants"]}
    assert set(variants) == {"A", "B"}
    assert all(v["members"] > 0 and v["purchasers"] > 0 for v in variants.values())
    assert variants["A"]["coupons_issued"] > 0 and variants["B"]["coupons_issued"] > 0
    assert data["holdout"]["members"] > 0
    given = sum(v["members"] for v in variants.values())
    assert data["audience"] == given + data["holdout"]["members"]
    assert data["verdicts"]
    journeys = Campaign.objects.filter(kind=Campaign.Kind.JOURNEY, status=Campaign.Status.ACTIVE)
    assert sorted(journeys.values_list("trigger", flat=True)) == ["birthday", "inactive"]
    assert not ledger_problems()
    # Again: nothing made twice.
    call_command("seed_demo", "--members", "5", stdout=StringIO())
    assert Campaign.objects.count() == 3
