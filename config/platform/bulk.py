"""Fast bulk inserts for seeding and imports: one executemany, no per-value ORM compile.

bulk_create compiles every value through the ORM (about 6,000 member rows/s here);
executemany with values adapted once per field type (adapt.py) runs at the database's speed.
No signals, no save(): callers are bulk paths that keep their own invariants.
"""

import gc
import threading
from collections.abc import Iterable
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction

from .adapt import adapted_rows, adapter

BULK_GC_THRESHOLD = 50_000  # new objects between the young collections of a bulk run
BULK_CHECKPOINT_ROWS = 20_000  # SQLite: rows a bulk run writes between its checkpoints


_gc_lock = threading.Lock()
_gc_runs = 0  # bulk runs in progress in this process
_gc_saved: tuple = ((700, 10, 10), False)  # (threshold, we froze) of the first run in


@contextmanager
def bulk_run():
    """For a long run of set-based writes in this process (an import): fewer garbage
    collections and, on SQLite, fewer WAL checkpoints; both as they were afterwards.

    - Python's collector runs every 700 new container objects and, now and then, walks
      every object of the process (Django's modules and models included): a chunk's
      thousands of rows made it run hundreds of times. Objects from before the run are
      set aside (gc.freeze) and the young generation waits for 50,000: measured on a
      20,000-row import, 6 % of its time. The rows of a run hold no reference cycles
      worth collecting sooner; what a cycle holds is collected after the run.
    - A connection checkpoints the WAL after every 256 rows it changes (a till's
      commit; config/platform/sqlite/base.py): a run commits a chunk of thousands of rows each
      time and would checkpoint after every one, copying the same index pages again
      for every chunk. Every 20,000 rows instead: 4 % of that import's time. The log
      stays bounded: past 16 MB the next checkpoint catches up under the writer lock.

    The collector's settings are the process's: runs in several threads (an import in a
    web request, with Q_SYNC) or one inside another change them once, the first in and
    the last out; a freeze made before (say, by a server before it forks) is kept.
    """
    global _gc_runs, _gc_saved
    with _gc_lock:
        if _gc_runs == 0:
            froze = gc.get_freeze_count() == 0
            _gc_saved = (gc.get_threshold(), froze)
            if froze:
                gc.freeze()
            gc.set_threshold(BULK_GC_THRESHOLD, *_gc_saved[0][1:])
        _gc_runs += 1
    wrapper = connections[DEFAULT_DB_ALIAS]  # this thread's; vars() needs it, not the proxy
    rows = getattr(wrapper, "checkpoint_rows", None)  # only our SQLite backend has it
    own = vars(wrapper).get("checkpoint_rows")  # set on this connection (a run in a run)
    if rows is not None:
        wrapper.checkpoint_rows = max(rows, BULK_CHECKPOINT_ROWS)
    try:
        yield
    finally:
        if own is not None:
            wrapper.checkpoint_rows = own
        elif rows is not None:
            del wrapper.checkpoint_rows  # the backend's own again
        with _gc_lock:
            _gc_runs -= 1
            if _gc_runs == 0:
                threshold, froze = _gc_saved
                gc.set_threshold(*threshold)
                if froze:
                    gc.unfreeze()


def insert_rows(
    model: type[models.Model], fields: list[str], rows: list[tuple], ignore_conflicts=False
) -> None:
    """INSERT `rows` (tuples in the order of `fields`, Python values) into model's table.

    ignore_conflicts: a row that breaks a unique constraint is skipped (ON CONFLICT DO
    NOTHING, in SQLite and PostgreSQL alike), as bulk_create(ignore_conflicts=True)."""
    if not rows:
        return
    columns = [model._meta.get_field(name) for name in fields]
    adapters = [adapter(field, connection) for field in columns]
    insert_ready(model, columns, adapted_rows(rows, adapters), ignore_conflicts)


def update_rows(
    model: type[models.Model], fields: list[str], rows: list[tuple], also: str = ""
) -> None:
    """UPDATE model SET fields = ... WHERE pk = ...; each row is (*values, pk).

    One executemany of a statement per row: linear, where bulk_update's CASE WHEN per
    row grows with the square of the batch; and the primary key equality makes SQLite
    use the key's index (a `pk IN (...)` beside another indexed condition may not).
    `also`: a further SQL condition (a constant of the caller's, never user input)."""
    if not rows:
        return
    columns = [model._meta.get_field(name) for name in fields]
    adapters = [adapter(field, connection) for field in columns] + [None]  # the pk as it is
    update_ready(model, columns, adapted_rows(rows, adapters), also)


# --- the statements, for values already as the columns take them -------------------
# (adapted by the caller: insert_rows and update_rows above, loyalty/imports/sql.py)


def insert_ready(model, columns: list[models.Field], rows: Iterable, ignore_conflicts=False):
    """INSERT rows whose values are ready for `columns`: COPY on PostgreSQL (far faster
    than an INSERT a row), else one executemany; in one transaction, joined if the
    caller has one (in autocommit, every row of an executemany would be a commit)."""
    quote = connection.ops.quote_name
    table, names = quote(model._meta.db_table), ", ".join(quote(f.column) for f in columns)
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        if connection.vendor == "postgresql" and not ignore_conflicts:
            # psycopg's copy() is not behind Django's cursor wrapper: map its errors
            # (a unique violation must be Django's IntegrityError to the callers).
            statement = f"COPY {table} ({names}) FROM STDIN"
            with connection.wrap_database_errors, cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
            return
        marks = ", ".join(["%s"] * len(columns))
        conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
        cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks}){conflict}", rows)


def update_ready(model, columns: list[models.Field], rows: Iterable, also: str = ""):
    """UPDATE by primary key, each row (*values ready for `columns`, pk), one executemany."""
    quote = connection.ops.quote_name
    sets = ", ".join(f"{quote(f.column)} = %s" for f in columns)
    sql = (
        f"UPDATE {quote(model._meta.db_table)} SET {sets} WHERE {quote(model._meta.pk.column)} = %s"
    )
    if also:
        sql += f" AND ({also})"
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.executemany(sql, rows)
