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
from django.conf import settings
from django.db import migrations, models

from config.platform.migration_ops import AddIndexConcurrently, DropIndexIfExists


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY on PostgreSQL (config/platform/migration_ops.py)

    dependencies = [
        ('members', '0006_drop_birthday_index'),
    ]

    operations = [
        AddIndexConcurrently(
            model_name='member',
            index=models.Index(condition=models.Q(('guide__isnull', False)), fields=['guide'], name='member_guide_set'),
        ),
        AddIndexConcurrently(
            model_name='member',
            index=models.Index(condition=models.Q(('referred_by__isnull', False)), fields=['referred_by'], name='member_referrer_set'),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='member',
                    name='guide',
                    field=models.ForeignKey(blank=True, db_index=False, help_text='The staff member who looks after this customer.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='guided_members', to=settings.AUTH_USER_MODEL, verbose_name='guide'),
                ),
                migrations.AlterField(
                    model_name='member',
                    name='referred_by',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='referrals', to='members.member', verbose_name='referred by'),
                ),
            ],
            database_operations=[
                DropIndexIfExists(
                    "members_member_guide_id_3c74a235",
                    create='CREATE INDEX "members_member_guide_id_3c74a235" ON "members_member" ("guide_id")',
                ),
                DropIndexIfExists(
                    "members_member_referred_by_id_17ca75b5",
                    create='CREATE INDEX "members_member_referred_by_id_17ca75b5" ON "members_member" ("referred_by_id")',
                ),
            ],
        ),
    ]
