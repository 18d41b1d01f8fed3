"""A stamp that changes whenever the purchase rules change (read by purchase_rules() in
loyalty/rules.py).

Every purchase needs the loyalty settings, the tiers and the active earn rules; they
change a few times a year. The table `loyalty_rules_stamp` holds one row whose
`stamp` the database itself sets to a new random value on every INSERT, UPDATE,
DELETE (and, on PostgreSQL, TRUNCATE) of those three tables: triggers, so bulk
`update()`s, the admin, migrations, the shell and other processes all count. A
process keeps the rules it read beside the stamp it read with them and reads them
again only when the stamp differs. Random, not a counter: a rolled-back change
leaves the old committed stamp, and a number could be reused by the next change.
Not a Django model: `flush` between tests must not empty it (a missing row only
means "always read the rules").
"""

from django.db import migrations

TABLES = ("loyalty_loyaltysettings", "loyalty_tier", "loyalty_earnrule")


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE TABLE IF NOT EXISTS loyalty_rules_stamp "
                "(id integer PRIMARY KEY, stamp text NOT NULL)"
            )
            cursor.execute(
                "INSERT INTO loyalty_rules_stamp (id, stamp) VALUES (1, md5(random()::text)) "
                "ON CONFLICT (id) DO NOTHING"
            )
            cursor.execute(
                "CREATE OR REPLACE FUNCTION loyalty_rules_restamp() RETURNS trigger AS $$ "
                "BEGIN UPDATE loyalty_rules_stamp SET stamp = md5(random()::text || "
                "clock_timestamp()::text) WHERE id = 1; RETURN NULL; END $$ LANGUAGE plpgsql"
            )
            for table in TABLES:
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_restamp ON {table}")
                cursor.execute(
                    f"CREATE TRIGGER {table}_restamp AFTER INSERT OR UPDATE OR DELETE OR "
                    f"TRUNCATE ON {table} FOR EACH STATEMENT "
                    "EXECUTE FUNCTION loyalty_rules_restamp()"
                )
        else:  # SQLite
            cursor.execute(
                "CREATE TABLE IF NOT EXISTS loyalty_rules_stamp "
                "(id integer PRIMARY KEY, stamp text NOT NULL)"
            )
            cursor.execute(
                "INSERT OR IGNORE INTO loyalty_rules_stamp (id, stamp) "
                "VALUES (1, hex(randomblob(16)))"
            )
            for table in TABLES:
                for event in ("INSERT", "UPDATE", "DELETE"):
                    name = f"{table}_restamp_{event.lower()}"
                    cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
                    cursor.execute(
                        f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN "
                        "UPDATE loyalty_rules_stamp SET stamp = hex(randomblob(16)) "
                        "WHERE id = 1; END"
                    )


def backwards(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        for table in TABLES:
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_restamp ON {table}")
            else:
                for event in ("insert", "update", "delete"):
                    cursor.execute(f"DROP TRIGGER IF EXISTS {table}_restamp_{event}")
        if connection.vendor == "postgresql":
            cursor.execute("DROP FUNCTION IF EXISTS loyalty_rules_restamp()")
        cursor.execute("DROP TABLE IF EXISTS loyalty_rules_stamp")


class Migration(migrations.Migration):
    dependencies = [("loyalty", "0008_action_growth")]

    operations = [migrations.RunPython(forwards, backwards)]
