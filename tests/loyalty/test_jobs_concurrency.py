"""Two qclusters running the same schedule at once grant nothing twice.

Real connections, one per thread, on SQLite and (in CI) PostgreSQL.
"""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine

from loyalty.jobs import run_job
from loyalty.ledger import ledger_problems, points_award
from loyalty.models import Coupon, CouponTemplate, PointsEntry, Tier, TierChange
from loyalty.tiers import tier_set
from tests.factories import MemberFactory
from tests.loyalty.test_concurrency import run_at_once

SH = ZoneInfo("Asia/Shanghai")
pytestmark = pytest.mark.django_db(transaction=True)
CLUSTERS = 4


@pytest.fixture(autouse=True)
def default_tiers(transactional_db):
    """A transactional test's flush removes the tiers the data migration made: put them back."""
    import importlib

    from django.apps import apps

    importlib.import_module("loyalty.migrations.0002_default_tiers").create_defaults(apps, None)


def test_expiry_run_by_several_clusters_at_once_expires_each_lot_once(store):
    members = [MemberFactory(store=store) for _ in range(6)]
    for i, m in enumerate(members):
        points_award(member=m, points=100 + i, key=f"k{i}", reason="t",
                     now=dt.datetime(2024, 1, 1, tzinfo=SH))  # fmt: skip
    with time_machine.travel(dt.datetime(2026, 1, 1, 0, 5, tzinfo=SH), tick=False):
        results = run_at_once(lambda i: run_job("expire_points"), n=CLUSTERS)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert PointsEntry.objects.filter(kind="expire").count() == 6
    assert not ledger_problems()


def test_monthly_coupons_run_by_several_clusters_at_once_are_issued_once(store, owner):
    tpl = CouponTemplate.objects.create(
        name="9 折券", kind="percent", value=Decimal("0.9"), valid_days=31
    )
    Tier.objects.filter(name="金卡").update(monthly_coupon=tpl, monthly_coupon_count=2)
    gold = Tier.objects.get(name="金卡")
    members = [MemberFactory(store=store) for _ in range(5)]
    for m in members:
        tier_set(member=m, tier=gold, actor=owner)
    with time_machine.travel(dt.datetime(2026, 12, 1, 8, tzinfo=SH), tick=False):
        results = run_at_once(lambda i: run_job("monthly_tier_coupons"), n=CLUSTERS)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert Coupon.objects.count() == 10
    assert CouponTemplate.objects.get(pk=tpl.pk).issued_count == 10


def test_downgrades_run_by_several_clusters_at_once_happen_once(store, owner):
    gold = Tier.objects.get(name="金卡")
    with time_machine.travel(dt.datetime(2026, 1, 10, 12, tzinfo=SH), tick=False):
        members = [MemberFactory(store=store) for _ in range(5)]
        for m in members:
            tier_set(member=m, tier=gold, actor=owner)
    with time_machine.travel(dt.datetime(2026, 4, 11, 0, 20, tzinfo=SH), tick=False):
        results = run_at_once(lambda i: run_job("review_tiers"), n=CLUSTERS)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert TierChange.objects.filter(reason="downgrade").count() == 5
