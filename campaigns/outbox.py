"""Writing notices to the outbox and sending them.

`notices_enqueue` writes one Message per member and channel with a dedupe key
(bulk, conflicts ignored: the same notice twice is one message). `messages_send`
claims due messages with a conditional UPDATE (pending -> sending), so two
workers never send one message twice, sends each through its channel, and on a
failure retries with backoff (1, 4, 16, 64 minutes) up to Message.MAX_ATTEMPTS.

A channel whose service is down (ChannelUnavailable: WeChat timing out, busy, over its
quota) fails every message alike: the message that met it is retried as any other (no
sooner than the channel's `retry_after`), and the channel's other due messages wait as
long without trying, so a worker does not spend a timeout on each of them and an outage
does not use up their attempts. Their last error says why they wait. A failed message's
next_try_at is when it was given up (the admin's summary counts a day's).
"""

import datetime as dt
import logging

from django.db import transaction
from django.db.models import Count, F, Min, Q
from django.utils import timezone

from config.platform.bulk import insert_rows

from .channels import CHANNELS, ChannelError, ChannelSkip, channels_for_notices
from .models import Message

log = logging.getLogger(__name__)
SEND_BATCH = 200
WAITING = [Message.Status.PENDING, Message.Status.SENDING]
SUMMARY_REASONS = 5
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


class ChannelUnavailable(ChannelError):
    """The channel's service is down or refusing for now, whatever the message: retried
    with backoff, no sooner than `retry_after`, and the channel's other due messages wait
    as long instead of each trying in turn (the module's docstring)."""

    def __init__(self, reason: str, retry_after: dt.timedelta = dt.timedelta(0)):
        super().__init__(reason)
        self.retry_after = retry_after


def _backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(minutes=4 ** max(attempts - 1, 0))


def messages_send(ids=None, now=None) -> dict:
    """Send due messages (or the given ones, when due). Safe to run on several workers."""
    now = now or timezone.now()
    counts = {"sent": 0, "retry": 0, "failed": 0, "skipped": 0}
    due = Message.objects.filter(status=Message.Status.PENDING, next_try_at__lte=now)
    if ids is not None:
        due = due.filter(pk__in=ids)
    held: set[str] = set()  # channels found unavailable in this run
    while batch := claim(due.exclude(channel__in=held) if held else due):
        for i, message in enumerate(batch):
            if message.channel in held:
                continue  # put back with the channel's pause (_hold)
            outcome, pause = _send_one(message, now)
            counts[outcome] += 1
            if pause is not None:
                held.add(message.channel)
                rest = [m.pk for m in batch[i + 1 :] if m.channel == message.channel]
                counts["retry"] += _hold(due, message.channel, rest, *pause)
        if ids is not None:
            return counts
    return counts


def _hold(due, channel: str, claimed: list[int], until, reason: str) -> int:
    """The channel is down until `until`: its messages claimed in this batch go back
    unattempted, its other due ones wait as long; all say why. Returns how many."""
    reason = reason[:2000]
    held = Message.objects.filter(pk__in=claimed, status=Message.Status.SENDING).update(
        status=Message.Status.PENDING,
        attempts=F("attempts") - 1,
        next_try_at=until,
        last_error=reason,
    )
    held += due.filter(channel=channel).update(next_try_at=until, last_error=reason)
    if held:
        log.warning("channel %s unavailable until %s, %s messages wait: %s", channel, until,
                    held, reason)  # fmt: skip
    return held


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
            # next_try_at becomes the claim's time: messages_recover_stuck counts its 15
            # minutes from there, not from when the message fell due (after a backlog that
            # was long ago, and a batch still sending would be put back and sent twice).
            Message.objects.filter(pk__in=pks, status=Message.Status.PENDING).update(
                status=Message.Status.SENDING,
                attempts=F("attempts") + 1,
                next_try_at=timezone.now(),
            )
    return list(Message.objects.select_related("member").filter(pk__in=pks).order_by("pk"))


def _send_one(message: Message, now) -> tuple[str, tuple | None]:
    """Send one claimed message; every outcome but success is written here. Returns the
    outcome and, when the channel is unavailable, (until when, why)."""
    channel = CHANNELS.get(message.channel)
    if channel is None or not channel.available(message.member):
        Message.objects.filter(pk=message.pk).update(
            status=Message.Status.SKIPPED, last_error="channel not available"
        )
        return "skipped", None
    try:
        channel.send(message)
    except ChannelSkip as exc:
        Message.objects.filter(pk=message.pk).update(
            status=Message.Status.SKIPPED, last_error=str(exc)[:2000]
        )
        return "skipped", None
    except ChannelError as exc:
        give_up = message.attempts >= Message.MAX_ATTEMPTS
        # The channel's pause: the backoff of a retry (a message given up: of its last).
        retry_at = now + max(
            _backoff(min(message.attempts, Message.MAX_ATTEMPTS - 1)),
            exc.retry_after if isinstance(exc, ChannelUnavailable) else dt.timedelta(0),
        )
        Message.objects.filter(pk=message.pk).update(
            status=Message.Status.FAILED if give_up else Message.Status.PENDING,
            next_try_at=now if give_up else retry_at,
            last_error=str(exc)[:2000],
        )
        log.warning("message %s via %s failed (%s): %s", message.pk, message.channel,
                    message.attempts, exc)  # fmt: skip
        pause = (retry_at, str(exc)) if isinstance(exc, ChannelUnavailable) else None
        return ("failed" if give_up else "retry"), pause
    # At once, not with the batch: a worker killed mid-batch resends nothing it sent.
    Message.objects.filter(pk=message.pk).update(status=Message.Status.SENT, sent_at=now)
    return "sent", None


def messages_recover_stuck(now=None, after=dt.timedelta(minutes=15)) -> int:
    """Messages left 'sending' by a killed worker go back to pending (15 minutes after
    they were claimed: claim() dates them)."""
    now = now or timezone.now()
    return Message.objects.filter(
        Q(status=Message.Status.SENDING), next_try_at__lt=now - after
    ).update(status=Message.Status.PENDING, next_try_at=now)


def outbox_summary(messages, now=None) -> dict:
    """What the outbox holds back, for staff (the Message admin), over `messages` (all,
    or a store's), in two queries: by channel, how many wait (pending or sending) and how
    many were given up in the last 24 hours; the oldest waiting one's creation time; the
    waiting ones' commonest last errors ("" for not tried yet), most common first."""
    now = now or timezone.now()
    waiting = Q(status__in=WAITING)
    failed = Q(status=Message.Status.FAILED, next_try_at__gte=now - dt.timedelta(hours=24))
    channels = list(
        messages.filter(waiting | failed)
        .order_by()
        .values("channel")
        .annotate(
            waiting=Count("pk", filter=waiting),
            failed=Count("pk", filter=failed),
            oldest=Min("created_at", filter=waiting),
        )
        .order_by("channel")
    )
    reasons = (
        messages.filter(waiting)
        .order_by()
        .values("last_error")
        .annotate(count=Count("pk"))
        .order_by("-count", "last_error")[:SUMMARY_REASONS]
    )
    return {
        "channels": channels,
        "waiting": sum(c["waiting"] for c in channels),
        "failed": sum(c["failed"] for c in channels),
        "oldest": min((c["oldest"] for c in channels if c["oldest"]), default=None),
        "reasons": [(r["last_error"], r["count"]) for r in reasons],
    }
