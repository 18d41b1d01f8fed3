"""Scheduled jobs with time frozen: Shanghai midnights, month and year ends, leap days.

Every job runs twice for the same day (the second run changes nothing) and the
ledger checks out after each.
"""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError

from campaigns.models import Message
from loyalty.jobs import JOBS, JobFailed, as_of, high_value, run_job
from loyalty.ledger import points_award
from loyalty.models import (
    Card,
    Coupon,
    CouponTemplate,
    JobRun,
    LoyaltySettings,
    PointsEntry,
    Tier,
    TierChange,
)
from loyalty.purchases import purchase_record
from loyalty.tiers import tier_set
from tests.factories import MemberFactory
from tests.loyalty.conftest import card_of

SH = ZoneInfo("Asia/Shanghai")
pytestmark = pytest.mark.django_db


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def run_twice(name, on, assert_ledger_ok):
    first = run_job(name, day(on))
    second = run_job(name, day(on))
    assert_ledger_ok()
    return first.counts, second.counts


@pytest.fixture
def gold(tiers):
    return tiers["金卡"]


# --- the day a job works for ---------------------------------------------------------


def test_a_past_day_is_worked_as_of_its_last_instant(db):
    with time_machine.travel(at(2026, 6, 10, 9), tick=False):
        assert as_of(day("2026-06-10")) == at(2026, 6, 10, 9)
        assert as_of(day("2026-06-09")) == at(2026, 6, 10) - dt.timedelta(microseconds=1)


# --- expire_points --------------------------------------------------------------------


def test_points_expire_after_their_last_shanghai_day_once(member, conf, assert_ledger_ok):
    # Rolling 12 months: earned 31 Jan 2026 (Shanghai), valid through 31 Jan 2027.
    points_award(member=member, points=300, key="a", reason="t", now=at(2026, 1, 31, 23, 30))
    points_award(member=member, points=200, key="b", reason="t", now=at(2026, 3, 1, 10))
    with time_machine.travel(at(2027, 2, 5, 12), tick=False):
        first, second = run_twice("expire_points", "2027-01-31", assert_ledger_ok)
        assert first["points"] == 0  # still valid all of 31 January
        first, second = run_twice("expire_points", "2027-02-01", assert_ledger_ok)
    assert (first["lots"], first["points"], second["lots"]) == (1, 300, 0)
    assert card_of(member).points_balance == 200
    expired = PointsEntry.objects.get(kind="expire")
    assert expired.delta == -300 and expired.balance_after == 200


def test_expiry_by_the_job_and_by_a_member_never_both_happen(member, conf, assert_ledger_ok):
    from loyalty.ledger import points_expire_member

    points_award(member=member, points=100, key="a", reason="t", now=at(2025, 1, 1, 12))
    # Spending after the expiry date expires the lot first (same key as the job's).
    assert points_expire_member(member=member, now=at(2026, 6, 1, 12)) == 100
    with time_machine.travel(at(2026, 6, 2, 12), tick=False):
        assert run_job("expire_points", day("2026-06-02")).counts["lots"] == 0
    assert PointsEntry.objects.filter(kind="expire").count() == 1
    assert_ledger_ok()


def test_expire_many_members_in_batches(store, conf, assert_ledger_ok, monkeypatch):
    import loyalty.jobs

    monkeypatch.setattr(loyalty.jobs, "BATCH", 8)  # 2 members a batch
    members = [MemberFactory(store=store) for _ in range(5)]
    for i, m in enumerate(members):
        points_award(member=m, points=10 + i, key=f"k{i}", reason="t", now=at(2024, 1, 1))
        points_award(member=m, points=5, key=f"j{i}", reason="t", now=at(2024, 2, 1))
    with time_machine.travel(at(2026, 1, 1, 12), tick=False):
        counts = run_job("expire_points", day("2026-01-01")).counts
    assert counts == {"members": 5, "lots": 10, "points": sum(15 + i for i in range(5))}
    assert not Card.objects.filter(points_balance__gt=0).exists()
    assert_ledger_ok()


# --- notify_expiring_points ---------------------------------------------------------


