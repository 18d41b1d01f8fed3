"""Reads that may come from a read replica: the dashboard, exports, segment counts.

With DATABASE_REPLICA_URL set (config/settings.py) there is a second database alias,
``replica``, fed by PostgreSQL's own replication, and ReplicaRouter is installed. Only
code that says so reads from it: inside ``from_replica()`` (a context manager, or a
decorator on a function or a view) the ORM reads from the replica; everywhere else it
reads from ``default``. A replica lags the primary by a moment, so the counter, the
API and anything that reads right after it wrote stay on the primary, and so does a
read inside a transaction on ``default`` (it must see its own writes). Writes always go
to ``default``, inside from_replica() too; only ``default`` is migrated (the replica
gets its schema by replication).

The switch is a ContextVar: a thread or an asyncio task sees only its own. A view
decorated with ``@from_replica`` renders a TemplateResponse before the switch is turned
off (Django would render it later, in the middleware chain, reading lazy querysets
from the primary) and produces a streamed response's chunks with the switch on.

A replica that cannot be reached (down, refusing, a dead host past connect_timeout) is
not an outage: the reads go to the primary, a warning is logged, and the replica is
tried again after RETRY_SECONDS (per process). Reads are slower meanwhile, not broken.
A replica further behind than REPLICA_MAX_LAG seconds (replay stopped or slow: a long
query on it, a broken link) is left for the primary the same way: its lag is asked at
most every LAG_CHECK_SECONDS per process (pg_last_xact_replay_timestamp, when it has
WAL received but not yet replayed), so the dashboard never shows figures minutes old.
An error from the replica half-way through a request (it went away just then) is
still a 503 (config/outage.py), as from the primary.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.http import FileResponse, HttpRequest, StreamingHttpResponse
from django.template.response import SimpleTemplateResponse

log = logging.getLogger(__name__)
REPLICA = "replica"
RETRY_SECONDS = 30.0  # a replica found unreachable is left alone this long
LAG_CHECK_SECONDS = 5.0  # how often (per process) the replica's lag is asked
# Seconds the replica is behind: none while it has replayed all it received (an idle
# primary sends nothing: the last replay's time says nothing then), else since the last
# transaction it replayed (none yet since it started: since it started). 0 on a primary
# (a replica URL pointing at one).
LAG_SQL = (
    "SELECT CASE WHEN NOT pg_is_in_recovery() "
    "OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
    "ELSE EXTRACT(EPOCH FROM now() - COALESCE(pg_last_xact_replay_timestamp(), "
    "pg_postmaster_start_time())) END"
)
clock = time.monotonic

_reading: ContextVar[bool] = ContextVar("huiyuan_replica_reads", default=False)
_down_until = 0.0  # clock() before which the replica counts as unreachable (per process)
_lag = {"checked": float("-inf"), "behind": False}  # the last lag check (per process)


def configured() -> bool:
    """Whether this process has a replica alias (DATABASE_REPLICA_URL set)."""
    return REPLICA in connections.settings


def reading_from_replica() -> bool:
    """Whether the code running now asked for the replica (from_replica())."""
    return _reading.get()


def replica_available() -> bool:
    """The replica's connection of this thread is open and usable, or just opened; False
    (and the replica left alone for RETRY_SECONDS, with a warning) when it cannot be."""
    global _down_until
    if clock() < _down_until:
        return False
    connection = connections[REPLICA]
    try:
        # What Django does before a request's first query (CONN_HEALTH_CHECKS): a kept
        # connection that died is closed, and a new one opened.
        connection.close_if_health_check_failed()
        connection.ensure_connection()
        if connection.vendor == "postgresql" and _behind(connection):
            return False
    except DatabaseError as exc:
        _down_until = clock() + RETRY_SECONDS
        with suppress(DatabaseError):
            connection.close()
        log.warning(
            "read replica unreachable, reading from the primary for %ss: %s", RETRY_SECONDS, exc
        )
        return False
    return True


def replica_lag(connection) -> float:
    """Seconds the replica on `connection` is behind its primary (LAG_SQL)."""
    with connection.cursor() as cursor:
        cursor.execute(LAG_SQL)
        return float(cursor.fetchone()[0])


def _behind(connection) -> bool:
    """Whether the replica is more than REPLICA_MAX_LAG behind, asked at most every
    LAG_CHECK_SECONDS; a change either way is logged."""
    if clock() < _lag["checked"] + LAG_CHECK_SECONDS:
        return _lag["behind"]
    lag = replica_lag(connection)
    behind = lag > settings.REPLICA_MAX_LAG
    if behind != _lag["behind"]:
        if behind:
            log.warning("read replica %.1f s behind (REPLICA_MAX_LAG %s): reading from the "
                        "primary", lag, settings.REPLICA_MAX_LAG)  # fmt: skip
        else:
            log.warning("read replica caught up (%.1f s behind): reading from it again", lag)
    _lag.update(checked=clock(), behind=behind)
    return behind


def forget_health() -> None:
    """Try the replica again at the next read, and ask its lag (tests; after fixing it)."""
    global _down_until
    _down_until = 0.0
    _lag.update(checked=float("-inf"), behind=False)


class ReplicaRouter:
    """settings.DATABASE_ROUTERS: reads inside from_replica() from the replica."""

    def db_for_read(self, model, **hints):
        if not _reading.get() or not configured():
            return None  # Django's choice: the primary (or the instance's own database)
        if connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return DEFAULT_DB_ALIAS  # a transaction reads its own writes
        return REPLICA if replica_available() else DEFAULT_DB_ALIAS

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        # The same rows on both: an object read from the replica may be linked to one
        # read from the primary (saved, it goes to the primary anyway).
        if {obj1._state.db, obj2._state.db} <= {DEFAULT_DB_ALIAS, REPLICA}:
            return True
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT_DB_ALIAS


@contextmanager
def _switched_on():
    token = _reading.set(True)
    try:
        yield
    finally:
        _reading.reset(token)


def _chunks_from_replica(chunks: Iterable) -> Iterator:
    """A streamed response's chunks, each made with the switch on (never across a yield:
    the consumer's own reads stay on the primary)."""
    iterator = iter(chunks)
    while True:
        with _switched_on():
            try:
                chunk = next(iterator)
            except StopIteration:
                return
        yield chunk


