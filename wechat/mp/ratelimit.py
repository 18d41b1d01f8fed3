"""Requests per minute of the mini-program API, per member and per address.

A fixed window: one counter per key and calendar minute, added at 0 and incremented.
With Redis the counters are in the shared cache (atomic, every worker counts together).
Without it (SQLite, one host) they are in each process's memory ("local" cache): the
database cache would add writes to every request, all waiting for SQLite's one write
lock; a limit then holds per worker process (with gunicorn's N workers, up to N times
the setting in all). A cache that is down counts nothing: the API stays up without its
limits rather than refusing everyone.
"""

import time

from django.conf import settings
from django.core.cache import caches

WINDOW = 60  # seconds
PREFIX = "mp:rate:"


class RateLimited(Exception):
    """Over a limit: try again after `retry_after` seconds (the window's end)."""

    def __init__(self, retry_after: int):
        super().__init__(f"rate limited for {retry_after} s")
        self.retry_after = retry_after


def _hit(key: str, limit: int, now: float) -> None:
    if limit <= 0:  # 0: no limit
        return
    window = int(now // WINDOW)
    full = f"{PREFIX}{key}:{window}"
    cache = caches["default" if settings.REDIS_URL else "local"]
    cache.add(full, 0, WINDOW + 5)
    try:
        count = cache.incr(full)
    except ValueError:  # gone between add and incr (evicted, or the cache is down)
        return
    if count is not None and count > limit:
        raise RateLimited(max(1, WINDOW * (window + 1) - int(now)))


def rate_check_address(address: str, *, now: float | None = None) -> None:
    """Count a request from `address`; RateLimited over MP_RATE_ADDRESS a minute."""
    _hit(f"a:{address}", settings.MP_RATE_ADDRESS, time.time() if now is None else now)


def rate_check_member(key: str, *, now: float | None = None) -> None:
    """Count a request of a member (or of a mini-program user not yet a member: `key`
    tells them apart); RateLimited over MP_RATE_MEMBER a minute."""
    _hit(f"m:{key}", settings.MP_RATE_MEMBER, time.time() if now is None else now)
