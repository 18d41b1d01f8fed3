"""Django's cached_db session store (Redis in front of the database), with the
database read of members.sessions when the cache misses."""

from django.contrib.sessions.backends import cached_db

from .sessions import RawRead


class SessionStore(RawRead, cached_db.SessionStore):
    pass
