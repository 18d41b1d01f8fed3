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


class AddIndexConcurrently(AddIndex):
    """AddIndex, built CONCURRENTLY on PostgreSQL (the tables stay writable while a big
    table's index is built; the migration must say `atomic = False`), plainly elsewhere."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.add_index(model, self.index, **self._how(schema_editor))

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, self.index, **self._how(schema_editor))

    @staticmethod
    def _how(schema_editor) -> dict:
        return {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}