def _finish(result):
    """A view's response made complete while the switch is still on."""
    if isinstance(result, SimpleTemplateResponse) and not result.is_rendered:
        result.render()
    elif (
        isinstance(result, StreamingHttpResponse)
        and not isinstance(result, FileResponse)
        and not result.is_async
    ):
        result.streaming_content = _chunks_from_replica(result.streaming_content)
    return result


def from_replica(func: Callable | None = None):
    """``with from_replica(): ...`` or ``@from_replica`` (a function or a view).

    Decorate a view below its login and permission checks (login_required,
    permission_required): those read the session, the user and their permissions,
    which must be current, from the primary.
    """
    if func is None:
        return _switched_on()
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def run_async(*args, **kwargs):
            from asgiref.sync import sync_to_async

            with _switched_on():
                result = await func(*args, **kwargs)
                if isinstance(result, SimpleTemplateResponse) and not result.is_rendered:
                    await sync_to_async(result.render)()
                return result

        return run_async

    @functools.wraps(func)
    def run(*args, **kwargs):
        staff_from_primary(args[0] if args else None)
        with _switched_on():
            return _finish(func(*args, **kwargs))

    return run


def staff_from_primary(request) -> None:
    """Read who the staff member is and which store they see (their StaffProfile) from
    the primary before the switch: a replica that lags (or whose replication broke)
    would otherwise decide a demoted owner's scope. Cached on the user for the view."""
    user = getattr(request, "user", None) if isinstance(request, HttpRequest) else None
    if user is not None and user.is_authenticated:
        with suppress(ObjectDoesNotExist):
            user.staff_profile  # noqa: B018 - loads and caches the relation
