"""Count cards (次卡): a number of uses of a service, paid in advance.

The owner sets templates (CountCardTemplate: "10 次洗车卡", 10 uses, 300 yuan, valid 12
months, at these stores, for these services). A member buys one (CountCard: a copy of
the template's name and uses, the price paid, how, the expiry) and uses it one use at a
time. Every change goes through loyalty/count_cards.py in a transaction that locks the
member's loyalty Card and appends a CountCardEntry with a unique idempotency key; rows
are never updated or deleted.
Invariant (check_ledger): 0 <= card.uses_left == SUM(entries.delta) <= card.uses_total.
"""

import re
from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import Member, Store, index_where_set

from ..dates import last_valid_day
from .core import MONEY
from .prepaid import Tender

# What separates a template's services: a comma (either width) or 、.
SERVICE_SEPARATORS = re.compile(r"[,，、]")
# How a count card was paid: a tender at the till, or the member's stored value.
STORED_VALUE = "stored_value"
IMPORTED = "import"  # bought in the previous system: an import's opening (imports/extras.py)
COUNT_CARD_TENDERS = [
    *Tender.choices,
    (STORED_VALUE, _("Stored value")),
    (IMPORTED, _("Previous system")),
]
SERVICE_MAX_LENGTH = 60  # a use's service, as the till sends it


class CountCardTemplate(models.Model):
    """次卡模板: what is sold — N uses for a price, valid M months, here, for these services."""

    code = models.SlugField(
        _("code"), max_length=32, unique=True, help_text=_("What the till or the API sends.")
    )
    name = models.CharField(_("name"), max_length=60)
    uses = models.PositiveIntegerField(_("uses"), validators=[MinValueValidator(1)])
    price = models.DecimalField(
        _("price (yuan)"), **MONEY, validators=[MinValueValidator(Decimal("0.00"))]
    )
    valid_months = models.PositiveIntegerField(
        _("valid for (months)"), default=12, help_text=_("0: never expires.")
    )
    services = models.CharField(
        _("services"),
        max_length=255,
        blank=True,
        help_text=_(
            "The services or categories it can be used for, separated by commas or 、, "
            "e.g. 洗车、打蜡. Empty: any service."
        ),
    )
    stores = models.ManyToManyField(
        Store, blank=True, related_name="+", verbose_name=_("stores (none: all stores)")
    )
    active = models.BooleanField(_("on sale"), default=True)

    class Meta:
        verbose_name = _("count card template")
        verbose_name_plural = _("count card templates")
        ordering = ["price", "code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(uses__gte=1) & Q(price__gte=0), name="count_card_template_valid"
            ),
        ]

    def __str__(self):
        return self.name

    def service_names(self) -> list[str]:
        """The services it covers, as typed (empty: any service)."""
        return [s.strip() for s in SERVICE_SEPARATORS.split(self.services) if s.strip()]

    def covers(self, service: str) -> bool:
        """Whether a use for `service` is allowed: any when either side is blank."""
        names = self.service_names()
        service = (service or "").strip()
        if not names or not service:
            return True
        return service.casefold() in {name.casefold() for name in names}

    def offered_at(self, store: Store | None) -> bool:
        """Whether it is sold and used at `store` (no stores set: all; no store given: yes)."""
        if store is None:
            return True
        stores = {s.pk for s in self.stores.all()}
        return not stores or store.pk in stores


class CountCard(models.Model):
    """A member's count card: uses bought, uses left, until when."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        USED_UP = "used_up", _("Used up")
        EXPIRED = "expired", _("Expired")
        REFUNDED = "refunded", _("Refunded")

    STORED_VALUE = STORED_VALUE

    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="count_cards",
        verbose_name=_("member"),
        db_index=False,  # count_card_member_status starts with it
    )
    template = models.ForeignKey(
        CountCardTemplate,
        on_delete=models.PROTECT,
        related_name="cards",
        verbose_name=_("template"),
    )
    name = models.CharField(_("name"), max_length=60)
    uses_total = models.PositiveIntegerField(_("uses bought"))
    uses_left = models.PositiveIntegerField(_("uses left"))
    price_paid = models.DecimalField(_("price paid (yuan)"), **MONEY)
    tender = models.CharField(_("paid by"), max_length=16, choices=COUNT_CARD_TENDERS)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    sold_at = models.DateTimeField(_("sold at"), default=timezone.now)
    expires_at = models.DateTimeField(
        _("expires at"),
        null=True,
        blank=True,
        help_text=_("The first instant after its last valid day. Empty: never."),
    )
    store = models.ForeignKey(
        Store,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("sold at store"),
        db_index=False,  # count_card_store_set: only the rows that have one
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("sold by"),
        db_index=False,
    )
    reference = models.CharField(_("reference"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("count card")
        verbose_name_plural = _("count cards")
        permissions = [("refund_count_card", _("Can refund a member's count card"))]
        constraints = [
            models.CheckConstraint(
                condition=Q(uses_left__gte=0) & Q(uses_left__lte=F("uses_total")),
                name="count_card_uses_left_in_range",
            ),
        ]
        indexes = [
            # A member's cards (the counter, the member centre, the API).
            models.Index(fields=["member", "status"], name="count_card_member_status"),
            # The nightly expiry and the expiry notices: active cards by expiry.
            models.Index(
                fields=["expires_at"],
                condition=Q(status="active"),
                name="count_card_active_expiry",
            ),
            index_where_set("store", "count_card_store_set"),
        ]

    def __str__(self):
        return f"{self.name} ({self.uses_left}/{self.uses_total})"

    @property
    def paid_by_stored_value(self) -> bool:
        return self.tender == STORED_VALUE

    def last_day(self):
        """Its last valid Shanghai day, or None when it never expires."""
        if self.expires_at is None:
            return None
        return last_valid_day(self.expires_at)


class CountCardEntry(models.Model):
    """One change of a count card's uses: its sale, a use, its expiry, its refund."""

    class Kind(models.TextChoices):
        SALE = "sale", _("Sold")
        USE = "use", _("Used")
        EXPIRE = "expire", _("Expired")
        REFUND = "refund", _("Refunded")
        ADJUST = "adjust", _("Adjusted by staff")
        IMPORT = "import", _("Imported from the previous system")

    card = models.ForeignKey(
        CountCard, on_delete=models.PROTECT, related_name="entries", verbose_name=_("count card")
    )
    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="count_card_entries",
        verbose_name=_("member"),
        db_index=False,  # count_card_entry_member_time starts with it
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    delta = models.IntegerField(_("uses"))
    left_after = models.PositiveIntegerField(_("uses left after"))
    idempotency_key = models.CharField(max_length=120, unique=True)
    service = models.CharField(_("service"), max_length=SERVICE_MAX_LENGTH, blank=True)
    amount = models.DecimalField(
        _("amount (yuan)"),
        **MONEY,
        default=Decimal("0.00"),
        help_text=_("The money of a sale or of a refund."),
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
    note = models.CharField(_("note"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("count card entry")
        verbose_name_plural = _("count card ledger")
        indexes = [
            # A member's history (member centre, 360 page).
            models.Index(fields=["member", "-created_at"], name="count_card_entry_member_time"),
            # Uses per store and day (reports).
            models.Index(fields=["store", "created_at"], name="count_card_entry_store_time"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.delta:+}"
