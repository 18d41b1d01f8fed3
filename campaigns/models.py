"""The notification outbox: one Message per member, channel and event.

Every notice (points expiring, tier up or down, a coupon received ...) is written
here first, in or after the transaction that caused it, with a unique dedupe key,
so a job that runs twice or an event delivered twice never sends twice. A task
sends due messages through their channel (campaigns/channels.py) with retries
and backoff. The member-centre inbox reads the inbox channel's rows.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.models import MONEY
from members.models import Member, Store, Tag


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
        STORED_VALUE = "stored_value", _("Stored value")
        COUNT_CARD = "count_card", _("Count card")
        CAMPAIGN = "campaign", _("Campaign")

    MAX_ATTEMPTS = 5

    member = models.ForeignKey(
        Member,
        on_delete=models.CASCADE,
        related_name="messages",
        verbose_name=_("member"),
        db_index=False,  # message_inbox starts with it
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
    # A campaign's message: whom it reached and in which variant (reports count by it).
    campaign_member = models.ForeignKey(
        "campaigns.CampaignMember",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="messages",
        db_index=False,  # message_campaign_member: only the rows that have one
    )

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        indexes = [
            # The sender: due pending messages, oldest first.
            models.Index(fields=["next_try_at"], condition=Q(status="pending"), name="message_due"),
            # The member-centre inbox.
            models.Index(fields=["member", "channel", "-created_at"], name="message_inbox"),
            models.Index(
                fields=["campaign_member"],
                condition=Q(campaign_member__isnull=False),
                name="message_campaign_member",
            ),
        ]

    def __str__(self):
        from .channel_labels import channel_label

        return f"{self.get_event_display()} → {self.member_id} ({channel_label(self.channel)})"


class DailyStats(models.Model):
    """The dashboard's daily aggregate: one Shanghai day of one store's members.

    Filled by the `dashboard_aggregates` job (campaigns/dashboard.py), so the dashboard
    sums a few hundred of these rows instead of scanning purchases and the ledger.
    A member belongs to their registration store (members without one: store NULL),
    and everything of theirs counts there, wherever they bought. Figures are flows of
    the day; stocks (members, points outstanding, tiers) are the sums of the flows
    up to a day. `gaps` holds, for the day's purchases, how many days back each
    member's previous and second-previous purchase was: from them the dashboard counts
    distinct buyers and repeat buyers of any date range exactly (see dashboard.py).
    """

    day = models.DateField(_("day"))
    store = models.ForeignKey(
        "members.Store",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("store"),
    )
    # The day's total over every store (and members without one): the owner's "all
    # stores" view reads one row a day instead of one per store.
    all_stores = models.BooleanField(_("all stores"), default=False)
    new_members = models.PositiveIntegerField(_("new members"), default=0)
    erased_members = models.PositiveIntegerField(_("erased members"), default=0)
    purchases = models.PositiveIntegerField(_("purchases"), default=0)
    gross = models.DecimalField(_("amount before discounts"), **MONEY, default=0)
    spend = models.DecimalField(_("cash paid"), **MONEY, default=0)
    refunds = models.DecimalField(_("refunded"), **MONEY, default=0)
    tier_discount = models.DecimalField(_("tier discounts"), **MONEY, default=0)
    coupon_value = models.DecimalField(_("coupon value used"), **MONEY, default=0)
    points_issued = models.BigIntegerField(_("points issued"), default=0)
    points_redeemed = models.BigIntegerField(_("points redeemed"), default=0)
    points_expired = models.BigIntegerField(_("points expired"), default=0)
    points_net = models.BigIntegerField(_("points balance change"), default=0)
    stored_value_net = models.DecimalField(
        _("stored value balance change"), **MONEY, default=0
    )  # principal and bonus: what the business owes in prepaid money, its change that day
    coupons_issued = models.PositiveIntegerField(_("coupons issued"), default=0)
    coupons_redeemed = models.PositiveIntegerField(_("coupons used"), default=0)
    upgrades = models.PositiveIntegerField(_("tier upgrades"), default=0)
    downgrades = models.PositiveIntegerField(_("tier downgrades"), default=0)
    tier_net = models.JSONField(_("members per tier, change"), default=dict, blank=True)
    gaps = models.JSONField(_("days since previous purchases"), default=dict, blank=True)
    computed_at = models.DateTimeField(_("computed at"), default=timezone.now)

    class Meta:
        verbose_name = _("daily statistics")
        verbose_name_plural = _("daily statistics")
        constraints = [
            # One row per day and store, and one for members without a store: the job
            # replaces a day's rows, so running it twice changes nothing.
            models.UniqueConstraint(
                fields=["day", "store"],
                condition=Q(store__isnull=False),
                name="dailystats_day_store",
            ),
            models.UniqueConstraint(
                fields=["day"],
                condition=Q(store__isnull=True, all_stores=False),
                name="dailystats_day_nostore",
            ),
            models.UniqueConstraint(
                fields=["day"], condition=Q(all_stores=True), name="dailystats_day_all"
            ),
        ]
        indexes = [
            # The dashboard of one store: its rows of a date range, and up to a day (stocks).
            models.Index(fields=["store", "day"], name="dailystats_store_day"),
            # The dashboard of all stores: every store's rows of a date range.
            models.Index(fields=["day"], name="dailystats_day"),
        ]

    def __str__(self):
        return f"{self.day} · {self.store_id or '-'}"


class StatsDay(models.Model):
    """A day whose DailyStats rows are complete (the job's bookmark: days without it are
    computed on the next run, so a first run backfills and a killed run resumes)."""

    day = models.DateField(_("day"), unique=True)
    computed_at = models.DateTimeField(_("computed at"), default=timezone.now)

    class Meta:
        verbose_name = _("computed day")
        verbose_name_plural = _("computed days")

    def __str__(self):
        return str(self.day)


def everyone() -> dict:
    return {"all": []}


class Segment(models.Model):
    """人群: a saved, named rule tree (campaigns/segments/rules.py) over members and
    their cards. Its count is kept with the time it was taken, in total and per store
    (a store manager sees their own store's)."""

    name = models.CharField(_("name"), max_length=60, unique=True)
    description = models.CharField(_("description"), max_length=255, blank=True)
    rules = models.JSONField(_("rules"), default=everyone)
    tag = models.OneToOneField(
        Tag,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="segment",
        limit_choices_to={"kind": Tag.Kind.RULE},
        verbose_name=_("rule tag"),
        help_text=_(
            "An automatic tag that the nightly job keeps equal to this segment: "
            "members who enter get it, members who leave lose it."
        ),
    )
    member_count = models.PositiveIntegerField(_("members"), null=True, blank=True, editable=False)
    store_counts = models.JSONField(default=dict, blank=True, editable=False)
    counted_at = models.DateTimeField(_("counted at"), null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name"]

    def __str__(self):
        return self.name


class SegmentRun(models.Model):
    """One background action over a segment's members (issue a coupon, add a tag),
    with its progress. Each member's step is idempotent (a coupon's issue key is the
    run and the member), so a run that stopped can be started again."""

    class Kind(models.TextChoices):
        COUPON = "coupon", _("Issue a coupon")
        TAG = "tag", _("Add a tag")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    segment = models.ForeignKey(
        Segment, on_delete=models.CASCADE, related_name="runs", verbose_name=_("segment")
    )
    kind = models.CharField(_("action"), max_length=8, choices=Kind.choices)
    coupon_template = models.ForeignKey(
        "loyalty.CouponTemplate",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("coupon"),
    )
    tag = models.ForeignKey(
        Tag,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("tag"),
    )
    rules = models.JSONField(_("rules"), default=everyone, editable=False)
    # A store manager's run reaches only their store's members.
    store = models.ForeignKey(
        Store, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("store"),
    )  # fmt: skip
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.QUEUED
    )
    total = models.PositiveIntegerField(_("members"), default=0)
    done = models.PositiveIntegerField(_("done"), default=0)
    result = models.JSONField(_("result"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("started by"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    # While queued: when its task was last queued again (segments/services.py
    # requeue_segment_runs), or by a retry; None: never since created_at.
    nudged_at = models.DateTimeField(null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("segment action")
        verbose_name_plural = _("segment actions")
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.segment} · {self.get_kind_display()}"

    @property
    def percent(self) -> int:
        return min(100, self.done * 100 // self.total) if self.total else 100


# 营销活动 (campaigns/marketing/): campaigns, variants, who was reached, the rules.
from .marketing.models import (  # noqa: E402
    Campaign,
    CampaignMember,
    MarketingSettings,
    Variant,
)

__all__ = [
    "Campaign",
    "CampaignMember",
    "DailyStats",
    "MarketingSettings",
    "Message",
    "Segment",
    "SegmentRun",
    "StatsDay",
    "Variant",
]
