"""Coupons, the rewards catalog (积分商城), daily check-in and referrals.

State changes go through loyalty/coupons.py, loyalty/benefits/rewards.py and
loyalty/benefits/engagement.py. Each coupon change appends a CouponEvent; every point a
benefit gives or takes is a PointsEntry written by the points services.
"""

import secrets

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from members.models import Member, Store, Tag, index_where_set

from .core import MONEY, Purchase, Tier

# Codes are read aloud at the counter and typed on a phone: no 0/O, 1/I/L, U.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"


def random_code(length: int) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def normalize_code(text: str) -> str:
    """What staff type or scan, as stored: upper case, without spaces and dashes."""
    return "".join(ch for ch in (text or "").upper() if ch.isalnum())


def split_categories(text: str) -> set[str]:
    return {c.strip() for c in (text or "").replace("，", ",").split(",") if c.strip()}


class CouponTemplate(models.Model):
    """What a coupon gives and to whom; Coupons are the copies members hold."""

    class Kind(models.TextChoices):
        CASH = "cash", _("Cash off, no threshold (无门槛)")
        THRESHOLD = "threshold", _("Cash off above a minimum spend (满减)")
        PERCENT = "percent", _("Percentage off (折扣)")
        FREE_SHIPPING = "shipping", _("Free shipping")
        GIFT = "gift", _("Gift item")

    class Audience(models.TextChoices):
        ALL = "all", _("Every member")
        TIERS = "tiers", _("Members of the chosen tiers")
        TAGS = "tags", _("Members with one of the chosen tags")

    name = models.CharField(_("name"), max_length=60)
    code = models.SlugField(  # noqa: DJ001 - NULL until made from the number (save)
        _("code"),
        max_length=32,
        unique=True,
        null=True,
        blank=True,
        help_text=_("A short name for segment rules and scripts, e.g. new10. Empty: c + number."),
    )
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.CASH)
    value = models.DecimalField(
        _("value"),
        **MONEY,
        default=0,
        validators=[MinValueValidator(0)],
        help_text=_(
            # xgettext:no-python-format
            "Cash off: yuan taken off the bill. Percentage off: the share paid, "
            "0.90 = 10% off (9折). Gift and free shipping: what it is worth, for reports."
        ),
    )
    max_discount = models.DecimalField(
        _("largest discount (yuan)"),
        **MONEY,
        null=True,
        blank=True,
        help_text=_("Percentage off only: the most one coupon takes off. Empty: no limit."),
    )
    min_spend = models.DecimalField(
        _("minimum spend (yuan)"), **MONEY, default=0, validators=[MinValueValidator(0)]
    )
    categories = models.CharField(
        _("applicable categories"),
        max_length=255,
        blank=True,
        help_text=_("Comma-separated purchase categories. Empty: every category."),
    )
    gift_name = models.CharField(_("gift item"), max_length=60, blank=True)
    valid_days = models.PositiveSmallIntegerField(
        _("valid for (days from issue)"),
        null=True,
        blank=True,
        help_text=_("Usable until the end of the Nth day, counting the day of issue as day 1."),
    )
    valid_from = models.DateField(_("valid from"), null=True, blank=True)
    valid_until = models.DateField(_("valid until (inclusive)"), null=True, blank=True)
    stock = models.PositiveIntegerField(
        _("total stock"), null=True, blank=True, help_text=_("Empty: unlimited.")
    )
    issued_count = models.PositiveIntegerField(_("issued"), default=0, editable=False)
    per_member_limit = models.PositiveSmallIntegerField(
        _("limit per member"), default=1, help_text=_("0: no limit.")
    )
    audience = models.CharField(
        _("who may receive it"), max_length=8, choices=Audience.choices, default=Audience.ALL
    )
    tiers = models.ManyToManyField(Tier, blank=True, related_name="+", verbose_name=_("tiers"))
    tags = models.ManyToManyField(Tag, blank=True, related_name="+", verbose_name=_("tags"))
    stores = models.ManyToManyField(
        Store,
        blank=True,
        related_name="+",
        verbose_name=_("stores where it can be used"),
        help_text=_("None ticked: every store."),
    )
    description = models.TextField(_("terms shown to the member"), blank=True)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("coupon template")
        verbose_name_plural = _("coupon templates")
        ordering = ["-active", "name"]
        permissions = [("issue_coupon", _("Can issue coupons to members"))]
        constraints = [
            # Stock is taken by a conditional UPDATE; the database refuses overselling.
            models.CheckConstraint(
                condition=Q(stock__isnull=True) | Q(issued_count__lte=models.F("stock")),
                name="coupontemplate_within_stock",
            ),
            models.CheckConstraint(
                condition=~Q(kind="percent") | Q(value__gt=0, value__lt=1),
                name="coupontemplate_percent_rate",
            ),
        ]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        self.code = self.code or None
        super().save(*args, **kwargs)
        if self.code is None:  # the number is known only now
            self.code = f"c{self.pk}"
            CouponTemplate.objects.filter(pk=self.pk, code__isnull=True).update(code=self.code)

    def clean(self):
        from django.core.exceptions import ValidationError

        errors = {}
        if self.kind == self.Kind.PERCENT and not (0 < self.value < 1):
            # xgettext:no-python-format
            errors["value"] = _("For percentage off, give the share paid: 0.90 is 10% off.")
        if self.kind in (self.Kind.CASH, self.Kind.THRESHOLD) and self.value <= 0:
            errors["value"] = _("Give the yuan the coupon takes off.")
        if self.kind == self.Kind.THRESHOLD and self.min_spend <= self.value:
            errors["min_spend"] = _("The minimum spend must be above the value taken off.")
        if self.kind == self.Kind.GIFT and not self.gift_name:
            errors["gift_name"] = _("Name the gift item.")
        if not self.valid_days and not self.valid_until:
            errors["valid_days"] = _("Give a number of days, or a last valid day.")
        if self.valid_days and self.valid_until:
            errors["valid_until"] = _("Give either a number of days or a fixed window, not both.")
        if self.valid_from and self.valid_until and self.valid_from > self.valid_until:
            errors["valid_until"] = _("The last valid day is before the first.")
        if errors:
            raise ValidationError(errors)

    def category_set(self) -> set[str]:
        return split_categories(self.categories)

    @cached_property
    def store_limits(self) -> dict[int, str]:
        """The stores where its coupons can be used, {pk: name}; empty: every store.

        Read once per instance (a prefetch of `stores` is used when there is one)."""
        return {store.pk: store.name for store in self.stores.all()}  # by code (Store.Meta)

    def usable_at_store(self, store) -> bool:
        """Whether its coupons can be used at `store` (None: a purchase of no store)."""
        limits = self.store_limits
        return not limits or (store is not None and store.pk in limits)

    @property
    def stock_left(self) -> int | None:
        return None if self.stock is None else max(self.stock - self.issued_count, 0)


