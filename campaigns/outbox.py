"""Writing notices to the outbox and sending them.

`notices_enqueue` writes one Message per member and channel with a dedupe key
(bulk, conflicts ignored: the same notice twice is one message). `messages_send`
claims due messages with a conditional UPDATE (pending -> sending), so two
workers never send one message twice, sends each through its channel, and on a
failure retries with backoff (1, 4, 16, 64 minutes) up to Message.MAX_ATTEMPTS.
"""

import datetime as dt
import logging

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from config.platform.bulk import insert_rows

from .channels import CHANNELS, ChannelError, ChannelSkip, channels_for_notices
from .models import Message

log = logging.getLogger(__name__)
SEND_BATCH = 200
MESSAGE_FIELDS = [
    "member_id", "channel", "event", "dedupe_key", "title", "body", "data",
    "status", "attempts", "last_error", "created_at", "next_try_at", "sent_at",
]  # fmt: skip


def notices_enqueue(
    items, *, event: str, channels: list[str] | None = None, return_ids: bool = False
) -> list[int]:
    """items: (member_id, key, title, body, data). With return_ids, returns the ids of the
    new messages to send (not the inbox's); else [] (a night's batch needs no ids).

    The send_messages job (every minute) sends them; nothing is sent from inside
    the caller's transaction, and a rolled-back cause leaves no message.
    """
    channels = channels or channels_for_notices()
    now = timezone.now()
    # The inbox needs no sending: it is delivered the moment it is written.
    sent, pending = Message.Status.SENT, Message.Status.PENDING
    rows = [
        (
            member_id,
            channel,
            event,
            f"{key}:{channel}"[:160],
            title[:100],
            body,
            data or {},
            sent if channel == "inbox" else pending,
            0,
            "",
            now,
            now,
            now if channel == "inbox" else None,
        )  # fmt: skip
        for member_id, key, title, body, data in items
        for channel in channels
    ]
    if not rows:
        return []
    # executemany, not bulk_create: a night's downgrades are hundreds of thousands of
    # notices, and the ORM's per-value compile cost most of review_tiers' time.
    insert_rows(Message, MESSAGE_FIELDS, rows, ignore_conflicts=True)
    if not return_ids:
        return []
    keys = [row[3] for row in rows if row[1] != "inbox"]
    ids = list(
        Message.objects.filter(dedupe_key__in=keys, status=pending, created_at=now).values_list(
            "pk", flat=True
        )
    )
    return ids


def _backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(minutes=4 ** max(attempts - 1, 0))


def messages_send(ids=None, now=None) -> dict:
    """Send due messages (or the given ones, when due). Safe to run on several workers."""
    now = now or timezone.now()
    counts = {"sent": 0, "retry": 0, "failed": 0, "skipped": 0}
    due = Message.objects.filter(status=Message.Status.PENDING, next_try_at__lte=now)
    if ids is not None:
        due = due.filter(pk__in=ids)
    while batch := claim(due):
        for message in batch:
            counts[_send_one(message, now)] += 1
        if ids is not None:
            return counts
    return counts


def claim(due) -> list[Message]:
    """Take up to SEND_BATCH due messages (pending -> sending) for this worker alone.

    PostgreSQL: the rows are locked and other workers skip them (SKIP LOCKED); SQLite:
    the transaction holds the write lock from its start (IMMEDIATE), so claims queue.
    """
    with transaction.atomic():
        pks = list(
            due.order_by("next_try_at", "pk")
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)[:SEND_BATCH]
        )
        if pks:
            Message.objects.filter(pk__in=pks, status=Message.Status.PENDING).update(
                status=Message.Status.SENDING, attempts=F("attempts") + 1
            )
    return list(Message.objects.select_related("member").filter(pk__in=pks).order_by("pk"))


def _send_one(message: Message, now) -> str:
    """Send one claimed message; every outcome but success is written here."""
    channel = CHANNELS.get(message.channel)
    if channel is None or not channel.available(message.member):
        Message.objects.filter(pk=message.pk).update(
            status=Message.Status.SKIPPED, last_error="channel not available"
        )
        return "skipped"
    try:
        channel.send(message)
    except ChannelSkip as exc:
        Message.objects.filter(pk=message.pk).update(
            status=Message.Status.SKIPPED, last_error=str(exc)[:2000]
        )
        return "skipped"
    except ChannelError as exc:
        give_up = message.attempts >= Message.MAX_ATTEMPTS
        Message.objects.filter(pk=message.pk).update(
            status=Message.Status.FAILED if give_up else Message.Status.PENDING,
            next_try_at=now + _backoff(message.attempts),
            last_error=str(exc)[:2000],
        )
        log.warning("message %s via %s failed (%s): %s", message.pk, message.channel,
                    message.attempts, exc)  # fmt: skip
        return "failed" if give_up else "retry"
    # At once, not with the batch: a worker killed mid-batch resends nothing it sent.
    Message.objects.filter(pk=message.pk).update(status=Message.Status.SENT, sent_at=now)
    return "sent"


def messages_recover_stuck(now=None, after=dt.timedelta(minutes=15)) -> int:
    """Messages left 'sending' by a killed worker go back to pending."""
    now = now or timezone.now()
    return Message.objects.filter(
        Q(status=Message.Status.SENDING), next_try_at__lt=now - after
    ).update(status=Message.Status.PENDING, next_try_at=now)
