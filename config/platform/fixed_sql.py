"""Hot reads written once as SQL, giving the same model instances the ORM would.

The ORM builds and compiles its SQL on every call; for the few reads that every
request of a hot path makes (the signed-in user, an API key, the card locked by a
purchase), building took longer than the database took to answer (docs/benchmarks.md).
A FixedRead is declared like a small queryset: the columns, named as QuerySet.only
names them (all concrete fields by default), forward foreign keys or reverse
one-to-ones to join (also from a joined model: "card__tier"), a WHERE clause
with %s parameters (adapted by adapt.param) over the aliases t0 (the model) and t1,
t2... (the joined models, in order), an ORDER BY, a LIMIT, a row lock. Its SQL is
built once per database connection alias (on SQLite read through sqlite3's own cursor
when no one logs queries: _sqlite_rows); each row becomes instances as Model.from_db
makes them (_loader), every value through the converters the ORM applies (connection.ops
and the field's own: aware datetimes, Decimals, booleans, JSON, encrypted fields), the
joined ones cached on the instance as select_related caches them (None when the LEFT
JOIN found none).
"""

from django.db import DEFAULT_DB_ALIAS, connections, models, router
from django.db.backends.sqlite3 import base as sqlite_base
from django.db.models import signals
from django.db.models.base import ModelState
from django.db.models.expressions import DatabaseDefault
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute

from .adapt import param

_AS_IS = (str, int)  # parameters passed as they are (adapt.param changes none of them)


def _converters(connection, model, fields) -> list[tuple]:
    """(position, column, converters) of the fields that have any: what the ORM applies to
    a value read back (connection.ops', then the field's own)."""
    found = []
    for position, field in enumerate(fields):
        column = field.get_col(model._meta.db_table)
        convert = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
        if convert:
            found.append((position, column, convert))
    return found


def _convert(row: list, converters: list[tuple], connection, offset: int = 0) -> None:
    for position, column, convert_all in converters:
        for convert in convert_all:
            row[offset + position] = convert(row[offset + position], column, connection)


def _plain(model: type[models.Model]) -> bool:
    """May a row become an instance of `model` without Model.from_db?

    from_db calls Model.__init__, which sends pre_init and post_init and sets each field
    in turn (about 10 us for a member); for a model with neither receivers nor its own
    __init__ or from_db, and whose columns are plain attributes (no descriptor that does
    something on assignment but a foreign key's id, which has nothing cached yet), the
    instance is its ModelState and its __dict__: what __init__ leaves. Columns not read
    stay deferred, loaded on access, as from_db leaves them."""
    base = models.Model
    return (
        model.__init__ is base.__init__
        and model.from_db.__func__ is base.from_db.__func__
        and all(_plain_attribute(model, f.attname) for f in model._meta.concrete_fields)
    )


def _loader(parts: list[tuple], converters: list[tuple]):
    """The function that turns a FixedRead's rows into instances, written for its columns:
    each value through its converters, each part's instance made (directly when
    `_plain` and no init receiver is connected at the call, else by Model.from_db), the
    joined ones cached as select_related caches them. Python written once per read, as
    the SQL is: the general loop over parts, columns and converters cost as much as the
    database's answer."""
    space = {"ModelState": ModelState}
    lines = ["def load(rows, alias, connection, plain):", "    found = []", "    for r in rows:"]
    converted = {}
    for n, (position, column, convert_all) in enumerate(converters):
        value = f"r[{position}]"
        for m, convert in enumerate(convert_all):
            space[f"c{n}_{m}"], space[f"e{n}"] = convert, column
            value = f"c{n}_{m}({value}, e{n}, connection)"
        lines.append(f"        v{n} = {value}")
        converted[position] = f"v{n}"
    start = 0
    for index, (model, fields, how) in enumerate(parts):
        space[f"M{index}"] = model
        values = [converted.get(start + i, f"r[{start + i}]") for i in range(len(fields))]
        names = [f.attname for f in fields]
        space[f"N{index}"] = names
        pk_value = values[fields.index(model._meta.pk)]
        start += len(fields)
        body = [
            f"o{index} = M{index}.__new__(M{index})",
            f"s = o{index}._state = ModelState()",
            "s.adding = False",
            "s.db = alias",
            f"o{index}.__dict__.update({', '.join(map('{}={}'.format, names, values))})",
        ]
        slow = f"o{index} = M{index}.from_db(alias, N{index}, [{', '.join(values)}])"
        indent = "        "
        if how is not None:  # None when the LEFT JOIN found no row
            lines.append(f"{indent}if {pk_value} is None:")
            lines.append(f"{indent}    o{index} = None")
            lines.append(f"{indent}else:")
            indent += "    "
        if _plain(model):
            lines.append(f"{indent}if plain:")
            lines += [f"{indent}    {line}" for line in body]
            lines.append(f"{indent}else:")
            lines.append(f"{indent}    {slow}")
        else:
            lines.append(f"{indent}{slow}")
        if how is None:
            continue
        field, reverse, source = how
        owner = f"o{source}"
        space[f"set{index}"] = field.set_cached_value
        if reverse:  # member.card, user.staff_profile; and the card's member
            space[f"back{index}"] = field.field.set_cached_value
            lines.append(f"        if {owner} is not None:")
            lines.append(f"            set{index}({owner}, o{index})")
            lines.append(f"            if o{index} is not None:")
            lines.append(f"                back{index}(o{index}, {owner})")
        else:  # card.tier
            lines.append(f"        if {owner} is not None:")
            lines.append(f"            set{index}({owner}, o{index})")
    lines += ["        found.append(o0)", "    return found"]
    exec("\n".join(lines), space)  # noqa: S102 - our own text, from the models' fields
    return space["load"]


