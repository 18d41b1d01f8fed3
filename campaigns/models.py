"""The notification outbox: one Message per member, channel and event.

Every notice (points expiring, tier up or down, a coupon received ...) is written
here first, in or after the transaction that caused it, with a unique dedupe key,
so a job that runs twice or an event delivered twice never sends twice. A task
sends due messages through their channel (campaigns/channels.py) with retries
and backoff. The member-centre inbox reads the inbox channel's rows.
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import Member


class Message(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting to be sent")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed (gave up)")
        SKIPPED = "skipped", _("Skipped (channel not available for this member)")

    class Event(models.TextChoices):
        WELCOME = "welcome", _("Welcome")
        POINTS_EARNED = "points_earned", _("Points earned")
        POINTS_SPENT = "points_spent", _("Points spent")
        POINTS_EXPIRING = "points_expiring", _("Points expiring")
        TIER_UP = "tier_up", _("Tier up")
        TIER_DOWN = "tier_down", _("Tier down")
        TIER_WARNING = "tier_warning", _("Tier downgrade coming")
        COUPON_RECEIVED = "coupon_received", _("Coupon received")
        COUPON_EXPIRING = "coupon_expiring", _("Coupon expiring")
        CAMPAIGN = "campaign", _("Campaign")

    MAX_ATTEMPTS = 5

    member = models.ForeignKey(
        Member, on_delete=models.CASCADE, related_name="messages", verbose_name=_("member")
    )
    channel = models.CharField(_("channel"), max_length=16)
    event = models.CharField(_("event"), max_length=20, choices=Event.choices)
    dedupe_key = models.CharField(max_length=160, unique=True)
    title = models.CharField(_("title"), max_length=100)
    body = models.TextField(_("text"))
    data = models.JSONField(_("data"), default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_try_at = models.DateTimeField(_("next try"), default=timezone.now)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        indexes = [
            # The sender: due pending messages, oldest first.
            models.Index(fields=["next_try_at"], condition=Q(status="pending"), name="message_due"),
            # The member-centre inbox.
            models.Index(fields=["member", "channel", "-created_at"], name="message_inbox"),
        ]

    def __str__(self):
        return f"{self.get_event_display()} → {self.member_id} ({self.channel})"
