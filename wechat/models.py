"""WeChat state: followers of the official account, parametric QR scenes, the callbacks
already processed (WeChat retries each one up to 3 times), and the owner's template texts.
"""

from django.conf import settings
from django.core.validators import MaxLengthValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.models import Message
from members.models import Store

# WeChat shows at most 20 characters in a template field.
TEMPLATE_FIELD_MAX = 20


class QrScene(models.Model):
    """A permanent parametric QR code: who follows by scanning it is attributed to its
    store and staff member (subscribe events carry qrscene_<scene>)."""

    scene = models.CharField(_("scene"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=50)
    store = models.ForeignKey(
        Store, on_delete=models.PROTECT, related_name="wechat_scenes", verbose_name=_("store")
    )
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="wechat_scenes",
        verbose_name=_("staff member"),
    )
    ticket = models.CharField(_("ticket"), max_length=200, blank=True, editable=False)
    url = models.URLField(_("QR code content"), max_length=300, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("WeChat QR code")
        verbose_name_plural = _("WeChat QR codes")

    def __str__(self):
        return f"{self.name} ({self.scene})"


class Follower(models.Model):
    """A follower of the official account, by openid (a member binds the same openid)."""

    openid = models.CharField(max_length=64, unique=True)
    subscribed = models.BooleanField(_("subscribed"), default=True)
    scene = models.ForeignKey(
        QrScene, on_delete=models.SET_NULL, null=True, blank=True, verbose_name=_("QR code")
    )
    store = models.ForeignKey(
        Store, on_delete=models.SET_NULL, null=True, blank=True, verbose_name=_("store")
    )
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        verbose_name=_("staff member"),
    )
    subscribed_at = models.DateTimeField(_("subscribed at"), null=True, blank=True)
    unsubscribed_at = models.DateTimeField(_("unsubscribed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("WeChat follower")
        verbose_name_plural = _("WeChat followers")

    def __str__(self):
        return self.openid


class Callback(models.Model):
    """A callback already handled: MsgId for messages, FromUserName+CreateTime for events."""

    key = models.CharField(max_length=128, unique=True)
    kind = models.CharField(max_length=32)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # Pruning old rows (a retry comes within 15 s; a day is plenty).
            models.Index(fields=["received_at"], name="wechat_callback_received"),
        ]

    def __str__(self):
        return self.key


class CallbackNonce(models.Model):
    """A callback URL already used, by its signature over (token, timestamp, nonce).

    In plain mode WeChat signs the URL, not the body: within the freshness window a
    signed URL read from an access log could carry any other body. The first body seen
    with a signature is remembered (its SHA-256); the same URL with another body is
    refused. The same body again is WeChat's retry, left to the Callback dedupe.
    """

    signature = models.CharField(max_length=40, unique=True)
    body_sha256 = models.CharField(max_length=64)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["received_at"], name="wechat_nonce_received")]

    def __str__(self):
        return self.signature


class TemplateText(models.Model):
    """The fixed texts of a notice's template message, edited by the owner."""

    event = models.CharField(_("event"), max_length=20, choices=Message.Event.choices, unique=True)
    first = models.CharField(
        _("opening line"),
        max_length=TEMPLATE_FIELD_MAX,
        blank=True,
        validators=[MaxLengthValidator(TEMPLATE_FIELD_MAX)],
        help_text=_("Empty: the notice's title. At most 20 characters (WeChat's limit)."),
    )
    remark = models.CharField(
        _("closing line"),
        max_length=TEMPLATE_FIELD_MAX,
        blank=True,
        validators=[MaxLengthValidator(TEMPLATE_FIELD_MAX)],
        help_text=_("At most 20 characters (WeChat's limit)."),
    )
    enabled = models.BooleanField(_("send by WeChat"), default=True)

    class Meta:
        verbose_name = _("WeChat template text")
        verbose_name_plural = _("WeChat template texts")

    def __str__(self):
        return self.get_event_display()


