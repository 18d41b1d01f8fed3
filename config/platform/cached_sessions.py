"""Django's cached_db session store (Redis in front of the database), reading and writing
the database as config.platform.sessions does when the cache misses or is written through."""

from django.contrib.sessions.backends import cached_db

from . import sessions


class SessionStore(cached_db.SessionStore, sessions.SessionStore):
    live_session = sessions.live_session_with_expiry  # the cache keeps it until it expires