def test_one_notice_per_expiry_day_however_often_the_job_runs(member, conf, assert_ledger_ok):
    conf.notice_days = 30
    conf.save()
    points_award(member=member, points=100, key="a", reason="t", now=at(2025, 12, 20, 9))
    points_award(member=member, points=50, key="b", reason="t", now=at(2025, 12, 20, 18))
    points_award(member=member, points=70, key="c", reason="t", now=at(2026, 1, 5, 9))
    for d in ("2026-12-01", "2026-12-02", "2026-12-10", "2026-12-21"):
        with time_machine.travel(at(*map(int, d.split("-")), 10), tick=False):
            run_job("notify_expiring_points", day(d))
    inbox = Message.objects.filter(member=member, channel="inbox", event="points_expiring")
    # 150 points with last day 2026-12-20, then 70 with last day 2027-01-05.
    assert sorted((m.data["day"], m.data["points"]) for m in inbox) == [
        ("2026-12-20", 150),
        ("2027-01-05", 70),
    ]
    assert "150" in inbox.get(data__day="2026-12-20").body


# --- review_tiers -----------------------------------------------------------------------


def test_three_months_without_a_purchase_goes_down_one_tier(member, gold, owner, conf):
    conf.tier_review_months = 0
    conf.save()
    with time_machine.travel(at(2026, 1, 10, 15), tick=False):
        tier_set(member=member, tier=gold, actor=owner)
        purchase_record(member=member, amount="10", external_ref="P1")
    # Bought on 10 January: three months without a purchase are over at the end of 10 April.
    with time_machine.travel(at(2026, 4, 10, 23, 59), tick=False):
        assert run_job("review_tiers").counts["downgraded_inactive"] == 0
    with time_machine.travel(at(2026, 4, 11, 0, 20), tick=False):
        counts = run_job("review_tiers").counts
        again = run_job("review_tiers").counts
    assert (counts["downgraded_inactive"], again["downgraded_inactive"]) == (1, 0)
    assert card_of(member).tier.name == "银卡"
    change = TierChange.objects.filter(reason="downgrade").get()
    assert change.from_tier == gold and change.note
    # Another three months without a purchase: down one more.
    with time_machine.travel(at(2026, 7, 12, 0, 20), tick=False):
        run_job("review_tiers")
    assert card_of(member).tier.name == "普通会员"


def test_a_warning_comes_before_the_downgrade_once(member, gold, owner, conf):
    conf.tier_review_months = 0
    conf.downgrade_notice_days = 7
    conf.save()
    with time_machine.travel(at(2026, 1, 31, 15), tick=False):
        tier_set(member=member, tier=gold, actor=owner)
    # 31 Jan + 3 months = 30 April (no 31 April): down on 1 May, warned from 24 April.
    for d in ("2026-04-23", "2026-04-24", "2026-04-25"):
        with time_machine.travel(at(*map(int, d.split("-")), 12), tick=False):
            run_job("review_tiers")
    warnings = Message.objects.filter(member=member, event="tier_warning", channel="inbox")
    assert [w.data["day"] for w in warnings] == ["2026-05-01"]
    assert "2026-04-30" in warnings.get().body  # buy by the last day
    assert card_of(member).tier == gold
    with time_machine.travel(at(2026, 4, 30, 23, 59), tick=False):
        run_job("review_tiers")
    assert card_of(member).tier == gold
    with time_machine.travel(at(2026, 5, 1, 0, 20), tick=False):
        run_job("review_tiers")
    assert card_of(member).tier.name == "银卡"


def test_the_review_keeps_or_lowers_the_tier_by_the_keep_threshold(store, gold, owner, conf):
    conf.downgrade_inactive_months = 0
    conf.tier_review_months = 12
    conf.save()
    keeper, loser = MemberFactory(store=store), MemberFactory(store=store)
    with time_machine.travel(at(2025, 3, 1, 10), tick=False):
        for m in (keeper, loser):
            tier_set(member=m, tier=gold, actor=owner)
    assert card_of(keeper).tier_review_on == day("2026-03-01")
    with time_machine.travel(at(2025, 12, 1, 10), tick=False):
        # Gold pays 95%: 1263.16 comes to 1200.00 paid (keep at 1200), 1263.15 to 1199.99.
        purchase_record(member=keeper, amount="1263.16", external_ref="K1")
        purchase_record(member=loser, amount="1263.15", external_ref="L1")
    with time_machine.travel(at(2026, 3, 1, 0, 30), tick=False):
        counts = run_job("review_tiers").counts
        assert run_job("review_tiers").counts["downgraded_review"] == 0
    assert (counts["kept"], counts["downgraded_review"]) == (1, 1)
    assert card_of(keeper).tier == gold and card_of(keeper).tier_review_on == day("2027-03-01")
    assert card_of(loser).tier.name == "银卡"


