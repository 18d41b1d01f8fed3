import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from loyalty.models import EarnRule
from loyalty.purchases import purchase_record

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_a_category_bonus_multiplies_points_and_is_recorded(member):
    EarnRule.objects.create(name="咖啡豆双倍", category="咖啡豆", multiplier=2)
    beans, _ = purchase_record(member=member, amount="88", external_ref="A", category="咖啡豆")
    latte, _ = purchase_record(member=member, amount="88", external_ref="B", category="咖啡")
    assert (beans.points_earned, latte.points_earned) == (176, 88)
    assert "咖啡豆双倍" in beans.earn_rule and "咖啡豆双倍" not in latte.earn_rule
    assert beans.points_entries.get(kind="earn").rule == beans.earn_rule


def test_a_promotion_counts_on_shanghai_days_only(member):
    EarnRule.objects.create(
        name="双十二", multiplier=2, starts_on=dt.date(2026, 12, 12), ends_on=dt.date(2026, 12, 12)
    )
    # 00:30 on the 12th in Shanghai is still the 11th in UTC.
    inside = dt.datetime(2026, 12, 12, 0, 30, tzinfo=SHANGHAI)
    after = dt.datetime(2026, 12, 13, 0, 0, tzinfo=SHANGHAI)
    before = dt.datetime(2026, 12, 11, 23, 59, tzinfo=SHANGHAI)
    now = dt.datetime(2026, 12, 14, tzinfo=SHANGHAI)
    results = [
        purchase_record(member=member, amount="10", external_ref=ref, occurred_at=at, now=now)[0]
        for ref, at in (("IN", inside), ("AFTER", after), ("BEFORE", before))
    ]
    assert [p.points_earned for p in results] == [20, 10, 10]


def test_an_inactive_rule_does_nothing(member):
    EarnRule.objects.create(name="停用", multiplier=3, active=False)
    purchase, _ = purchase_record(member=member, amount="10", external_ref="A")
    assert purchase.points_earned == 10


def test_the_daily_cap_limits_points_per_local_day(member, conf):
    conf.daily_points_cap = 100
    conf.save()
    day = dt.datetime(2026, 11, 20, 10, tzinfo=SHANGHAI)
    first, _ = purchase_record(member=member, amount="80", external_ref="A", occurred_at=day)
    second, _ = purchase_record(
        member=member, amount="80", external_ref="B", occurred_at=day + dt.timedelta(hours=2)
    )
    next_day, _ = purchase_record(
        member=member, amount="80", external_ref="C", occurred_at=day + dt.timedelta(days=1)
    )
    assert [first.points_earned, second.points_earned, next_day.points_earned] == [80, 20, 80]
    assert "100" in second.earn_rule


def test_the_rules_are_named_in_the_same_order_on_the_preview_and_the_ledger(member):
    from loyalty.purchases import purchase_quote
    from tests.loyalty.conftest import card_of

    EarnRule.objects.create(name="Z周末", multiplier=2)
    EarnRule.objects.create(name="A会员", multiplier=3)
    preview = purchase_quote(card=card_of(member), amount="10").earn_rule
    recorded, _ = purchase_record(member=member, amount="10", external_ref="ORDER")
    assert recorded.earn_rule == preview
    assert preview.index("A会员") < preview.index("Z周末")  # by name, as EarnRule.Meta