class MemberCardClass(models.Model):
    """The merchant's WeChat member card (微信会员卡) as members see it in 卡包.

    One per official account. Published (card/create) it gets WeChat's card_id; changes
    afterwards go out with card/update. Custom field 1 shows the member's tier.
    """

    class Color(models.TextChoices):
        # WeChat's card colours (card/getcolors): name -> value.
        GREEN = "Color010", _("green #63B359")
        TEAL = "Color020", _("teal #2C9F67")
        CYAN = "Color030", _("cyan #509FC9")
        BLUE = "Color040", _("blue #5885CF")
        PURPLE = "Color050", _("purple #9062C0")
        BROWN = "Color060", _("brown #D09A45")
        GOLD = "Color070", _("gold #E4B138")
        ORANGE = "Color080", _("orange #EE903C")
        RED = "Color090", _("red #DD6549")
        DARK_RED = "Color100", _("dark red #CC463D")

    brand_name = models.CharField(
        _("brand name"), max_length=12, help_text=_("At most 12 characters (WeChat's limit).")
    )
    title = models.CharField(
        _("card title"), max_length=9, help_text=_("At most 9 characters (WeChat's limit).")
    )
    logo = models.ImageField(
        _("logo"),
        upload_to="wechat/card/",
        help_text=_("Square, at least 300 × 300 pixels, at most 1 MB (WeChat's limits)."),
    )
    logo_url = models.URLField(_("logo on WeChat"), max_length=300, blank=True, editable=False)
    color = models.CharField(_("colour"), max_length=8, choices=Color.choices, default=Color.GOLD)
    notice = models.CharField(
        _("usage notice"),
        max_length=16,
        default="出示会员卡享受会员权益",
        help_text=_("Shown under the card's code. At most 16 characters."),
    )
    description = models.TextField(
        _("how to use"), max_length=1000, default="结账时出示会员卡，积分和余额自动更新。"
    )
    prerogative = models.TextField(
        _("member privileges"), max_length=1000, default="会员等级享受折扣，消费累积积分。"
    )
    service_phone = models.CharField(_("service phone"), max_length=24, blank=True)
    show_bonus = models.BooleanField(_("show points"), default=True)
    show_balance = models.BooleanField(_("show stored value"), default=True)
    tier_field_name = models.CharField(
        _("tier field name"), max_length=4, default="等级", help_text=_("At most 4 characters.")
    )
    on_posters = models.BooleanField(
        _("claim QR code on store posters"),
        default=False,
        help_text=_("The store posters show the card's claim QR code beside the join code."),
    )
    card_id = models.CharField(_("WeChat card id"), max_length=64, blank=True, editable=False)
    claim_url = models.URLField(_("claim link"), max_length=300, blank=True, editable=False)
    # Each store poster's own claim link (its QR code's outer_str: the store's code).
    claim_urls = models.JSONField(default=dict, blank=True, editable=False)
    published_at = models.DateTimeField(_("published"), null=True, blank=True, editable=False)
    changed_at = models.DateTimeField(_("changed"), default=timezone.now, editable=False)
    last_error = models.CharField(_("last error"), max_length=300, blank=True, editable=False)

    class Meta:
        verbose_name = _("WeChat member card")
        verbose_name_plural = _("WeChat member card")

    def __str__(self):
        return self.title


class MemberCardHolding(models.Model):
    """A member card in someone's 卡包: claimed (user_get_card), activated as a member's,
    or deleted (user_del_card). WeChat's code identifies it; the membership number shown
    on it is the member's number."""

    class Status(models.TextChoices):
        CLAIMED = "claimed", _("claimed, not activated")
        ACTIVE = "active", _("activated")
        DELETED = "deleted", _("deleted by the member")

    card_class = models.ForeignKey(
        MemberCardClass, on_delete=models.CASCADE, related_name="holdings", verbose_name=_("card")
    )
    code = models.CharField(_("card code"), max_length=64)
    openid = models.CharField(max_length=64, db_index=True)
    member = models.ForeignKey(
        "members.Member",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="wechat_cards",
        verbose_name=_("member"),
    )
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.CLAIMED
    )
    outer_str = models.CharField(_("claimed through"), max_length=64, blank=True)
    claimed_at = models.DateTimeField(_("claimed at"), default=timezone.now)
    activated_at = models.DateTimeField(_("activated at"), null=True, blank=True)
    deleted_at = models.DateTimeField(_("deleted at"), null=True, blank=True)
    viewed_at = models.DateTimeField(_("last viewed"), null=True, blank=True)
    views = models.PositiveIntegerField(_("views"), default=0)
    # What WeChat shows now (the last update it accepted): the reconciliation compares.
    shown_bonus = models.IntegerField(_("points shown"), null=True, blank=True)
    shown_balance = models.DecimalField(
        _("stored value shown"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    shown_tier = models.CharField(_("tier shown"), max_length=30, blank=True)
    synced_at = models.DateTimeField(_("last synced"), null=True, blank=True)
    # A sender's or an activation's lease on this card: one call to WeChat at a time, so
    # two workers never send one change twice or the older figures last.
    busy_until = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("member card in WeChat")
        verbose_name_plural = _("member cards in WeChat")
        constraints = [
            models.UniqueConstraint(fields=["card_class", "code"], name="wechat_holding_code")
        ]
        indexes = [
            models.Index(fields=["member", "status"], name="wechat_holding_member"),
            # The counter finds a member by the code of their card (members.selectors).
            models.Index(fields=["code"], name="wechat_holding_code_only"),
        ]

    def __str__(self):
        return self.code


class CardUpdate(models.Model):
    """A change to push to a member's card in 卡包 (membercard/updateuser): the card sync's
    outbox, written in the transaction of the ledger entry it is about, one row per entry
    (`ref` is unique: a signal handled twice adds nothing). The sender coalesces every
    waiting row of a member into one call carrying the absolute figures."""

    class Kind(models.TextChoices):
        POINTS = "points", _("points")
        BALANCE = "balance", _("stored value")
        TIER = "tier", _("tier")
        REPAIR = "repair", _("reconciliation")

    member = models.ForeignKey(
        "members.Member", on_delete=models.CASCADE, related_name="+", verbose_name=_("member")
    )
    ref = models.CharField(_("reference"), max_length=64, unique=True)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    add_bonus = models.IntegerField(_("points change"), default=0)
    add_balance = models.DecimalField(
        _("stored value change"), max_digits=12, decimal_places=2, default=0
    )
    record = models.CharField(_("record text"), max_length=60, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_try_at = models.DateTimeField(_("next try"), default=timezone.now)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("member card update")
        verbose_name_plural = _("member card updates")
        indexes = [
            models.Index(
                fields=["next_try_at"],
                name="wechat_cardupdate_due",
                condition=models.Q(sent_at__isnull=True),
            ),
            models.Index(fields=["member", "sent_at"], name="wechat_cardupdate_member"),
        ]

    def __str__(self):
        return self.ref


# The mini-program's models live with its API (wechat/mp/).
from .mp.models import *  # noqa: E402, F403
