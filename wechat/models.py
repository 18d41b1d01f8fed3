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
