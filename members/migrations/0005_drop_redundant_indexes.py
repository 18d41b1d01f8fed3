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
        ("members", "0004_member_centre"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="member",
                    name="store",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="members",
                        to="members.store",
                        verbose_name="registration store",
                    ),
                ),
            ],
            database_operations=[
                DropIndexIfExists(
                    "members_member_store_id_99fe89f9",
                    create='CREATE INDEX "members_member_store_id_99fe89f9" ON "members_member" ("store_id")',
                ),
                # PostgreSQL only (SQLite has no such index); not made again on reversal
                DropIndexIfExists("members_member_member_no_06a72bfe_like"),
                DropIndexIfExists("members_member_referral_code_e49d714c_like"),
            ],
        ),
    ]
