import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from loyalty.errors import NotEnoughPoints
from loyalty.ledger import (
    expiry_for,
    points_adjust,
    points_award,
    points_expire_member,
    points_spend,
)
from loyalty.models import LoyaltySettings, PointsEntry
from members.models import AuditEntry
from tests.loyalty.conftest import card_of

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_an_award_is_given_once_per_key(member, assert_ledger_ok):
    first, created = points_award(
        member=member, points=20, key="checkin:1:2026-11-25", reason="签到"
    )
    again, created_again = points_award(
        member=member, points=20, key="checkin:1:2026-11-25", reason="签到"
    )
    assert created and not created_again and again == first
    assert card_of(member).points_balance == 20
    assert_ledger_ok()


def test_spending_is_once_per_key_and_never_below_zero(member, assert_ledger_ok):
    points_award(member=member, points=100, key="a", reason="礼品")
    points_spend(member=member, points=60, key="reward:1", reason="兑换")
    points_spend(member=member, points=60, key="reward:1", reason="兑换")
    assert card_of(member).points_balance == 40
    with pytest.raises(NotEnoughPoints):
        points_spend(member=member, points=41, key="reward:2", reason="兑换")
    assert_ledger_ok()


def test_lots_expiring_sooner_are_spent_first(member, conf):
    late = dt.datetime(2027, 6, 1, tzinfo=SHANGHAI)
    soon = dt.datetime(2027, 1, 1, tzinfo=SHANGHAI)
    points_award(member=member, points=100, key="late", reason="x", expires_at=late)
    points_award(member=member, points=100, key="soon", reason="x", expires_at=soon)
    points_spend(member=member, points=150, key="spend", reason="x")
    lots = {e.idempotency_key: e.remaining for e in PointsEntry.objects.filter(kind="earn")}
    assert lots == {"late": 50, "soon": 0}


def test_rolling_expiry_lasts_through_the_last_shanghai_day():
    conf = LoyaltySettings(expiry_policy="rolling", expiry_months=12)
    earned = dt.datetime(2026, 1, 31, 15, 0, tzinfo=SHANGHAI)
    assert expiry_for(earned, conf) == dt.datetime(2027, 2, 1, 0, 0, tzinfo=SHANGHAI)
    # Earned 23:30 UTC on 29 Feb 2028 is 1 March in Shanghai.
    assert expiry_for(dt.datetime(2028, 2, 29, 23, 30, tzinfo=dt.UTC), conf) == dt.datetime(
        2029, 3, 2, tzinfo=SHANGHAI
    )
    leap = dt.datetime(2028, 2, 29, 12, tzinfo=SHANGHAI)
    assert expiry_for(leap, conf) == dt.datetime(2029, 3, 1, tzinfo=SHANGHAI)  # 28 Feb 2029 is last


def test_end_of_next_year_and_never_policies():
    earned = dt.datetime(2026, 3, 5, tzinfo=SHANGHAI)
    conf = LoyaltySettings(expiry_policy="next_year_end")
    assert expiry_for(earned, conf) == dt.datetime(2028, 1, 1, tzinfo=SHANGHAI)
    assert expiry_for(earned, LoyaltySettings(expiry_policy="never")) is None


def test_expired_lots_leave_through_an_expire_row_and_cannot_be_spent(member, assert_ledger_ok):
    expires = dt.datetime(2026, 12, 1, tzinfo=SHANGHAI)
    points_award(member=member, points=80, key="old", reason="x", expires_at=expires)
    points_award(member=member, points=30, key="new", reason="x", expires_at=None)
    just_before = expires - dt.timedelta(microseconds=1)
    assert points_expire_member(member=member, now=just_before) == 0
    with pytest.raises(NotEnoughPoints):
        points_spend(member=member, points=50, key="s", reason="x", now=expires)
    # The failed spend rolled back whole; the nightly expiry then takes the 80.
    assert card_of(member).points_balance == 110
    assert points_expire_member(member=member, now=expires) == 80
    assert card_of(member).points_balance == 30
    points_spend(member=member, points=30, key="s2", reason="x", now=expires)
    assert_ledger_ok()


def test_expiring_twice_writes_one_row(member, assert_ledger_ok):
    expires = dt.datetime(2026, 12, 1, tzinfo=SHANGHAI)
    points_award(member=member, points=80, key="old", reason="x", expires_at=expires)
    assert points_expire_member(member=member, now=expires) == 80
    assert points_expire_member(member=member, now=expires) == 0
    assert PointsEntry.objects.filter(kind="expire").count() == 1
    assert_ledger_ok()


def test_a_manual_adjustment_needs_a_reason_and_is_audited(member, manager, assert_ledger_ok):
    with pytest.raises(ValidationError):
        points_adjust(member=member, delta=100, reason=" ", actor=manager)
    points_adjust(member=member, delta=100, reason="补录积分", actor=manager)
    points_adjust(member=member, delta=-30, reason="误操作扣回", actor=manager)
    assert card_of(member).points_balance == 70
    entries = AuditEntry.objects.filter(action="points.adjust").order_by("id")
    assert [e.changes["points_balance"] for e in entries] == [[0, 100], [100, 70]]
    assert entries[0].actor == manager
    with pytest.raises(NotEnoughPoints):
        points_adjust(member=member, delta=-71, reason="扣回", actor=manager)
    assert_ledger_ok()
