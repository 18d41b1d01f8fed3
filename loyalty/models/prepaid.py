"""Prepaid money (储值): top-up offers and the stored-value ledger.

Customers' money held in advance, so held to the points ledger's rules or stricter:
every change goes through loyalty/stored_value.py in a transaction that locks the
member's Card, appends a StoredValueEntry with a unique idempotency key and updates the
card's principal and bonus. Rows are never updated or deleted.
Invariant (check_ledger): card.stored_principal == SUM(principal_delta) >= 0 and
card.stored_bonus == SUM(bonus_delta) >= 0.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import Member, Store, index_where_set

from .benefits import CouponTemplate
from .core import MONEY, Purchase


class Tender(models.TextChoices):
    """How a top-up was paid."""

    CASH = "cash", _("Cash")
    WECHAT_PAY = "wechat_pay", _("WeChat Pay")
    ALIPAY = "alipay", _("Alipay")
    CARD = "card", _("Bank card")


class TopUpOffer(models.Model):
    """充 500 送 50: pay at least `pay_amount`, get `bonus` (and a coupon or points)."""

    code = models.SlugField(
        _("code"), max_length=32, unique=True, help_text=_("What the till or the API sends.")
    )
    name = models.CharField(_("name"), max_length=60)
    pay_amount = models.DecimalField(
        _("top-up of at least (yuan)"), **MONEY, validators=[MinValueValidator(Decimal("0.01"))]
    )
    bonus = models.DecimalField(_("bonus (yuan)"), **MONEY, default=Decimal("0.00"))
    coupon = models.ForeignKey(
        CouponTemplate,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("coupon given with it"),
    )
    points = models.PositiveIntegerField(_("points given with it"), default=0)
    active = models.BooleanField(_("active"), default=True)
    starts_on = models.DateField(_("from"), null=True, blank=True)
    ends_on = models.DateField(_("until (inclusive)"), null=True, blank=True)
    stores = models.ManyToManyField(
        Store, blank=True, related_name="+", verbose_name=_("stores (none: all stores)")
    )

    class Meta:
        verbose_name = _("top-up offer")
        verbose_name_plural = _("top-up offers")
        ordering = ["pay_amount", "code"]
        constraints = [models.CheckConstraint(condition=Q(bonus__gte=0), name="offer_bonus_gte_0")]

    def __str__(self):
        return self.name


class StoredValueEntry(models.Model):
    class Kind(models.TextChoices):
        TOP_UP = "top_up", _("Top-up")
        SPEND = "spend", _("Spent on a purchase")
        REFUND = "refund", _("Returned by a refund")
        CASH_OUT = "cash_out", _("Cashed out (principal paid back, bonus forfeited)")
        IMPORT = "import", _("Imported opening balance")

    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="stored_value_entries",
        verbose_name=_("member"),
        db_index=False,  # stored_value_member_time starts with it
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    principal_delta = models.DecimalField(_("principal"), **MONEY)
    bonus_delta = models.DecimalField(_("bonus"), **MONEY)
    principal_after = models.DecimalField(_("principal after"), **MONEY)
    bonus_after = models.DecimalField(_("bonus after"), **MONEY)
    idempotency_key = models.CharField(max_length=120, unique=True)
    reference = models.CharField(_("reference"), max_length=64, blank=True)
    tender = models.CharField(_("paid by"), max_length=12, choices=Tender.choices, blank=True)
    offer = models.ForeignKey(
        TopUpOffer,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("offer"),
    )
    purchase = models.ForeignKey(
        Purchase,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="stored_value_entries",
        db_index=False,  # stored_value_purchase_set: only the rows that have one
    )
    store = models.ForeignKey(
        Store, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
        db_index=False,
    )
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("stored value entry")
        verbose_name_plural = _("stored value ledger")
        permissions = [("cash_out_stored_value", _("Can cash out a member's stored value"))]
        constraints = [
            models.CheckConstraint(
                condition=Q(principal_after__gte=0) & Q(bonus_after__gte=0),
                name="stored_value_after_not_negative",
            ),
        ]
        indexes = [
            # A member's history (member centre, 360 page).
            models.Index(fields=["member", "-created_at"], name="stored_value_member_time"),
            # A purchase's spend, found again by its refunds.
            index_where_set("purchase", "stored_value_purchase_set"),
            # The liability report: per store and day.
            models.Index(fields=["store", "created_at"], name="stored_value_store_time"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.total:+}"

    @property
    def total(self):
        """The change of the whole balance (principal and bonus), in yuan."""
        return self.principal_delta + self.bonus_delta

    @property
    def balance_after(self):
        return self.principal_after + self.bonus_after
