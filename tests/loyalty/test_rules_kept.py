"""Purchases keep the settings, tiers and earn rules beside a stamp the database changes
on any change to them (loyalty migration 0009): a change applies from the next purchase,
however it was made, and a rolled-back change is never kept."""

from decimal import Decimal

import pytest
from django.db import transaction

from loyalty.models import EarnRule, LoyaltySettings, Tier
from loyalty.purchases import purchase_record
from loyalty.rules import purchase_rules
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def _buy(member, ref, amount="10"):
    return purchase_record(member=member, amount=amount, external_ref=ref)[0].points_earned


def test_a_change_made_with_update_applies_to_the_next_purchase(store):
    member = MemberFactory(store=store)
    assert _buy(member, "A") == 10
    assert purchase_rules() is purchase_rules()  # kept while nothing changes
    LoyaltySettings.objects.update(points_per_yuan=Decimal("3"))  # no signal, no save()
    assert _buy(member, "B") == 30
    EarnRule.objects.create(name="双倍", multiplier=2)
    assert _buy(member, "C") == 60
    Tier.objects.filter(pk=member.card.tier_id).update(points_multiplier=Decimal("1.5"))
    assert _buy(member, "D") == 90


def test_a_rolled_back_change_is_not_kept(store):
    member = MemberFactory(store=store)
    assert _buy(member, "A") == 10
    with pytest.raises(RuntimeError), transaction.atomic():
        LoyaltySettings.objects.update(points_per_yuan=Decimal("5"))
        assert _buy(member, "B") == 50  # inside: the change counts
        raise RuntimeError("rolled back")
    assert _buy(member, "C") == 10  # the rules as committed again
    LoyaltySettings.objects.update(points_per_yuan=Decimal("2"))
    assert _buy(member, "D") == 20  # and the next real change is read, not the lost one


@pytest.mark.parametrize("table", ["loyalty_loyaltysettings", "loyalty_tier", "loyalty_earnrule"])
def test_every_migration_leaves_the_stamp_triggers_in_place(db, table):
    """SQLite drops a table's triggers when a migration remakes it (adding a column):
    each such migration makes them again (0012, 0013, 0014 ...). A change by a bulk
    update must move the stamp, or purchases keep old settings."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT stamp FROM loyalty_rules_stamp WHERE id = 1")
        before = cursor.fetchone()[0]
        cursor.execute(f"UPDATE {table} SET id = id")  # noqa: S608 - a fixed name
        cursor.execute("SELECT stamp FROM loyalty_rules_stamp WHERE id = 1")
        after = cursor.fetchone()[0]
    if connection.vendor == "sqlite":
        cursor = connection.cursor()
        cursor.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s", [table]
        )
        assert cursor.fetchone()[0] == 3
    assert before != after or not _has_rows(table)


def _has_rows(table: str) -> bool:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
        return cursor.fetchone()[0] > 0
