"""The birthday index served no query and cost every insert: the birthday jobs match
a month and a day (EXTRACT / django_date_extract), which a B-tree on the date cannot
serve, and nothing filters birthdays by range. DROP INDEX CONCURRENTLY on PostgreSQL
(config/platform/migration_ops.py), so the table stays writable; reversal creates it again."""

from django.db import migrations

from config.platform.migration_ops import DropIndexIfExists


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY on PostgreSQL

    dependencies = [
        ("members", "0005_drop_redundant_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="member", name="member_birthday"),
            ],
            database_operations=[
                DropIndexIfExists(
                    "member_birthday",
                    create='CREATE INDEX "member_birthday" ON "members_member" ("birthday")',
                ),
            ],
        ),
    ]
