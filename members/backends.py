"""The staff login backend: Django's ModelBackend, reading the staff profile with the user.

Every staff request loads the session's user (django.contrib.auth.get_user) and then
its StaffProfile (store, role): one joined query instead of two. The query is written
once per process (`_UserRead`), not built by the ORM on every request: building it
cost more than running it (docs/benchmarks.md, "lookup"). The rows become model
instances as the ORM makes them (Model.from_db, the fields' own converters), the
profile cached on the user as select_related would.
"""

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ValidationError
from django.db import connections, router

from .models import StaffProfile, User


class _UserRead:
    """SELECT user.*, profile.* FROM user LEFT JOIN profile WHERE user.id = %s, for one
    database connection; the columns in the models' field order."""

    def __init__(self, alias: str):
        connection = connections[alias]
        quote = connection.ops.quote_name
        self.alias = alias
        self.user_fields = [f.attname for f in User._meta.concrete_fields]
        self.profile_fields = [f.attname for f in StaffProfile._meta.concrete_fields]
        fields = [("u", f) for f in User._meta.concrete_fields] + [
            ("p", f) for f in StaffProfile._meta.concrete_fields
        ]
        columns = ", ".join(f"{t}.{quote(f.column)}" for t, f in fields)
        user_fk = StaffProfile._meta.get_field("user").column
        self.sql = (
            f"SELECT {columns} FROM {quote(User._meta.db_table)} u "
            f"LEFT JOIN {quote(StaffProfile._meta.db_table)} p ON p.{quote(user_fk)} = u.id "
            "WHERE u.id = %s"
        )
        table = {"u": User._meta.db_table, "p": StaffProfile._meta.db_table}
        self.converters = []
        for i, (t, field) in enumerate(fields):
            found = connection.ops.get_db_converters(
                field.get_col(table[t])
            ) + field.get_db_converters(connection)
            if found:
                self.converters.append((i, field.get_col(table[t]), found))

    def __call__(self, user_id) -> User | None:
        connection = connections[self.alias]
        with connection.cursor() as cursor:
            cursor.execute(self.sql, [user_id])
            row = cursor.fetchone()
        if row is None:
            return None
        row = list(row)
        for i, expression, converters in self.converters:
            for convert in converters:
                row[i] = convert(row[i], expression, connection)
        n = len(self.user_fields)
        user = User.from_db(self.alias, self.user_fields, row[:n])
        profile = None
        if row[n] is not None:  # the profile's id: the LEFT JOIN found one
            profile = StaffProfile.from_db(self.alias, self.profile_fields, row[n:])
            StaffProfile.user.field.set_cached_value(profile, user)
        User.staff_profile.related.set_cached_value(user, profile)
        return user


_reads: dict[str, _UserRead] = {}


def user_with_profile(user_id) -> User | None:
    """The user `user_id` with its staff profile cached (None when it has none)."""
    alias = router.db_for_read(User)
    read = _reads.get(alias)
    if read is None:
        read = _reads[alias] = _UserRead(alias)
    try:
        user_id = User._meta.pk.to_python(user_id)
    except ValidationError:  # a session holding something that is no id
        return None
    return read(user_id)


class StaffBackend(ModelBackend):
    def get_user(self, user_id):
        user = user_with_profile(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None