class Coupon(models.Model):
    class Status(models.TextChoices):
        ISSUED = "issued", _("Usable")
        REDEEMED = "redeemed", _("Used")
        EXPIRED = "expired", _("Expired")
        VOID = "void", _("Void")

    class Source(models.TextChoices):
        STAFF = "staff", _("Issued by staff")
        CAMPAIGN = "campaign", _("Campaign")
        REWARD = "reward", _("Points reward")
        BIRTHDAY = "birthday", _("Birthday")
        MONTHLY = "monthly", _("Monthly tier benefit")
        REFERRAL = "referral", _("Referral")
        WELCOME = "welcome", _("Welcome offer")
        CHECKIN = "checkin", _("Check-in streak")
        API = "api", _("POS / mall API")
        TOP_UP = "top_up", _("Top-up offer")

    CODE_LENGTH = 10

    template = models.ForeignKey(
        CouponTemplate,
        on_delete=models.PROTECT,
        related_name="coupons",
        verbose_name=_("coupon template"),
        db_index=False,  # coupon_template_status starts with it
    )
    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="coupons",
        verbose_name=_("member"),
        db_index=False,  # coupon_member_status starts with it
    )
    code = models.CharField(_("code"), max_length=16, unique=True, editable=False)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ISSUED
    )
    # valid_until is the first instant it is no longer usable (local midnight after
    # the last valid day), so "valid until 31 Dec" works until 23:59:59 Shanghai time.
    valid_from = models.DateTimeField(_("valid from"))
    valid_until = models.DateTimeField(_("valid until"))
    source = models.CharField(
        _("source"), max_length=10, choices=Source.choices, default=Source.STAFF
    )
    # Idempotency of automatic issues: "birthday:2027:<member>", "checkin:<member>:<day>".
    issue_key = models.CharField(max_length=120, unique=True, null=True, blank=True)  # noqa: DJ001
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("issued by"),
        db_index=False,  # coupon_issuer_set: only the rows that have one
    )
    issued_at = models.DateTimeField(_("issued at"), default=timezone.now)
    redeemed_at = models.DateTimeField(_("used at"), null=True, blank=True)
    redeemed_store = models.ForeignKey(
        Store,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("used at store"),
        db_index=False,  # coupon_store_set: only the rows that have one
    )
    redeemed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("verified by"),
        db_index=False,  # coupon_verifier_set: only the rows that have one
    )
    purchase = models.ForeignKey(
        Purchase,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="coupons",
        verbose_name=_("purchase"),
        db_index=False,  # coupon_purchase_set: only the rows that have one
    )
    discount = models.DecimalField(_("discount given"), **MONEY, default=0)

    class Meta:
        verbose_name = _("coupon")
        verbose_name_plural = _("coupons")
        indexes = [
            # A member's usable coupons (counter, member centre, API).
            models.Index(fields=["member", "status", "valid_until"], name="coupon_member_status"),
            # The expiry job: usable coupons past their date.
            models.Index(
                fields=["valid_until"],
                condition=Q(status="issued"),
                name="coupon_due_expiry",
            ),
            # Usage report per template.
            models.Index(fields=["template", "status"], name="coupon_template_status"),
            index_where_set("issued_by", "coupon_issuer_set"),
            index_where_set("redeemed_store", "coupon_store_set"),
            index_where_set("redeemed_by", "coupon_verifier_set"),
            index_where_set("purchase", "coupon_purchase_set"),
        ]

    def __str__(self):
        return f"{self.template.name} · {self.display_code}"

    @property
    def display_code(self) -> str:
        """The code in groups of five, easier to read aloud: 7KX2M-QP4RT."""
        return "-".join(self.code[i : i + 5] for i in range(0, len(self.code), 5))

    @classmethod
    def new_code(cls) -> str:
        return random_code(cls.CODE_LENGTH)