def test_seeded_cards_without_a_review_day_get_one(member, gold, conf):
    conf.downgrade_inactive_months = 0
    conf.save()
    Card.objects.filter(pk=member.pk).update(tier=gold, tier_since=at(2025, 6, 15, 12))
    with time_machine.travel(at(2026, 1, 1, 12), tick=False):
        run_job("review_tiers")
    assert card_of(member).tier_review_on == day("2026-06-15")


# --- birthday and monthly coupons ----------------------------------------------------------


@pytest.fixture
def birthday_coupon(tiers):
    tpl = CouponTemplate.objects.create(
        name="生日赠饮", kind="gift", gift_name="中杯", value=Decimal("32"), valid_days=14
    )
    Tier.objects.update(birthday_coupon=tpl)
    return tpl


@pytest.mark.parametrize(
    "birthday, run_on, year",
    [
        ("1990-12-03", "2026-11-30", 2026),  # 3 days before
        ("1990-01-02", "2026-12-30", 2027),  # across the year end
        ("1992-02-29", "2027-02-25", 2027),  # no 29 Feb in 2027: on the 28th
        ("1992-02-29", "2028-02-26", 2028),  # a leap year: the 29th itself
    ],
)
def test_the_birthday_coupon_comes_days_before_once_a_year(
    store, birthday_coupon, conf, birthday, run_on, year
):
    member = MemberFactory(store=store, birthday=day(birthday))
    y, m, d = map(int, run_on.split("-"))
    with time_machine.travel(at(y, m, d, 9), tick=False):
        counts = run_job("birthday_benefits").counts
    with time_machine.travel(at(y, m, d, 9) + dt.timedelta(days=1), tick=False):
        again = run_job("birthday_benefits").counts  # the catch-up window sees it again
    assert (counts["issued"], again["issued"]) == (1, 0)
    coupon = Coupon.objects.get(member=member)
    assert coupon.source == "birthday" and coupon.issue_key == f"birthday:{year}:{member.pk}"


def test_no_birthday_coupon_on_other_days(store, birthday_coupon, conf):
    MemberFactory(store=store, birthday=day("1990-12-03"))
    with time_machine.travel(at(2026, 11, 26, 9), tick=False):
        assert run_job("birthday_benefits").counts["issued"] == 0


def test_monthly_coupons_per_tier_once_a_month(store, tiers, owner):
    tpl = CouponTemplate.objects.create(
        name="9 折券", kind="percent", value=Decimal("0.9"), valid_days=31
    )
    counts = {"银卡": 1, "金卡": 2, "钻石卡": 3}
    for name, n in counts.items():
        Tier.objects.filter(name=name).update(monthly_coupon=tpl, monthly_coupon_count=n)
    holders = {}
    for name in ["普通会员", *counts]:
        holders[name] = MemberFactory(store=store)
        if name != "普通会员":
            tier_set(member=holders[name], tier=tiers[name], actor=owner)
    with time_machine.travel(at(2026, 12, 1, 8), tick=False):
        assert run_job("monthly_tier_coupons").counts["issued"] == 6
        assert run_job("monthly_tier_coupons").counts["issued"] == 0
    with time_machine.travel(at(2027, 1, 1, 8), tick=False):
        assert run_job("monthly_tier_coupons").counts["issued"] == 6
    for name, n in counts.items():
        assert Coupon.objects.filter(member=holders[name]).count() == 2 * n
    assert not Coupon.objects.filter(member=holders["普通会员"]).exists()


def test_member_day_multiplies_points(member, conf):
    conf.member_day, conf.member_day_multiplier = 8, Decimal("2")
    conf.save()
    p7, _ = purchase_record(member=member, amount="50", external_ref="D7", now=at(2026, 12, 7, 23))
    p8, _ = purchase_record(
        member=member, amount="50", external_ref="D8", now=at(2026, 12, 8, 0, 1)
    )
    assert (p7.points_earned, p8.points_earned) == (50, 100)
    assert "×2" in p8.earn_rule


# --- lifecycle and RFM -----------------------------------------------------------------------


