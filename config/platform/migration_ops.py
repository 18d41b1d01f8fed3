"""Migration operations the apps share."""

from django.db.migrations.operations import AddIndex
from django.db.migrations.operations.base import Operation


class DropIndexIfExists(Operation):
    """DROP INDEX IF EXISTS, CONCURRENTLY on PostgreSQL, for an index the model state
    no longer has (or never had: PostgreSQL's LIKE twins of unique text columns).

    CONCURRENTLY does not lock the table against writes while it waits for queries
    in flight (a plain DROP INDEX would, and every till would queue behind it); it
    cannot run in a transaction, so the migration must say `atomic = False`.
    `create`: the SQL that makes the index again on reversal; None leaves it out.
    """

    reversible = True
    reduces_to_sql = True

    def __init__(self, name: str, create: str | None = None):
        self.name = name
        self.create = create

    def state_forwards(self, app_label, state):
        pass  # the state changes elsewhere (AlterField db_index=False) or not at all

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        how = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
        schema_editor.execute(f'DROP INDEX {how}IF EXISTS "{self.name}"')

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if self.create:
            schema_editor.execute(self.create)

    def describe(self):
        return f"Drop index {self.name} if it exists"

    def deconstruct(self):
        kwargs = {"create": self.create} if self.create else {}
        return self.__class__.__qualname__, [self.name], kwargs


def index_state(connection, name: str) -> str | None:
    """ "valid", "invalid" (PostgreSQL: an interrupted CREATE INDEX CONCURRENTLY left it
    behind, unusable but kept up to date) or None: no index of that name."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE c.relname = %s AND pg_table_is_visible(c.oid)",
                [name],
            )
            found = cursor.fetchone()
            return None if found is None else ("valid" if found[0] else "invalid")
        if connection.vendor == "sqlite":
            cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = %s", [name])
            return "valid" if cursor.fetchone() else None
    return None  # another database: built as AddIndex would


class AddIndexConcurrently(AddIndex):
    """AddIndex, built CONCURRENTLY on PostgreSQL (the tables stay writable while a big
    table's index is built; the migration must say `atomic = False`), plainly elsewhere.

    Safe to run again after an interruption: a non-atomic migration that stopped half
    way is not recorded, so `migrate` runs all of it again. An index an earlier run
    finished is left as it is; one whose concurrent build was cut short (PostgreSQL
    marks it invalid) is dropped and built again.
    """

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        # sqlmigrate (collect_sql) prints what a migration does, whatever this database has.
        collecting = getattr(schema_editor, "collect_sql", False)
        state = None if collecting else index_state(schema_editor.connection, self.index.name)
        if state == "valid":
            return
        if state == "invalid":
            DropIndexIfExists(self.index.name).database_forwards(
                app_label, schema_editor, from_state, to_state
            )
        schema_editor.add_index(model, self.index, **self._how(schema_editor))

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, self.index, **self._how(schema_editor))

    @staticmethod
    def _how(schema_editor) -> dict:
        return {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}
