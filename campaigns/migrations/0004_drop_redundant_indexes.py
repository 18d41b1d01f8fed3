"""PostgreSQL: the outbox's dedupe_key has a unique index; Django also made a
`varchar_pattern_ops` twin for LIKE 'prefix%', which no query uses and every notice
paid for. SQLite has no such index. Not made again on reversal."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0003_dashboard_all_stores"),
    ]

    operations = [
        migrations.RunSQL(
            'DROP INDEX IF EXISTS "campaigns_message_dedupe_key_c530f7c0_like"',
            migrations.RunSQL.noop,
        ),
    ]
