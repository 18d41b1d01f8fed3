"""Coupons under concurrency, real connections (one per thread): no double use, no oversell.

Runs on SQLite (IMMEDIATE transactions queue the writers) and on PostgreSQL
(conditional UPDATEs under row locks), which CI runs with DATABASE_URL set.
"""

from decimal import Decimal

import pytest

from loyalty.benefits.issuing import CouponNotIssued, coupon_issue
from loyalty.coupons import coupon_redeem
from loyalty.errors import CouponNotUsable
from loyalty.ledger import ledger_problems
from loyalty.models import Coupon, CouponEvent, CouponTemplate, Purchase
from loyalty.purchases import purchase_record
from tests.factories import MemberFactory
from tests.loyalty.test_concurrency import CLIENTS, run_at_once

pytestmark = pytest.mark.django_db(transaction=True)


def _template(**fields):
    defaults = {"name": "赠饮券", "kind": "gift", "gift_name": "中杯", "valid_days": 7}
    return CouponTemplate.objects.create(**{**defaults, **fields})


def test_sixteen_tills_verifying_one_coupon_give_one_success(store):
    member = MemberFactory(store=store)
    coupon, _ = coupon_issue(template=_template(), member=member)

    results = run_at_once(lambda i: coupon_redeem(code=coupon.code, store=store))
    won = [r for r in results if isinstance(r, Coupon)]
    lost = [r for r in results if isinstance(r, CouponNotUsable)]
    assert (len(won), len(lost)) == (1, CLIENTS - 1), results
    assert CouponEvent.objects.filter(coupon=coupon, kind="redeemed").count() == 1


def test_sixteen_purchases_with_one_coupon_use_it_once(store):
    member = MemberFactory(store=store)
    tpl = _template(kind="cash", value=Decimal("10"), gift_name="")
    coupon, _ = coupon_issue(template=tpl, member=member)

    def buy(i):
        return purchase_record(
            member=member, amount="30.00", external_ref=f"CC-{i}", coupon_code=coupon.code
        )

    results = run_at_once(buy)
    won = [r for r in results if isinstance(r, tuple)]
    lost = [r for r in results if isinstance(r, CouponNotUsable)]
    assert (len(won), len(lost)) == (1, CLIENTS - 1), results
    assert Purchase.objects.count() == 1  # the losers' purchases rolled back whole
    assert Purchase.objects.get().coupon_discount == Decimal("10.00")
    assert not ledger_problems()


def test_sixteen_members_racing_for_five_coupons_get_five(store):
    tpl = _template(stock=5)
    members = [MemberFactory(store=store) for _ in range(CLIENTS)]

    results = run_at_once(lambda i: coupon_issue(template=tpl, member=members[i]))
    won = [r for r in results if isinstance(r, tuple)]
    lost = [r for r in results if isinstance(r, CouponNotIssued)]
    assert (len(won), len(lost)) == (5, CLIENTS - 5), results
    assert Coupon.objects.filter(template=tpl).count() == 5
    assert CouponTemplate.objects.get(pk=tpl.pk).issued_count == 5


def test_one_member_sixteen_times_at_once_gets_the_per_member_limit(store):
    tpl = _template(per_member_limit=2)
    member = MemberFactory(store=store)

    results = run_at_once(lambda i: coupon_issue(template=tpl, member=member))
    won = [r for r in results if isinstance(r, tuple)]
    assert len(won) == 2, results
    assert Coupon.objects.filter(template=tpl, member=member).count() == 2