class CouponEvent(models.Model):
    """The coupon's history: one row per change of its state, never updated."""

    class Kind(models.TextChoices):
        ISSUED = "issued", _("Issued")
        REDEEMED = "redeemed", _("Used")
        EXPIRED = "expired", _("Expired")
        VOIDED = "voided", _("Voided")
        RESTORED = "restored", _("Given back (refund)")

    coupon = models.ForeignKey(
        Coupon, on_delete=models.PROTECT, related_name="events", db_index=False
    )  # couponevent_coupon_time starts with it
    kind = models.CharField(_("event"), max_length=10, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
        db_index=False,  # couponevent_actor_set: only the rows that have one
    )
    store = models.ForeignKey(
        Store,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # couponevent_store_set: only the rows that have one
    )
    purchase = models.ForeignKey(
        Purchase,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # couponevent_purchase_set: only the rows that have one
    )
    note = models.CharField(_("note"), max_length=255, blank=True)
    at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("coupon event")
        verbose_name_plural = _("coupon history")
        indexes = [
            models.Index(fields=["coupon", "at"], name="couponevent_coupon_time"),
            index_where_set("actor", "couponevent_actor_set"),
            index_where_set("store", "couponevent_store_set"),
            index_where_set("purchase", "couponevent_purchase_set"),
        ]

    def __str__(self):
        return self.get_kind_display()


