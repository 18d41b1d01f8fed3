"""PostgreSQL: the outbox's dedupe_key has a unique index; Django also made a
`varchar_pattern_ops` twin for LIKE 'prefix%', which no query uses and every notice
paid for. SQLite has no such index. Not made again on reversal."""

from django.db import migrations

from config.platform.migration_ops import DropIndexIfExists


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY on PostgreSQL (config/platform/migration_ops.py)

    dependencies = [
        ("campaigns", "0003_dashboard_all_stores"),
    ]

    operations = [
        DropIndexIfExists("campaigns_message_dedupe_key_c530f7c0_like"),
    ]
