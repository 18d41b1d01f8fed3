"""Set-based writes for the import: many rows per statement, no per-row ORM work.

PostgreSQL takes new rows by COPY, SQLite by executemany: both run at the
database's speed (the ORM's bulk_create compiles every value). Callers pass Python
values (plain contact data, foreign keys as ids); each column's values are prepared
as the field prepares them (config/platform/adapt.py, the one adapter: contact data
encrypted by its field). Columns a caller does not name get their model default, so a
column added later does not break the import (config/platform/bulk.py's insert_rows
needs every column named).
"""

from functools import cache

from django.db import connection, models

from config.platform.adapt import adapted_rows, adapter
from config.platform.bulk import insert_ready, update_ready


def _default(field: models.Field):
    if field.null and not field.has_default():
        return None
    if field.db_default is not models.NOT_PROVIDED:
        return _DB_DEFAULT
    return field.get_default()


_DB_DEFAULT = object()  # left out of the INSERT, the database fills it in


@cache
def _plan(model: type[models.Model], fields: tuple[str, ...]):
    meta = model._meta
    named = [meta.get_field(name) for name in fields]
    extra = []
    for field in meta.concrete_fields:
        if field.primary_key and isinstance(field, models.AutoField | models.BigAutoField):
            continue
        if field in named:
            continue
        default = _default(field)
        if default is _DB_DEFAULT:
            continue
        if field.primary_key or (default is None and not field.null):
            raise ValueError(f"{meta.label}.{field.name} has no default: name it in the insert")
        extra.append(field)
    return named, extra


def insert(model: type[models.Model], fields: list[str], rows: list[tuple]) -> None:
    """INSERT `rows` (tuples in the order of `fields`) into model's table."""
    if not rows:
        return
    named, extra = _plan(model, tuple(fields))
    columns = named + extra
    fixed = tuple(_default(f) for f in extra)  # per call: a default may be timezone.now
    full = (row + fixed for row in rows) if fixed else rows
    insert_ready(model, columns, adapted_rows(full, [adapter(f, connection) for f in columns]))


def update(model: type[models.Model], fields: list[str], rows: list[tuple]) -> None:
    """UPDATE model SET fields = ... WHERE pk = ...; each row is (*values, pk)."""
    if not rows:
        return
    columns = [model._meta.get_field(name) for name in fields]
    adapters = [adapter(f, connection) for f in columns] + [None]  # the pk as it is
    update_ready(model, columns, adapted_rows(rows, adapters))


def select_in(model: type[models.Model], columns: list[str], key: str, values) -> list[tuple]:
    """SELECT columns WHERE key IN values, raw: for plain columns (text, ids) only.

    The ORM's IN lookup prepares every value through the field (microseconds each,
    thousands per chunk); this is one bound array (PostgreSQL) or a few batches.
    """
    values = list(values)
    if not values:
        return []
    meta = model._meta
    quote = connection.ops.quote_name
    names = ", ".join(quote(meta.get_field(c).column) for c in columns)
    where = quote(meta.get_field(key).column)
    table = quote(meta.db_table)
    found = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"SELECT {names} FROM {table} WHERE {where} = ANY(%s)", [values])
            return cursor.fetchall()
        for start in range(0, len(values), 900):
            part = values[start : start + 900]
            marks = ", ".join(["%s"] * len(part))
            cursor.execute(f"SELECT {names} FROM {table} WHERE {where} IN ({marks})", part)
            found += cursor.fetchall()
    return found


def new_ids(model: type[models.Model], count: int) -> list[int]:
    """`count` primary keys for rows about to be inserted, taken before the INSERT so
    that nothing has to be read back after it (COPY returns no ids).

    PostgreSQL: from the column's sequence, as an INSERT would take them. SQLite:
    after the highest ever given (AUTOINCREMENT's sqlite_sequence, else MAX), which is
    safe only inside the caller's transaction: it holds SQLite's one write lock, so
    nobody else inserts until it commits.
    """
    if count <= 0:
        return []
    table, pk = model._meta.db_table, model._meta.pk.column
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [table, pk, count],
            )
            ids = [n for (n,) in cursor.fetchall()]
            if None in ids:  # no sequence owns the column (a database restored by hand)
                raise RuntimeError(f"{table}.{pk} has no sequence: cannot number new rows")
            return ids
        if not connection.in_atomic_block:
            raise RuntimeError("new_ids on SQLite needs the caller's transaction")
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        found = cursor.fetchone()
        cursor.execute(f"SELECT COALESCE(MAX({quote(pk)}), 0) FROM {quote(table)}")
        last = max(found[0] if found else 0, cursor.fetchone()[0])
    return list(range(last + 1, last + 1 + count))


def rows_after(
    model: type[models.Model], columns: list[str], after: int, limit: int, before: int | None = None
):
    """(pk, *columns) of the rows whose primary key is above `after` (and below
    `before`, if given), in key order, at most `limit`."""
    meta = model._meta
    quote = connection.ops.quote_name
    pk = quote(meta.pk.column)
    names = ", ".join(quote(meta.get_field(c).column) for c in columns)
    below, params = "", [after, limit]
    if before is not None:
        below, params = f" AND {pk} < %s", [after, before, limit]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {pk}, {names} FROM {quote(meta.db_table)} WHERE {pk} > %s{below} "
            f"ORDER BY {pk} LIMIT %s",
            params,
        )
        return cursor.fetchall()
