"""Queueing a task without making the request that queues it depend on the broker.

With Redis as django-q2's broker, Redis being down made `async_task` raise in the
middle of a request that had already committed its work (an import confirmed, an
export asked for): a 500 page for work that was in fact saved. The rows are the truth
(an ImportJob, ExportJob or SegmentRun waiting in "queued"); the task is only the
nudge. So `enqueue` logs a broker failure and returns False, and a sweep every minute
queues again what has waited too long (`requeue_waiting` for imports and exports,
`requeue_segment_runs` for segment runs); each task claims its row with a conditional
UPDATE, so a second nudge does nothing twice. What has no row of its own is redone by
its schedule: a broadcast by send_campaigns (every minute), the dashboard's days by
the night's dashboard_aggregates, a follower's profile at their next event.
"""

import logging

from django.db.models import Q
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# What a broker that is down or unreachable raises: redis-py's errors, and the socket's
# own (a refused or reset connection) where a broker lets them through.
BROKER_ERRORS = (RedisError, OSError)


def enqueue(func: str, *args, task_name: str | None = None, **kwargs) -> bool:
    """async_task(func, *args, ...); False (logged) when the broker cannot take it."""
    from django_q.tasks import async_task

    try:
        async_task(func, *args, task_name=task_name, **kwargs)
    except BROKER_ERRORS as exc:
        log.warning("task %s not queued, the broker is unavailable: %s", task_name or func, exc)
        return False
    return True


def nudge_waiting(queryset, stamp: str, send, now, *, wait, limit: int = 500) -> int:
    """The sweeps' loop: queue again (`send(pk)` -> bool, members.queue.enqueue's answer)
    every row of `queryset` (rows in "queued") that has waited longer than `wait` since
    it was asked for (created_at) or last nudged (the `stamp` field), oldest first, at
    most `limit`; stop at the first refusal (the broker is still down: the next run tries
    again). Each row nudged is stamped, conditionally (still queued), so that it is
    nudged again only `wait` later if nobody takes it. Returns how many were queued."""
    before = now - wait
    waiting = queryset.filter(
        Q(**{f"{stamp}__lt": before}) | Q(**{f"{stamp}__isnull": True, "created_at__lt": before})
    )
    queued = 0
    for pk in list(waiting.order_by("pk").values_list("pk", flat=True)[:limit]):
        if not send(pk):
            break
        queued += 1
        queryset.filter(pk=pk).update(**{stamp: now})
    return queued