def test_lifecycle_stages_and_rfm_quintiles(store, conf):
    now = at(2026, 12, 1, 12)
    made = {}
    with time_machine.travel(now - dt.timedelta(days=400), tick=False):
        for name in ("active", "dormant", "churned", "prospect"):
            made[name] = MemberFactory(store=store)
        buyers = [MemberFactory(store=store) for _ in range(10)]
    with time_machine.travel(now - dt.timedelta(days=10), tick=False):
        made["new"] = MemberFactory(store=store)
    purchase_record(
        member=made["active"], amount="10", external_ref="A", now=now - dt.timedelta(days=5)
    )
    purchase_record(
        member=made["dormant"], amount="10", external_ref="D", now=now - dt.timedelta(days=100)
    )
    purchase_record(
        member=made["churned"], amount="10", external_ref="C", now=now - dt.timedelta(days=200)
    )
    for i, m in enumerate(buyers):
        for k in range(i + 1):
            purchase_record(
                member=m,
                amount=str(10 * (i + 1)),
                external_ref=f"B{i}-{k}",
                now=now - dt.timedelta(days=60 - i * 5),
            )
    with time_machine.travel(now, tick=False):
        first = run_job("lifecycle_and_rfm").counts
        second = run_job("lifecycle_and_rfm").counts
    assert (second["stage_changed"], second["scored"]) == (0, 0)
    assert first["stage_changed"] == Card.objects.count()
    stage = {name: card_of(m).lifecycle for name, m in made.items()}
    assert stage == {
        "active": "active",
        "dormant": "dormant",
        "churned": "churned",
        "prospect": "prospect",
        "new": "new",
    }
    top, bottom = card_of(buyers[-1]), card_of(buyers[0])
    assert (top.rfm_r, top.rfm_f, top.rfm_m) == (5, 5, 5)
    assert (bottom.rfm_r, bottom.rfm_f, bottom.rfm_m) == (1, 1, 1)
    # A lapsed buyer is still scored (lowest recency); a member who never bought is not.
    churned = card_of(made["churned"])
    assert (churned.rfm_r, churned.rfm_segment) == (1, "general_win_back")
    assert (card_of(made["prospect"]).rfm_r, card_of(made["prospect"]).rfm_segment) == (0, "")
    assert top.rfm_segment == "champions"
    assert buyers[-1].pk in set(high_value().values_list("pk", flat=True))


# --- the runner and the commands ------------------------------------------------------------


def test_run_job_lists_runs_and_records(db, capsys):
    call_command("run_job", "--list")
    out = capsys.readouterr().out
    assert all(name in out for name in JOBS)
    call_command("run_job", "expire_points", "--date", "2026-11-30")
    out = capsys.readouterr().out
    assert out.startswith("expire_points 2026-11-30:") and "members=0" in out
    run = JobRun.objects.get()
    assert (run.job, run.run_date, run.status) == ("expire_points", day("2026-11-30"), "ok")


@pytest.mark.parametrize(
    "args, message",
    [(["nope"], "unknown job"), (["expire_points", "--date", "30/11/2026"], "YYYY-MM-DD")],
)
def test_run_job_bad_input_is_a_clear_error(db, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("run_job", *args)


def test_a_failed_job_is_recorded_with_its_error(db, monkeypatch):
    import loyalty.jobs

    def broken(day, now=None):
        raise RuntimeError("disk full")

    monkeypatch.setitem(loyalty.jobs.JOBS, "expire_points", (broken, "", ""))
    with pytest.raises(JobFailed):
        run_job("expire_points")
    run = JobRun.objects.get()
    assert run.status == "failed" and "disk full" in run.error and run.finished_at


def test_setup_schedules_is_idempotent(db, capsys):
    from django_q.models import Schedule

    call_command("setup_schedules")
    call_command("setup_schedules")
    schedules = Schedule.objects.filter(name__startswith="huiyuan:")
    assert schedules.count() == len(JOBS)
    expire = schedules.get(name="huiyuan:expire_points")
    assert (expire.cron, expire.func) == ("5 0 * * *", "loyalty.jobs.scheduled")
    # Its next run is 00:05 Shanghai time.
    assert expire.next_run.astimezone(SH).time() == dt.time(0, 5)


def test_the_scheduled_entry_point_runs_for_the_intended_day(db):
    from loyalty.jobs import scheduled

    scheduled("expire_points", scheduled_for="2026-11-30T16:05:00+00:00")  # 00:05 on 1 Dec
    assert JobRun.objects.get().run_date == day("2026-12-01")


def test_settings_exist(conf):
    assert LoyaltySettings.current().downgrade_inactive_months == 3
