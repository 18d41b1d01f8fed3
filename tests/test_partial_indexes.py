"""The foreign keys indexed over the rows that have one (members 0007, loyalty 0010) and
those left to a composite index (campaigns 0005): each lookup of one value, or of a
few (a deletion's IN), still has its index, on SQLite and PostgreSQL."""

import pytest
from django.db import connection

from campaigns.models import Message
from loyalty.models import Coupon, CouponEvent, GrowthEntry, PointsEntry, Purchase, TierChange
from members.models import Member

pytestmark = pytest.mark.django_db

LOOKUPS = [
    (lambda: Member.objects.filter(referred_by_id=1), "member_referrer_set"),
    (lambda: Member.objects.filter(guide_id__in=[1, 2]), "member_guide_set"),
    (lambda: Purchase.objects.filter(staff_id=1), "purchase_staff_set"),
    (lambda: PointsEntry.objects.filter(actor_id__in=[1, 2]), "points_actor_set"),
    (lambda: PointsEntry.objects.filter(purchase_id=1), "points_purchase_set"),
    (lambda: GrowthEntry.objects.filter(purchase_id=1), "growth_purchase_set"),
    (lambda: TierChange.objects.filter(from_tier_id=1), "tierchange_from_set"),
    (lambda: TierChange.objects.filter(purchase_id=1), "tierchange_purchase_set"),
    (lambda: TierChange.objects.filter(actor_id=1), "tierchange_actor_set"),
    (lambda: Coupon.objects.filter(issued_by_id=1), "coupon_issuer_set"),
    (lambda: Coupon.objects.filter(redeemed_store_id=1), "coupon_store_set"),
    (lambda: Coupon.objects.filter(redeemed_by_id__in=[1, 2]), "coupon_verifier_set"),
    (lambda: Coupon.objects.filter(purchase_id=1), "coupon_purchase_set"),
    (lambda: Coupon.objects.filter(member_id=1), "coupon_member_status"),
    (lambda: Coupon.objects.filter(template_id=1), "coupon_template_status"),
    (lambda: CouponEvent.objects.filter(coupon_id__in=[1, 2]), "couponevent_coupon_time"),
    (lambda: CouponEvent.objects.filter(actor_id=1), "couponevent_actor_set"),
    (lambda: CouponEvent.objects.filter(store_id=1), "couponevent_store_set"),
    (lambda: CouponEvent.objects.filter(purchase_id=1), "couponevent_purchase_set"),
    (lambda: Message.objects.filter(member_id__in=[1, 2]), "message_inbox"),
]


@pytest.mark.parametrize(("query", "index"), LOOKUPS, ids=[name for _q, name in LOOKUPS])
def test_a_lookup_of_one_value_uses_its_index(query, index):
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # empty tables: make any index beat a scan
            cursor.execute("SET LOCAL enable_seqscan = off")
    plan = query().explain()
    assert index in plan, plan