def _plain_attribute(model, attname: str) -> bool:
    for klass in model.__mro__:
        if attname in klass.__dict__:
            found = klass.__dict__[attname]
            return isinstance(found, ForeignKeyDeferredAttribute) or not hasattr(
                type(found), "__set__"
            )
    return True


def _sqlite_rows(connection, sql: str, params: list) -> list[tuple]:
    """A read through sqlite3's own cursor, with the checks Django's cursor makes (the
    connection open, this thread's, the transaction not broken, errors as Django's), but
    not its wrappers around each execute: half the time of a short read. Used when no
    one is logging queries (DEBUG, the test suite's query counts) or wrapping them."""
    connection.ensure_connection()
    connection.validate_thread_sharing()
    connection.validate_no_broken_transaction()
    with connection.wrap_database_errors:
        cursor = connection.connection.cursor()
        try:
            cursor.execute(sql, params)
            return cursor.fetchall()
        finally:
            cursor.close()


class FixedRead:
    def __init__(
        self,
        model: type[models.Model],
        where: str,
        *,
        fields: tuple[str, ...] = (),
        related: tuple[str, ...] = (),
        order_by: str = "",
        limit: int | None = None,
        lock: bool = False,
    ):
        self.model, self.where, self.fields, self.related = model, where, fields, related
        self.order_by, self.limit, self.lock = order_by, limit, lock
        self._built: dict[str, tuple] = {}

    def _parts(self) -> list[tuple]:
        """(model, fields read, how it joins) for t0, t1, ...; how: (field, reverse,
        index of the part it joins from). A related name may go on from one named
        before it, as select_related's do: ("card", "card__tier"). `fields` names a
        joined model's columns by its path, as QuerySet.only does ("card__tier__name");
        a part none is named of is read whole, and every part read in part also reads
        its key and the keys its joins go by (only() refuses to defer those)."""
        named: dict[str, list[str]] = {}
        for name in self.fields:
            path, _sep, field_name = name.rpartition("__")
            named.setdefault(path, []).append(field_name)
        if unknown := set(named) - {"", *self.related}:
            raise ValueError(f"fields of {sorted(unknown)}: not in related")
        meta = self.model._meta
        parts = [(self.model, None, None)]
        paths = {"": 0}
        for path in self.related:
            before, _sep, name = path.rpartition("__")
            if before not in paths:
                raise ValueError(f"{path}: name {before} in related before it")
            source = paths[before]
            field = parts[source][0]._meta.get_field(name)
            if field.concrete and (field.many_to_one or field.one_to_one):
                reverse = False
                named.get(before, []).append(name)  # the key it joins by, when read in part
            elif field.one_to_one:  # the reverse side of a OneToOneField
                reverse = True
            else:
                raise ValueError(f"{path}: only foreign keys and one-to-ones can be joined")
            paths[path] = len(parts)
            parts.append((field.related_model, None, (field, reverse, source)))
        read = []
        for path, index in paths.items():
            model, _none, how = parts[index]
            meta = model._meta
            if path in named:
                wanted = {meta.get_field(name) for name in named[path]} | {meta.pk}
                # In the model's field order: Model.from_db fills the rest in as deferred.
                fields = [f for f in meta.concrete_fields if f in wanted]
            else:
                fields = list(meta.concrete_fields)
            read.append((model, fields, how))
        return read

    def _build(self, alias: str) -> tuple:
        connection = connections[alias]
        quote = connection.ops.quote_name
        parts = self._parts()
        columns, converters, joins = [], [], []
        for index, (model, fields, how) in enumerate(parts):
            table = f"t{index}"
            if how is not None:
                field, reverse, source = how
                source_model = parts[source][0]
                if reverse:  # the joined model holds the key: t<i>.fk = t<source>.pk
                    remote = field.field
                    key = quote(source_model._meta.pk.column)
                    on = f"{table}.{quote(remote.column)} = t{source}.{key}"
                else:
                    target = model._meta.pk.column
                    on = f"{table}.{quote(target)} = t{source}.{quote(field.column)}"
                joins.append(f"LEFT JOIN {quote(model._meta.db_table)} {table} ON {on}")
            converters += [
                (len(columns) + position, column, convert)
                for position, column, convert in _converters(connection, model, fields)
            ]
            columns += [f"{table}.{quote(field.column)}" for field in fields]
        sql = (
            f"SELECT {', '.join(columns)} FROM {quote(self.model._meta.db_table)} t0 "
            + " ".join(joins)
            + f" WHERE {self.where}"
        )
        if self.order_by:
            sql += f" ORDER BY {self.order_by}"
        if self.limit is not None:
            sql += f" LIMIT {int(self.limit)}"
        if self.lock and connection.features.has_select_for_update:
            sql += (
                " FOR UPDATE OF t0"
                if connection.features.has_select_for_update_of
                else (" FOR UPDATE")
            )
        load = _loader(parts, converters)
        # SQLite's own form of the statement (?-placeholders), as Django's cursor converts
        # it on every execute, for _sqlite_rows.
        qmark = sqlite_base.SQLiteCursorWrapper.convert_query(None, sql)
        return sql, load, qmark if connection.vendor == "sqlite" else None

    def __call__(self, *params) -> list[models.Model]:
        if not router.routers:  # no database routers: what they all answer
            alias = DEFAULT_DB_ALIAS
        else:
            alias = (router.db_for_write if self.lock else router.db_for_read)(self.model)
        connection = connections[alias]
        if self.lock and not connection.in_atomic_block:
            from django.db.transaction import TransactionManagementError

            # As select_for_update: a row lock outside a transaction would lock nothing.
            raise TransactionManagementError("FixedRead(lock=True) needs a transaction.")
        built = self._built.get(alias)
        if built is None:
            built = self._built[alias] = self._build(alias)
        sql, load, qmark = built
        params = [p if type(p) in _AS_IS else param(p, connection) for p in params]
        if qmark is not None and not connection.queries_logged and not connection.execute_wrappers:
            rows = _sqlite_rows(connection, qmark, params)
        else:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                rows = cursor.fetchall()
        if not rows:
            return []
        # Init receivers are asked about on each call: they may be connected at any time
        # (none at all, the usual case, is two empty lists).
        plain = not (signals.pre_init.receivers or signals.post_init.receivers)
        return load(rows, alias, connection, plain)

    def first(self, *params) -> models.Model | None:
        rows = self(*params)
        return rows[0] if rows else None


