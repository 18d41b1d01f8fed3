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


def _run_forwards(operation):
    """Apply one operation of members 0007 to the test database, outside a transaction
    (CONCURRENTLY cannot run in one), as `migrate` runs a non-atomic migration."""
    from django.db.migrations.executor import MigrationExecutor

    state = MigrationExecutor(connection).loader.project_state(
        ("members", "0007_partial_fk_indexes")
    )
    with connection.schema_editor(atomic=False) as editor:
        operation.database_forwards("members", editor, state, state)


def _guide_index_op():
    from importlib import import_module

    migration = import_module("members.migrations.0007_partial_fk_indexes").Migration
    return next(op for op in migration.operations if getattr(op, "index", None)
                and op.index.name == "member_guide_set")  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_a_migration_run_again_after_an_interruption_keeps_or_rebuilds_its_index():
    """A non-atomic migration cut short is run whole again: an index it finished is kept;
    on PostgreSQL one whose concurrent build was cut short (invalid) is built again."""
    from config.platform.migration_ops import index_state

    op = _guide_index_op()
    assert index_state(connection, "member_guide_set") == "valid"
    _run_forwards(op)  # once more: no "already exists"
    assert index_state(connection, "member_guide_set") == "valid"
    if connection.vendor != "postgresql":
        return
    from tests.factories import MemberFactory

    a, b = MemberFactory(), MemberFactory()
    Member.objects.filter(pk__in=[a.pk, b.pk]).update(store_id=a.store_id)
    with connection.cursor() as cursor:
        cursor.execute('DROP INDEX CONCURRENTLY "member_guide_set"')
        # A concurrent build that fails half way leaves its index invalid: here a
        # unique one over two members of one store.
        with pytest.raises(Exception):  # noqa: B017 - psycopg's UniqueViolation
            cursor.execute('CREATE UNIQUE INDEX CONCURRENTLY "member_guide_set" '
                           'ON "members_member" ("store_id")')  # fmt: skip
    assert index_state(connection, "member_guide_set") == "invalid"
    _run_forwards(op)
    assert index_state(connection, "member_guide_set") == "valid"
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'member_guide_set'")
        assert "WHERE (guide_id IS NOT NULL)" in cursor.fetchone()[0]