class Reward(models.Model):
    """An item of the points catalog (积分商城)."""

    class Kind(models.TextChoices):
        GOODS = "goods", _("Goods, picked up in store")
        COUPON = "coupon", _("A coupon (cash vouchers too)")

    name = models.CharField(_("name"), max_length=60)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.GOODS)
    picture = models.ImageField(_("picture"), upload_to="rewards/", blank=True)
    description = models.TextField(_("description"), blank=True)
    coupon_template = models.ForeignKey(
        CouponTemplate,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rewards",
        verbose_name=_("coupon given"),
    )
    points_cost = models.PositiveIntegerField(_("points"), validators=[MinValueValidator(1)])
    cash_part = models.DecimalField(
        _("cash part (yuan)"),
        **MONEY,
        default=0,
        validators=[MinValueValidator(0)],
        help_text=_("Points + cash: paid at pickup. 0: points only."),
    )
    stock = models.PositiveIntegerField(
        _("stock"), null=True, blank=True, help_text=_("Empty: unlimited.")
    )
    redeemed_count = models.PositiveIntegerField(_("redeemed"), default=0, editable=False)
    per_member_limit = models.PositiveSmallIntegerField(
        _("limit per member"), default=0, help_text=_("0: no limit.")
    )
    starts_at = models.DateTimeField(_("available from"), null=True, blank=True)
    ends_at = models.DateTimeField(_("available until"), null=True, blank=True)
    active = models.BooleanField(_("active"), default=True)
    sort = models.PositiveSmallIntegerField(_("order"), default=100)

    class Meta:
        verbose_name = _("reward")
        verbose_name_plural = _("rewards catalog")
        ordering = ["sort", "points_cost"]
        constraints = [
            models.CheckConstraint(
                condition=Q(stock__isnull=True) | Q(redeemed_count__lte=models.F("stock")),
                name="reward_within_stock",
            ),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        from django.core.exceptions import ValidationError

        if self.kind == self.Kind.COUPON and not self.coupon_template_id:
            raise ValidationError({"coupon_template": _("Choose the coupon this reward gives.")})

    @property
    def stock_left(self) -> int | None:
        return None if self.stock is None else max(self.stock - self.redeemed_count, 0)

    def available(self, now) -> bool:
        return (
            self.active
            and (self.starts_at is None or self.starts_at <= now)
            and (self.ends_at is None or now < self.ends_at)
            and (self.stock_left is None or self.stock_left > 0)
        )


class Redemption(models.Model):
    class Status(models.TextChoices):
        AWAITING_PICKUP = "awaiting", _("Awaiting pickup")
        FULFILLED = "fulfilled", _("Fulfilled")
        CANCELLED = "cancelled", _("Cancelled, points returned")

    PICKUP_CODE_LENGTH = 8

    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="redemptions", verbose_name=_("member")
    )
    reward = models.ForeignKey(
        Reward, on_delete=models.PROTECT, related_name="redemptions", verbose_name=_("reward")
    )
    points = models.PositiveIntegerField(_("points spent"))
    cash_part = models.DecimalField(_("cash part (yuan)"), **MONEY, default=0)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.AWAITING_PICKUP
    )
    pickup_code = models.CharField(_("pickup code"), max_length=12, unique=True, editable=False)
    idempotency_key = models.CharField(max_length=120, unique=True)
    coupon = models.OneToOneField(
        Coupon,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="redemption",
        verbose_name=_("coupon given"),
    )
    created_at = models.DateTimeField(_("redeemed at"), default=timezone.now)
    fulfilled_at = models.DateTimeField(_("fulfilled at"), null=True, blank=True)
    fulfilled_store = models.ForeignKey(
        Store,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("picked up at"),
    )
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("handled by"),
    )
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("redemption")
        verbose_name_plural = _("redemptions")
        indexes = [
            models.Index(fields=["member", "-created_at"], name="redemption_member_time"),
            models.Index(fields=["reward", "member"], name="redemption_reward_member"),
        ]

    def __str__(self):
        return f"{self.reward} · {self.pickup_code}"


class CheckIn(models.Model):
    """签到: one per member per Shanghai day; `streak` counts unbroken days up to this one."""

    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="checkins", verbose_name=_("member")
    )
    day = models.DateField(_("day"))
    streak = models.PositiveIntegerField(_("streak (days)"), default=1)
    points = models.PositiveIntegerField(_("points"), default=0)
    bonus_points = models.PositiveIntegerField(_("streak bonus points"), default=0)
    coupon = models.ForeignKey(
        Coupon,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("streak bonus coupon"),
    )
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("check-in")
        verbose_name_plural = _("check-ins")
        constraints = [
            models.UniqueConstraint(fields=["member", "day"], name="checkin_once_a_day"),
        ]
        indexes = [
            # Dashboard: check-ins per day.
            models.Index(fields=["day"], name="checkin_day"),
        ]

    def __str__(self):
        return f"{self.member_id} · {self.day}"


class Referral(models.Model):
    """邀请有礼: who brought whom, and what each was given. One row per invitee."""

    class Status(models.TextChoices):
        REWARDED = "rewarded", _("Rewarded")
        OVER_CAP = "over_cap", _("Over the monthly cap: no reward")
        REFUSED = "refused", _("Refused: self-referral")
        REJOINED = "rejoined", _("Joined again: no second registration reward")

    referrer = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="referrals_made", verbose_name=_("referrer")
    )
    invitee = models.OneToOneField(
        Member, on_delete=models.PROTECT, related_name="referral", verbose_name=_("friend")
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    registered_points = models.PositiveIntegerField(
        _("referrer's points on registration"), default=0
    )
    first_purchase_at = models.DateTimeField(_("friend's first purchase"), null=True, blank=True)
    created_at = models.DateTimeField(_("at"), default=timezone.now)
    # loyalty.ledger.person_key of the friend (the phone's keyed hash): kept when the
    # friend's account is erased, so joining again is known for what it is.
    person = models.CharField(_("person"), max_length=80, blank=True, editable=False)

    class Meta:
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
        indexes = [
            # The monthly cap: a referrer's rewarded referrals since the 1st.
            models.Index(fields=["referrer", "created_at"], name="referral_referrer_time"),
            models.Index(fields=["person"], name="referral_person"),
        ]

    def __str__(self):
        return f"{self.referrer_id} → {self.invitee_id}"


__all__ = [
    "CODE_ALPHABET",
    "CheckIn",
    "Coupon",
    "CouponEvent",
    "CouponTemplate",
    "Redemption",
    "Referral",
    "Reward",
    "normalize_code",
    "random_code",
    "split_categories",
]
