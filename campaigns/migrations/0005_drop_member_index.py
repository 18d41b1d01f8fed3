"""Foreign-key indexes that cost every insert for rows that do not need them.

- A nullable foreign key that most rows leave empty (an API purchase's staff, a
  registration's referrer and guide, an automatic ledger row's actor, a coupon's
  purchase until it is used...) is indexed over the rows that have one only
  (`members.models.index_where_set`): the lookups of one value it serves (=, IN) imply
  IS NOT NULL, on SQLite and PostgreSQL alike.
- A foreign key's own index where a composite index starts with the same column.

The partial indexes are built first (CONCURRENTLY on PostgreSQL), then the old ones
dropped (CONCURRENTLY, IF EXISTS): the tables stay writable and a lookup always has an
index. The state change is the fields' db_index=False: SQLite would rebuild each table
for it (a copy of every row), so the database side is the DROP INDEX alone.
"""

import django.db.models.deletion
from django.db import migrations, models

from config.platform.migration_ops import DropIndexIfExists


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY on PostgreSQL (config/platform/migration_ops.py)

    dependencies = [
        ('campaigns', '0004_drop_redundant_indexes'),
        ('members', '0007_partial_fk_indexes'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='message',
                    name='member',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='messages', to='members.member', verbose_name='member'),
                ),
            ],
            database_operations=[
                DropIndexIfExists(
                    "campaigns_message_member_id_2c9a4f4c",
                    create='CREATE INDEX "campaigns_message_member_id_2c9a4f4c" ON "campaigns_message" ("member_id")',
                ),
            ],
        ),
    ]
