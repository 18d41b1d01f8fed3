"""Fast bulk inserts for seeding and imports: one executemany, no per-value ORM compile.

bulk_create compiles every value through the ORM (about 6,000 member rows/s here);
executemany with values adapted once per field type runs at the database's speed.
No signals, no save(): callers are bulk paths that keep their own invariants.
"""

from django.db import connection, models, transaction


def _adapter(field: models.Field):
    if isinstance(field, models.DateTimeField):
        last = [None, None]  # bulk rows mostly share one instant (the run's "now")

        def adapt(value):
            if value is None:
                return None
            if value is not last[0]:
                last[:] = [value, connection.ops.adapt_datetimefield_value(value)]
            return last[1]

        return adapt
    if isinstance(field, models.DateField):
        return lambda v: None if v is None else connection.ops.adapt_datefield_value(v)
    if isinstance(field, models.JSONField):
        last = [object(), None]  # rows often share one data object: encode it once

        def encode(value):
            if value is not last[0]:
                last[:] = [value, field.get_db_prep_save(value, connection)]
            return last[1]

        return encode
    if isinstance(field, models.DecimalField) or hasattr(field, "from_db_value"):
        return lambda v: field.get_db_prep_save(v, connection)
    return None  # str, int, bool, FK ids: the driver takes them as they are


def insert_rows(
    model: type[models.Model], fields: list[str], rows: list[tuple], ignore_conflicts=False
) -> None:
    """INSERT `rows` (tuples in the order of `fields`, Python values) into model's table.

    ignore_conflicts: a row that breaks a unique constraint is skipped (ON CONFLICT DO
    NOTHING, in SQLite and PostgreSQL alike), as bulk_create(ignore_conflicts=True)."""
    if not rows:
        return
    meta = model._meta
    columns, adapters = [], []
    for name in fields:
        field = meta.get_field(name)
        columns.append(connection.ops.quote_name(field.column))
        adapters.append(_adapter(field))
    if any(adapters):
        rows = [tuple(a(v) if a else v for a, v in zip(adapters, row, strict=True)) for row in rows]
    table, names = connection.ops.quote_name(meta.db_table), ", ".join(columns)
    sql = "INSERT INTO {} ({}) VALUES ({}){}".format(
        table,
        names,
        ", ".join(["%s"] * len(columns)),
        " ON CONFLICT DO NOTHING" if ignore_conflicts else "",
    )
    # One transaction (joined if the caller has one): in autocommit, every row of an
    # executemany would be a commit of its own.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        if connection.vendor == "postgresql" and not ignore_conflicts:
            # COPY: PostgreSQL takes rows far faster than by one INSERT each.
            with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(sql, rows)


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
    meta = model._meta
    quote = connection.ops.quote_name
    columns = [meta.get_field(name) for name in fields]
    adapters = [_adapter(f) for f in columns]
    if any(adapters):
        rows = [
            tuple(a(v) if a else v for a, v in zip(adapters, row[:-1], strict=True)) + row[-1:]
            for row in rows
        ]
    sets = ", ".join(f"{quote(f.column)} = %s" for f in columns)
    sql = f"UPDATE {quote(meta.db_table)} SET {sets} WHERE {quote(meta.pk.column)} = %s"
    if also:
        sql += f" AND ({also})"
    # One transaction (joined if the caller has one): in autocommit, every row of an
    # executemany would be a commit of its own.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.executemany(sql, rows)