class FixedInsert:
    """`obj.save(force_insert=True)` for one model, the INSERT written once.

    What save() does for these models is kept: each field's pre_save (auto_now_add,
    defaults already set by the constructor), its database preparation
    (get_db_prep_save: Decimals, aware datetimes, JSON, encrypted text), the new id
    and the columns the database fills in (db_default) read back into the instance,
    the instance marked as saved in that database. Not sent: pre_save / post_save
    signals, so it serves only models that have no receivers and no save() of their
    own (the callers say so). A value that is a query expression (other than a
    db_default left to the database) goes through save() as before.
    """

    def __init__(self, model: type[models.Model]):
        self.model = model
        meta = model._meta
        if meta.parents:  # pragma: no cover - not the models this serves
            raise ValueError(f"{meta.label}: FixedInsert serves no multi-table inheritance")
        given = [f for f in meta.local_concrete_fields if f is not meta.auto_field]
        self.fields = [f for f in given if f.db_default is models.NOT_PROVIDED]
        self.db_defaults = [f for f in given if f.db_default is not models.NOT_PROVIDED]
        # (alias, which db_default fields are given) -> (sql, columns read back, converters)
        self._built: dict[tuple[str, tuple[bool, ...]], tuple[str, list, list]] = {}

    def __call__(self, obj: models.Model) -> models.Model:
        alias = router.db_for_write(self.model, instance=obj)
        connection = connections[alias]
        auto = self.model._meta.auto_field
        if (auto is not None and getattr(obj, auto.attname) is not None) or (
            not connection.features.can_return_columns_from_insert
        ):  # pragma: no cover - SQLite >= 3.35 and PostgreSQL return columns
            obj.save(force_insert=True, using=alias)
            return obj
        # A db_default field given a value is written like any other (save() does the
        # same); one left at DatabaseDefault is left to the database and read back.
        given = tuple(
            not isinstance(getattr(obj, f.attname), DatabaseDefault) for f in self.db_defaults
        )
        written = self.fields + [f for f, g in zip(self.db_defaults, given, strict=True) if g]
        values = []
        for field in written:
            value = field.pre_save(obj, True)
            if hasattr(value, "resolve_expression"):
                obj.save(force_insert=True, using=alias)
                return obj
            values.append(field.get_db_prep_save(value, connection))
        built = self._built.get((alias, given))
        if built is None:
            quote = connection.ops.quote_name
            meta = self.model._meta
            # Read back: the id (none when the key is a field given: Card's member) and
            # what the database fills in.
            returns = [auto] if auto is not None else []
            returns += [f for f, g in zip(self.db_defaults, given, strict=True) if not g]
            sql = (
                f"INSERT INTO {quote(meta.db_table)} "
                f"({', '.join(quote(f.column) for f in written)}) "
                f"VALUES ({', '.join(['%s'] * len(written))})"
            )
            if returns:
                sql += f" RETURNING {', '.join(quote(f.column) for f in returns)}"
            built = (sql, returns, _converters(connection, self.model, returns))
            self._built[(alias, given)] = built
        sql, returns, converters = built
        with connection.cursor() as cursor:
            cursor.execute(sql, values)
            row = list(cursor.fetchone()) if returns else []
        _convert(row, converters, connection)
        for field, value in zip(returns, row, strict=True):
            setattr(obj, field.attname, value)
        obj._state.adding, obj._state.db = False, alias
        return obj


