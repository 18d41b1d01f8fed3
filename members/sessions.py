"""Django's database session stores, with the session read by one fixed SELECT.

Every signed-in request (staff screens, the member centre) starts by reading its
session. Django reads it through the ORM (`Session.objects.get(session_key=...,
expire_date__gt=now)`), which builds and compiles the same query each time: about
half a millisecond of Python, more than the database takes to answer, and a
third of the cost of an empty staff view (docs/benchmarks.md, "lookup"). Here the
same SELECT is written once; the row and what is done with it are Django's.

SESSION_ENGINE is `members.sessions` (sessions in the database) or, with Redis,
`members.cached_sessions` (config/settings.py).
"""

import datetime as dt

from django.contrib.sessions.backends import db
from django.db import connections, router
from django.utils import timezone


class RawRead:
    """`_get_session_from_db` as Django's: the live session or None (and no key)."""

    def _get_session_from_db(self):
        model = self.model
        key = self.session_key
        if key is None:  # Django's would query for NULL and find nothing
            return None
        alias = router.db_for_read(model)
        connection = connections[alias]
        ops = connection.ops
        table = ops.quote_name(model._meta.db_table)
        now = ops.adapt_datetimefield_value(timezone.now())
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT session_data, expire_date FROM {table} "
                "WHERE session_key = %s AND expire_date > %s",
                [key, now],
            )
            row = cursor.fetchone()
        if row is None:
            self._session_key = None
            return None
        data, expire = row
        if isinstance(expire, str):  # SQLite without declared-type parsing
            expire = dt.datetime.fromisoformat(expire)
        if timezone.is_naive(expire):  # SQLite keeps the connection's zone (UTC)
            expire = expire.replace(tzinfo=connection.timezone)
        return model(session_key=key, session_data=data, expire_date=expire)


class SessionStore(RawRead, db.SessionStore):
    pass
