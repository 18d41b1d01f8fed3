"""Django's database session stores, with the session read by one fixed SELECT.

Every signed-in request (staff screens, the member centre) starts by reading its
session. Django reads it through the ORM (`Session.objects.get(session_key=...,
expire_date__gt=now)`), which builds and compiles the same query each time: about
half a millisecond of Python, more than the database takes to answer, and a
third of the cost of an empty staff view (docs/benchmarks.md, "lookup"). Here the
same SELECT is written once; the row and what is done with it are Django's.

SESSION_ENGINE is `config.platform.sessions` (sessions in the database) or, with Redis,
`config.platform.cached_sessions` (config/settings.py).
"""

from django.contrib.sessions.backends import db
from django.contrib.sessions.backends.base import CreateError, UpdateError
from django.contrib.sessions.models import Session
from django.core.signals import setting_changed
from django.db import DatabaseError, IntegrityError, connections, router, transaction
from django.dispatch import receiver
from django.utils import timezone

from .fixed_sql import FixedInsert, FixedRead, FixedUpdate

_LIVE = "t0.session_key = %s AND t0.expire_date > %s"
# Django's database store reads only the data of the row; its cached store also the
# expiry, to keep the session in the cache as long (config.platform.cached_sessions).
_live_session = FixedRead(Session, _LIVE, fields=("session_key", "session_data"))
live_session_with_expiry = FixedRead(Session, _LIVE)
_insert_session = FixedInsert(Session)
_update_session = FixedUpdate(Session, ["session_data", "expire_date"])


class RawRead:
    """`_get_session_from_db` as Django's: the live session or None (and no key)."""

    live_session = _live_session

    def _get_session_from_db(self):
        if self.session_key is None:  # Django's would query for NULL and find nothing
            return None
        found = self.live_session.first(self.session_key, timezone.now())
        if found is None:
            self._session_key = None
        return found


class RawWrite:
    """Django's exists / save / delete of a database session, each one statement written
    once: Django's delete reads the row before deleting it, and every save builds its
    INSERT or UPDATE anew. Signing in (a new session key) does all three."""

    def _table(self, connection) -> str:
        return connection.ops.quote_name(self.model._meta.db_table)

    def exists(self, session_key):
        connection = connections[router.db_for_read(self.model)]
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT 1 FROM {self._table(connection)} WHERE session_key = %s", [session_key]
            )
            return cursor.fetchone() is not None

    def delete(self, session_key=None):
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        connection = connections[router.db_for_write(self.model)]
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {self._table(connection)} WHERE session_key = %s", [session_key]
            )

    def save(self, must_create=False):
        if self.session_key is None:
            return self.create()
        data = self._get_session(no_load=must_create)
        obj = self.create_model_instance(data)
        alias = router.db_for_write(self.model, instance=obj)
        write = _insert_session if must_create else _update_session
        try:
            if connections[alias].in_atomic_block:  # a savepoint keeps the caller's going
                with transaction.atomic(using=alias):
                    write(obj)
            else:  # one statement: atomic by itself
                write(obj)
        except IntegrityError:
            if must_create:
                raise CreateError from None
            raise
        except DatabaseError:
            if not must_create:
                raise UpdateError from None
            raise


class KnownDecode:
    """decode() once per stored text: a signed-in device sends the same session on every
    request, and checking its signature and parsing it again cost a twentieth of an
    empty staff view. The key is the whole signed text, so a text is only ever answered
    as its first check answered it; sessions holding only plain values are kept (a
    caller's change to a nested one could not leak into the next request), each caller
    gets its own copy, and the process keeps at most KNOWN_SESSIONS of them."""

    def decode(self, session_data):
        key = (self.key_salt, session_data)  # a text is checked against its store's salt
        known = _known.get(key)
        if known is not None:
            return dict(known)
        value = super().decode(session_data)
        if value and all(type(v) in _PLAIN for v in value.values()):
            if len(_known) >= KNOWN_SESSIONS:
                _known.clear()
            _known[key] = dict(value)
        return value


KNOWN_SESSIONS = 1000
_PLAIN = {str, int, float, bool, type(None)}
_known: dict[tuple[str, str], dict] = {}


@receiver(setting_changed)
def _forget_known(setting, **kwargs):
    # A text is remembered as checked with the secrets and serializer of the time: a
    # change (override_settings in tests) has the next decode check it again.
    if setting in ("SECRET_KEY", "SECRET_KEY_FALLBACKS", "SESSION_SERIALIZER"):
        _known.clear()


class SessionStore(KnownDecode, RawRead, RawWrite, db.SessionStore):
    pass