class FixedUpdate:
    """`obj.save(update_fields=fields)` for one model, the UPDATE written once: the same
    preparation of each value, the same error when no row was updated; no signals (see
    FixedInsert).

    With `where` (field, operator) pairs it is also a conditional UPDATE of one row,
    `set(pk, values, *where_values)`, answering how many rows it changed (0 or 1): a
    coupon used only if it is still usable, in one statement.
    """

    def __init__(
        self,
        model: type[models.Model],
        fields: list[str] | tuple[str, ...],
        where: tuple[tuple[str, str], ...] = (),
    ):
        self.model = model
        meta = model._meta
        self.fields = [meta.get_field(name) for name in fields]
        self.where = [(meta.get_field(name), op) for name, op in where]
        if any(op not in ("=", "<", "<=", ">", ">=", "<>", "IS NULL") for _f, op in self.where):
            raise ValueError("where: one of = < <= > >= <> IS NULL")
        self._sql: dict[str, str] = {}

    def _statement(self, alias: str) -> str:
        sql = self._sql.get(alias)
        if sql is None:
            quote = connections[alias].ops.quote_name
            meta = self.model._meta
            sets = ", ".join(f"{quote(f.column)} = %s" for f in self.fields)
            conditions = "".join(
                f" AND {quote(f.column)} {op}" + ("" if op == "IS NULL" else " %s")
                for f, op in self.where
            )
            sql = self._sql[alias] = (
                f"UPDATE {quote(meta.db_table)} SET {sets} "
                f"WHERE {quote(meta.pk.column)} = %s{conditions}"
            )
        return sql

    def __call__(self, obj: models.Model) -> None:
        from django.db import DatabaseError

        alias = obj._state.db or router.db_for_write(self.model, instance=obj)
        connection = connections[alias]
        values = [f.get_db_prep_save(f.pre_save(obj, False), connection) for f in self.fields]
        with connection.cursor() as cursor:
            cursor.execute(self._statement(alias), [*values, obj.pk])
            if cursor.rowcount != 1:
                raise DatabaseError("Save with update_fields did not affect any rows.")

    def set(self, pk, values: dict, *where_values) -> int:
        """UPDATE ... SET values (by field name; related objects or ids) WHERE pk AND the
        `where` conditions hold for where_values; the number of rows changed."""
        alias = router.db_for_write(self.model)
        connection = connections[alias]
        prepared = []
        for field in self.fields:
            value = values[field.name]
            if isinstance(value, models.Model):
                if value.pk is None:
                    raise ValueError(f"{field.name}: an unsaved {type(value).__name__}")
                value = value.pk
            prepared.append(field.get_db_prep_save(value, connection))
        compared = [(field, op) for field, op in self.where if op != "IS NULL"]
        if any(value is None for value in where_values):
            raise ValueError("a NULL is compared with IS NULL, not a where value")
        conditions = [
            field.get_db_prep_value(value, connection, prepared=False)
            for (field, _op), value in zip(compared, where_values, strict=True)
        ]
        with connection.cursor() as cursor:
            cursor.execute(self._statement(alias), [*prepared, pk, *conditions])
            return cursor.rowcount
