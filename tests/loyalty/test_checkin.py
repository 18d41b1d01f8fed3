"""Daily check-in (签到): one a Shanghai day, points each time, a streak bonus on day N, 2N ..."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from loyalty.benefits.engagement import AlreadyCheckedIn, checkin
from loyalty.ledger import points_spend
from loyalty.models import CheckIn, Coupon, CouponTemplate, PointsEntry
from loyalty.purchases import purchase_record, purchase_refund
from tests.factories import MemberFactory
from tests.loyalty.conftest import card_of
from tests.loyalty.test_concurrency import CLIENTS, run_at_once

SH = ZoneInfo("Asia/Shanghai")
pytestmark = pytest.mark.django_db


def at(*args, tz=SH) -> dt.datetime:
    return dt.datetime(*args, tzinfo=tz)


def checkin_at(member, when: dt.datetime) -> CheckIn:
    with time_machine.travel(when, tick=False):
        return checkin(member=member)


def checkin_on(member, day: dt.date, hour: int = 9) -> CheckIn:
    return checkin_at(member, at(day.year, day.month, day.day, hour))


def days_from(first: dt.date, n: int) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range(n)]


@pytest.fixture
def streak_of_3(conf):
    conf.checkin_points, conf.checkin_streak_days, conf.checkin_streak_points = 5, 3, 20
    conf.save()
    return conf


def test_it_gives_the_check_in_points_once_a_day(member, streak_of_3, assert_ledger_ok):
    row = checkin_at(member, at(2026, 12, 1, 9))
    assert (row.day, row.streak, row.points, row.bonus_points) == (dt.date(2026, 12, 1), 1, 5, 0)
    entry = PointsEntry.objects.get(member=member)
    assert (entry.kind, entry.delta, entry.remaining) == ("earn", 5, 5)
    assert entry.source == "checkin:2026-12-01"
    assert card_of(member).points_balance == 5

    with pytest.raises(AlreadyCheckedIn) as refused:
        checkin_at(member, at(2026, 12, 1, 21))
    assert (refused.value.status, refused.value.code) == (409, "already_checked_in")
    assert PointsEntry.objects.filter(member=member).count() == 1
    assert CheckIn.objects.filter(member=member).count() == 1
    assert card_of(member).points_balance == 5
    assert_ledger_ok()


def test_the_day_turns_at_shanghai_midnight_not_utc(member, streak_of_3, assert_ledger_ok):
    # Both instants are on 1 December in UTC, but 23:59:59 and 00:00:00 in Shanghai.
    last_second = checkin_at(member, at(2026, 12, 1, 15, 59, 59, tz=dt.UTC))
    first_second = checkin_at(member, at(2026, 12, 1, 16, 0, 0, tz=dt.UTC))
    assert (last_second.day, first_second.day) == (dt.date(2026, 12, 1), dt.date(2026, 12, 2))
    assert first_second.streak == 2
    with pytest.raises(AlreadyCheckedIn):
        checkin_at(member, at(2026, 12, 1, 16, 0, 1, tz=dt.UTC))
    assert card_of(member).points_balance == 10
    assert_ledger_ok()


def test_the_day_is_shanghais_whatever_timezone_a_request_activated(member, streak_of_3):
    with timezone.override(ZoneInfo("Europe/London")):
        row = checkin_at(member, at(2026, 12, 1, 16, 0, 0, tz=dt.UTC))
    assert row.day == dt.date(2026, 12, 2)


def test_two_utc_dates_within_one_shanghai_day_are_one_day(member, streak_of_3):
    checkin_at(member, at(2026, 12, 2, 0, 0, 0))  # 1 December 16:00 UTC
    with pytest.raises(AlreadyCheckedIn):
        checkin_at(member, at(2026, 12, 2, 23, 59, 59))  # 2 December 15:59:59 UTC
    assert list(CheckIn.objects.values_list("day", flat=True)) == [dt.date(2026, 12, 2)]


def test_the_streak_bonus_comes_on_day_n_and_2n(member, streak_of_3, assert_ledger_ok):
    rows = [checkin_on(member, day) for day in days_from(dt.date(2026, 12, 1), 7)]
    assert [r.streak for r in rows] == [1, 2, 3, 4, 5, 6, 7]
    assert [r.bonus_points for r in rows] == [0, 0, 20, 0, 0, 20, 0]
    bonus = PointsEntry.objects.filter(idempotency_key__endswith=":streak").order_by("id")
    assert [e.created_at.astimezone(SH).day for e in bonus] == [3, 6]
    assert card_of(member).points_balance == 7 * 5 + 2 * 20
    assert_ledger_ok()


def test_a_missed_day_starts_the_streak_again(member, streak_of_3, assert_ledger_ok):
    first, second = (checkin_on(member, d) for d in days_from(dt.date(2026, 12, 1), 2))
    # 3 December missed: the 4th is day 1 again, and the bonus waits for the 6th.
    again = [checkin_on(member, d) for d in days_from(dt.date(2026, 12, 4), 3)]
    assert [r.streak for r in (first, second, *again)] == [1, 2, 1, 2, 3]
    assert [r.bonus_points for r in (first, second, *again)] == [0, 0, 0, 0, 20]
    assert card_of(member).points_balance == 5 * 5 + 20
    assert_ledger_ok()


def test_a_day_missed_by_one_second_breaks_the_streak(member, streak_of_3):
    checkin_at(member, at(2026, 12, 1, 0, 0, 0))
    # Midnight to midnight-minus-a-second two days later: the whole of 2 December is missed.
    late = checkin_at(member, at(2026, 12, 3, 23, 59, 59))
    assert late.streak == 1
    next_day = checkin_at(member, at(2026, 12, 4, 0, 0, 0))
    assert next_day.streak == 2


def test_the_streak_bonus_brings_the_coupon_when_one_is_set(member, streak_of_3, assert_ledger_ok):
    tpl = CouponTemplate.objects.create(
        name="连签赠饮", kind="gift", gift_name="中杯美式", valid_days=7, per_member_limit=1
    )
    streak_of_3.checkin_streak_coupon = tpl
    streak_of_3.save()

    rows = [checkin_on(member, day) for day in days_from(dt.date(2026, 12, 1), 6)]
    assert [r.coupon is not None for r in rows] == [False, False, True, False, False, True]
    coupons = Coupon.objects.filter(member=member).order_by("id")
    # The template's per-member limit of 1 does not stop the second streak's coupon.
    assert [c.source for c in coupons] == [Coupon.Source.CHECKIN] * 2
    assert {c.issue_key for c in coupons} == {
        f"checkin:{member.pk}:2026-12-03:coupon",
        f"checkin:{member.pk}:2026-12-06:coupon",
    }
    assert CheckIn.objects.get(day=dt.date(2026, 12, 3)).coupon == coupons[0]
    assert_ledger_ok()


def test_an_out_of_stock_streak_coupon_still_gives_the_points(member, streak_of_3):
    tpl = CouponTemplate.objects.create(
        name="连签赠饮", kind="gift", gift_name="中杯美式", valid_days=7, stock=0
    )
    streak_of_3.checkin_streak_coupon = tpl
    streak_of_3.save()
    rows = [checkin_on(member, day) for day in days_from(dt.date(2026, 12, 1), 3)]
    assert rows[2].coupon is None and rows[2].bonus_points == 20
    assert not Coupon.objects.exists()
    assert CouponTemplate.objects.get(pk=tpl.pk).issued_count == 0
    assert card_of(member).points_balance == 3 * 5 + 20


def test_no_bonus_when_the_streak_days_are_zero(member, conf, assert_ledger_ok):
    conf.checkin_streak_days = 0
    conf.save()
    rows = [checkin_on(member, day) for day in days_from(dt.date(2026, 12, 1), 8)]
    assert rows[-1].streak == 8 and not any(r.bonus_points for r in rows)
    assert card_of(member).points_balance == 8 * conf.checkin_points
    assert_ledger_ok()


def test_a_check_in_without_points_is_still_recorded(member, conf):
    conf.checkin_points, conf.checkin_streak_days = 0, 0
    conf.save()
    row = checkin_at(member, at(2026, 12, 1, 9))
    assert row.pk and row.points == 0
    assert not PointsEntry.objects.exists()
    with pytest.raises(AlreadyCheckedIn):
        checkin_at(member, at(2026, 12, 1, 10))


def test_check_in_points_repay_owed_points_first(member, streak_of_3, assert_ledger_ok):
    with time_machine.travel(at(2026, 11, 30, 12), tick=False):
        purchase, _ = purchase_record(member=member, amount="100", external_ref="P-1")
        points_spend(member=member, points=100, key="gift", reason="兑换")
        purchase_refund(purchase=purchase)  # the 100 points earned are owed now
    assert (card_of(member).points_balance, card_of(member).points_debt) == (0, 100)
    checkin_at(member, at(2026, 12, 1, 9))
    card = card_of(member)
    assert (card.points_balance, card.points_debt) == (0, 95)
    assert_ledger_ok()


@pytest.mark.django_db(transaction=True)
def test_sixteen_taps_at_once_check_in_once(store, assert_ledger_ok):
    member = MemberFactory(store=store)

    with time_machine.travel(at(2026, 12, 1, 9), tick=False):
        results = run_at_once(lambda i: checkin(member=member))
    won = [r for r in results if isinstance(r, CheckIn)]
    lost = [r for r in results if isinstance(r, AlreadyCheckedIn)]
    assert (len(won), len(lost)) == (1, CLIENTS - 1), results
    assert CheckIn.objects.filter(member=member).count() == 1
    assert card_of(member).points_balance == won[0].points + won[0].bonus_points
    assert_ledger_ok()
