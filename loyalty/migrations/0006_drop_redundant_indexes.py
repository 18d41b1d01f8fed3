"""Indexes that cost every insert and serve nothing another index does not.

- A foreign key's own index where a composite index starts with the same column
  (it serves the same lookups, the foreign key's checks included).
- On PostgreSQL, the `varchar_pattern_ops` twins Django adds to unique text columns
  for LIKE 'prefix%'; no query filters these columns by prefix.

Only the indexes go: the state change is the fields' db_index=False. SQLite would
rebuild the whole table for that (a copy of every row), so the database side is
a DROP INDEX (CONCURRENTLY on PostgreSQL, so the tables stay writable: hence
atomic = False); reversing creates the foreign-key indexes again.
"""

import django.db.models.deletion
from django.db import migrations, models

from config.platform.migration_ops import DropIndexIfExists


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY on PostgreSQL (config/platform/migration_ops.py)

    dependencies = [
        ("loyalty", "0005_imports_exports"),
        ("members", "0005_drop_redundant_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="card",
                    name="tier",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="cards",
                        to="loyalty.tier",
                        verbose_name="tier",
                    ),
                ),
                migrations.AlterField(
                    model_name="growthentry",
                    name="member",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="growth_entries",
                        to="members.member",
                    ),
                ),
                migrations.AlterField(
                    model_name="pointsentry",
                    name="member",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="points_entries",
                        to="members.member",
                        verbose_name="member",
                    ),
                ),
                migrations.AlterField(
                    model_name="purchase",
                    name="member",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="purchases",
                        to="members.member",
                        verbose_name="member",
                    ),
                ),
                migrations.AlterField(
                    model_name="purchase",
                    name="store",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="purchases",
                        to="members.store",
                        verbose_name="store",
                    ),
                ),
                migrations.AlterField(
                    model_name="tierchange",
                    name="member",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="tier_changes",
                        to="members.member",
                        verbose_name="member",
                    ),
                ),
            ],
            database_operations=[
                DropIndexIfExists(
                    "loyalty_card_tier_id_42b43a05",
                    create='CREATE INDEX "loyalty_card_tier_id_42b43a05" ON "loyalty_card" ("tier_id")',
                ),
                DropIndexIfExists(
                    "loyalty_growthentry_member_id_30d0a093",
                    create='CREATE INDEX "loyalty_growthentry_member_id_30d0a093" ON "loyalty_growthentry" ("member_id")',
                ),
                DropIndexIfExists(
                    "loyalty_pointsentry_member_id_1330ddcc",
                    create='CREATE INDEX "loyalty_pointsentry_member_id_1330ddcc" ON "loyalty_pointsentry" ("member_id")',
                ),
                DropIndexIfExists(
                    "loyalty_purchase_member_id_99156bce",
                    create='CREATE INDEX "loyalty_purchase_member_id_99156bce" ON "loyalty_purchase" ("member_id")',
                ),
                DropIndexIfExists(
                    "loyalty_purchase_store_id_db150259",
                    create='CREATE INDEX "loyalty_purchase_store_id_db150259" ON "loyalty_purchase" ("store_id")',
                ),
                DropIndexIfExists(
                    "loyalty_tierchange_member_id_f4de6cd7",
                    create='CREATE INDEX "loyalty_tierchange_member_id_f4de6cd7" ON "loyalty_tierchange" ("member_id")',
                ),
                # PostgreSQL only (SQLite has no such index); not made again on reversal
                DropIndexIfExists("loyalty_pointsentry_idempotency_key_6b281b78_like"),
                # PostgreSQL only (SQLite has no such index); not made again on reversal
                DropIndexIfExists("loyalty_growthentry_idempotency_key_67b9ea00_like"),
                # PostgreSQL only (SQLite has no such index); not made again on reversal
                DropIndexIfExists("loyalty_purchase_external_ref_b4b15d1f_like"),
                # PostgreSQL only (SQLite has no such index); not made again on reversal
                DropIndexIfExists("loyalty_coupon_code_15318138_like"),
                # PostgreSQL only (SQLite has no such index); not made again on reversal
                DropIndexIfExists("loyalty_coupon_issue_key_34959db4_like"),
            ],
        ),
    ]
