"""营销活动: a campaign (a broadcast, or a journey fired by a trigger), its variants
(A/B, each with an optional offer), and the stored assignment of each member it
reached (a variant, or the holdout that receives nothing)."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import Member

CHANNEL_CHOICES = [
    ("inbox", _("Member centre inbox")),
    ("wechat", _("WeChat template message")),
    ("sms", _("SMS (marketing, with consent)")),
]


def default_channels() -> list[str]:
    return ["inbox", "wechat"]


class Campaign(models.Model):
    class Kind(models.TextChoices):
        BROADCAST = "broadcast", _("Broadcast")
        JOURNEY = "journey", _("Automated journey")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SCHEDULED = "scheduled", _("Scheduled")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        ACTIVE = "active", _("Active (journey)")
        PAUSED = "paused", _("Paused")

    class Trigger(models.TextChoices):
        REGISTERED = "registered", _("Registered")
        FIRST_PURCHASE = "first_purchase", _("First purchase")
        NO_SECOND_PURCHASE = "no_second_purchase", _("No second purchase N days after the first")
        INACTIVE = "inactive", _("No purchase for N days")
        BIRTHDAY = "birthday", _("Birthday in N days")
        TIER_UP = "tier_up", _("Tier up")
        POINTS_EXPIRING = "points_expiring", _("Points expiring in N days")
        COUPON_EXPIRING = "coupon_expiring", _("Coupon expiring in N days")
        MEMBER_DAY = "member_day", _("Member day")

    name = models.CharField(_("name"), max_length=80)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.BROADCAST)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.DRAFT
    )
    segment = models.ForeignKey(
        "campaigns.Segment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="campaigns",
        verbose_name=_("audience (segment)"),
        help_text=_("Empty: every member."),
    )
    # The audience's rule as it was when the campaign was sent (a later edit of the
    # segment does not move who was in it).
    rules = models.JSONField(_("rules"), default=dict, blank=True, editable=False)
    channels = models.JSONField(_("channels"), default=default_channels)
    title = models.CharField(_("title"), max_length=60)
    message = models.TextField(
        _("message"),
        help_text=_("Placeholders: {name} {tier} {points} {coupon} {expires}."),
    )
    holdout_percent = models.PositiveSmallIntegerField(
        _("holdout (%)"),
        default=10,
        validators=[MaxValueValidator(50)],
        help_text=_("Members who receive nothing: the control group for the lift."),
    )
    send_at = models.DateTimeField(
        _("send at"), null=True, blank=True, help_text=_("Empty: as soon as it is started.")
    )
    repeat_days = models.PositiveSmallIntegerField(
        _("repeat every (days)"),
        null=True,
        blank=True,
        help_text=_("A broadcast sent again to its audience every N days. Empty: once."),
    )
    attribution_days = models.PositiveSmallIntegerField(
        _("attribution window (days)"), default=14, validators=[MinValueValidator(1)]
    )
    trigger = models.CharField(_("trigger"), max_length=20, choices=Trigger.choices, blank=True)
    trigger_days = models.PositiveSmallIntegerField(
        _("N (days)"), default=0, help_text=_("The N of the trigger, where it has one.")
    )
    delay_days = models.PositiveSmallIntegerField(
        _("delay (days)"), default=0, help_text=_("Days after the trigger fired.")
    )
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
    started_at = models.DateTimeField(_("started at"), null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-created_at"]

    def __str__(self):
        return self.name


class Variant(models.Model):
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="variants", verbose_name=_("campaign")
    )
    name = models.CharField(_("name"), max_length=20, default="A")
    weight = models.PositiveSmallIntegerField(
        _("weight"), default=1, validators=[MinValueValidator(1)]
    )
    coupon_template = models.ForeignKey(
        "loyalty.CouponTemplate",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("coupon"),
    )
    points = models.PositiveIntegerField(_("points"), default=0)
    message = models.TextField(
        _("message (this variant)"), blank=True, help_text=_("Empty: the campaign's message.")
    )

    class Meta:
        verbose_name = _("variant")
        verbose_name_plural = _("variants")
        ordering = ["campaign", "name"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "name"], name="variant_name_unique")
        ]

    def __str__(self):
        return f"{self.campaign} · {self.name}"


class CampaignMember(models.Model):
    """One member reached by a campaign, once per occurrence (a broadcast's round, a
    journey's trigger date): the variant they were assigned (None: the holdout), which
    never changes, and what happened when it was sent."""

    class Outcome(models.TextChoices):
        PENDING = "pending", _("Waiting")
        SENT = "sent", _("Queued to send")
        HOLDOUT = "holdout", _("Holdout (nothing sent)")
        CAPPED = "capped", _("Skipped: frequency cap")
        NO_CONSENT = "no_consent", _("Skipped: no marketing consent")
        NO_CHANNEL = "no_channel", _("Skipped: no channel reaches them")

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="reached", verbose_name=_("campaign")
    )
    member = models.ForeignKey(
        Member, on_delete=models.CASCADE, related_name="+", verbose_name=_("member")
    )
    occurrence = models.CharField(_("occurrence"), max_length=20, default="")
    variant = models.ForeignKey(
        Variant,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="members",
        verbose_name=_("variant"),
    )
    outcome = models.CharField(
        _("outcome"), max_length=10, choices=Outcome.choices, default=Outcome.PENDING
    )
    assigned_at = models.DateTimeField(_("assigned at"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("campaign member")
        verbose_name_plural = _("campaign members")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "member", "occurrence"], name="campaign_member_once"
            )
        ]
        indexes = [
            models.Index(fields=["campaign", "outcome"], name="campaign_member_outcome"),
            models.Index(fields=["member", "sent_at"], name="campaign_member_sent"),
        ]

    def __str__(self):
        return f"{self.campaign} · {self.member_id}"


class MarketingSettings(models.Model):
    """The one row of marketing rules every campaign obeys (edited in the admin)."""

    weekly_cap = models.PositiveSmallIntegerField(
        _("marketing messages per member per 7 days, at most"),
        default=2,
        help_text=_("A campaign skips members who already had this many (0: no limit)."),
    )
    quiet_from = models.PositiveSmallIntegerField(
        _("quiet hours from (hour)"), default=21, validators=[MaxValueValidator(23)]
    )
    quiet_until = models.PositiveSmallIntegerField(
        _("quiet hours until (hour)"),
        default=9,
        validators=[MaxValueValidator(23)],
        help_text=_("No marketing message leaves between these hours (Shanghai); they wait."),
    )

    class Meta:
        verbose_name = _("marketing settings")
        verbose_name_plural = _("marketing settings")

    def __str__(self):
        return str(_("Marketing settings"))

    @classmethod
    def current(cls) -> "MarketingSettings":
        return cls.objects.get_or_create(pk=1)[0]
