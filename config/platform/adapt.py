"""Python values as database parameters: the one rule for the SQL the platform writes
itself (bulk.py's inserts and updates, fixed_sql.py's reads, the member import's).

`adapter(field, connection)` is made once per column of a statement and gives what
``field.get_db_prep_save(value, connection)`` gives, without its per-value lookups;
or None where the driver takes the values as they are (text, numbers, booleans, ids,
dates). `adapted_rows` passes rows through
their columns' adapters; `param` adapts a lone parameter (a WHERE clause's, no field
known) by its type, through the adapter of a field of that type.

- Datetimes: a naive one is in the site's zone, as DateTimeField reads it; SQLite
  keeps naive UTC text (connection.ops.adapt_datetimefield_value, written out: its
  settings lookups cost more than the rest), and a run's rows mostly share one
  instant (its "now"), adapted once.
- JSON: encoded by the field, once for rows that share one object.
- A field may offer ``db_prep_saver(connection)``: its get_db_prep_save for many values,
  set up once (members.crypto.EncryptedTextField: encrypted with the key looked up once).
  Other fields that convert what they read (from_db_value) prepare each value themselves.
"""

import datetime as dt
from collections.abc import Callable, Iterable
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone


def adapter(field: models.Field, connection) -> Callable | None:
    """value -> parameter for `field` on `connection` (None values are not passed in);
    None when every value goes to the driver as it is."""
    saver = getattr(field, "db_prep_saver", None)
    if saver is not None:
        return saver(connection)
    if isinstance(field, models.DateTimeField):
        return _datetimes(connection)
    if isinstance(field, models.DateField):
        if connection.vendor in ("sqlite", "postgresql"):
            # psycopg takes dates; Django's sqlite3 adapter writes the ISO text
            # adapt_datefield_value would.
            return None
        return connection.ops.adapt_datefield_value
    if isinstance(field, models.JSONField):
        last = [object(), None]  # rows often share one data object: encode it once

        def encode(value):
            if value is not last[0]:
                last[:] = [value, field.get_db_prep_save(value, connection)]
            return last[1]

        return encode
    if isinstance(field, models.DecimalField):
        # A Decimal is what get_db_prep_save would give; anything else it converts.
        return lambda v: v if v.__class__ is Decimal else field.get_db_prep_save(v, connection)
    if hasattr(field, "from_db_value"):
        return lambda v: field.get_db_prep_save(v, connection)
    return None


def _datetimes(connection) -> Callable:
    ops, use_tz = connection.ops, settings.USE_TZ
    site_zone = timezone.get_default_timezone() if use_tz else None
    naive_utc = connection.vendor == "sqlite" and use_tz
    db_zone = connection.timezone if naive_utc else None
    last = [None, None]

    def adapt(value):
        if value is last[0]:
            return last[1]
        given = value
        if use_tz and value.tzinfo is None:  # as DateTimeField reads it (make_aware)
            value = value.replace(tzinfo=site_zone)
        if naive_utc:
            value = str(value.astimezone(db_zone).replace(tzinfo=None))
        else:
            value = ops.adapt_datetimefield_value(value)
        last[:] = [given, value]
        return value

    return adapt


def adapted_rows(rows: Iterable, adapters: list) -> Iterable:
    """`rows` with each value passed through its column's adapter (None stays None).

    All of them before the statement runs, not as the driver asks for each row:
    interleaved with SQLite's inserts into random-keyed indexes, the same adapting
    (contact data encrypted) made the member import's INSERT of members a sixth slower."""
    todo = [(i, adapt) for i, adapt in enumerate(adapters) if adapt]
    if not todo:
        return rows
    ready = []
    for row in rows:
        row = list(row)
        for i, adapt in todo:
            if row[i] is not None:
                row[i] = adapt(row[i])
        ready.append(row)
    return ready


_TYPE_FIELDS = (  # a parameter's type -> the field whose adapter takes it
    (dt.datetime, models.DateTimeField()),
    (dt.date, models.DateField()),
    (Decimal, models.DecimalField()),
)


def param(value, connection):
    """A lone parameter as the ORM would pass it for a field of its type."""
    for kind, field in _TYPE_FIELDS:
        if isinstance(value, kind):
            adapt = adapter(field, connection)
            return value if adapt is None else adapt(value)
    return value
