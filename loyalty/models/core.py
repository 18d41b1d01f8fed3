"""The loyalty settings, tiers, cards, earn rules, purchases and refunds, API keys and
job runs. The ledgers written beside them (points, growth value, tier history) are in
ledgers.py.

Every change goes through the services of loyalty/ledger.py, tiers.py and purchases.py,
in a transaction that locks the member's Card and appends ledger rows.
"""

import hashlib
import secrets
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from config.platform.fixed_sql import FixedRead
from members.models import Member, Store, index_where_set

from .stages import Lifecycle, RfmSegment

MONEY = {"max_digits": 12, "decimal_places": 2}


class LoyaltySettings(models.Model):
    """The merchant's loyalty rules: one row (pk=1), edited in the admin."""

    class TierBasis(models.TextChoices):
        SPEND = "spend", _("Amount spent (yuan)")
        VISITS = "visits", _("Number of purchases")
        GROWTH = "growth", _("Growth value")

    class StoredValueOrder(models.TextChoices):
        PROPORTIONAL = "proportional", _("Principal and bonus in proportion")
        BONUS_FIRST = "bonus_first", _("Bonus first, then principal")

    class Expiry(models.TextChoices):
        ROLLING = "rolling", _("N months after earning")
        END_OF_NEXT_YEAR = "next_year_end", _("End of the year after earning")
        NEVER = "never", _("Never")

    class Rounding(models.TextChoices):
        DOWN = "down", _("Round down (a fraction of a point is dropped)")
        HALF_UP = "half_up", _("Round half up (0.5 points and more make a point)")
        WHOLE_YUAN = "whole_yuan", _("Whole yuan only (每满1元: the odd jiao and fen earn nothing)")

    tier_basis = models.CharField(
        _("tier basis"), max_length=16, choices=TierBasis.choices, default=TierBasis.SPEND
    )
    qualification_months = models.PositiveSmallIntegerField(
        _("qualification window (months)"),
        default=0,
        help_text=_("0: everything since registration counts; N: only the last N months."),
    )
    points_per_yuan = models.DecimalField(
        _("points per yuan"),
        max_digits=6,
        decimal_places=2,
        default=Decimal("1.00"),
        validators=[MinValueValidator(0)],
        help_text=_("Base points for each yuan paid in cash, before tier and rule multipliers."),
    )
    points_rounding = models.CharField(
        _("points rounding"),
        max_length=16,
        choices=Rounding.choices,
        default=Rounding.DOWN,
        help_text=_("How a purchase's points become whole points, after every multiplier."),
    )
    growth_per_yuan = models.DecimalField(
        _("growth value per yuan"), max_digits=6, decimal_places=2, default=Decimal("1.00")
    )
    points_per_cash_yuan = models.PositiveIntegerField(
        _("points worth one yuan"),
        default=100,
        validators=[MinValueValidator(1)],
        help_text=_("e.g. 100: 100 points pay 1 yuan of a bill."),
    )
    points_cap_percent = models.PositiveSmallIntegerField(
        _("share of a bill points may pay (%)"),
        default=50,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    expiry_policy = models.CharField(
        _("points expiry"), max_length=16, choices=Expiry.choices, default=Expiry.ROLLING
    )
    expiry_months = models.PositiveSmallIntegerField(_("points valid for (months)"), default=12)
    notice_days = models.PositiveSmallIntegerField(
        _("notify this many days before points expire"), default=30
    )
    coupon_notice_days = models.PositiveSmallIntegerField(
        _("notify this many days before a coupon expires"),
        default=3,
        help_text=_("0: no notice."),
    )
    daily_points_cap = models.PositiveIntegerField(
        _("daily cap on points earned from purchases"),
        default=0,
        help_text=_("0: no cap."),
    )
    discount_excluded_categories = models.CharField(
        _("categories without tier discount"),
        max_length=255,
        blank=True,
        help_text=_("Comma-separated, e.g. 礼品卡,烟酒."),
    )
    # Check-in (签到), referral (邀请有礼) and action points: loyalty/benefits/engagement.py.
    checkin_points = models.PositiveIntegerField(
        _("points per daily check-in"), default=5, help_text=_("0: check-in gives no points.")
    )
    checkin_growth = models.PositiveIntegerField(
        _("growth value per daily check-in"),
        default=0,
        help_text=_("成长值 for each check-in (counts toward tiers on the growth basis). 0: none."),
    )
    checkin_streak_days = models.PositiveSmallIntegerField(
        _("streak bonus every N days"),
        default=7,
        help_text=_("A bonus on day N of an unbroken streak (and 2N, 3N ...). 0: no bonus."),
    )
    checkin_streak_points = models.PositiveIntegerField(_("streak bonus points"), default=20)
    checkin_streak_coupon = models.ForeignKey(
        "loyalty.CouponTemplate",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("streak bonus coupon"),
    )
    referral_points_on_registration = models.PositiveIntegerField(
        _("referrer's points when a friend registers"), default=50
    )
    referral_points_referrer_first_purchase = models.PositiveIntegerField(
        _("referrer's points on the friend's first purchase"), default=100
    )
    referral_points_friend_first_purchase = models.PositiveIntegerField(
        _("friend's points on their first purchase"), default=100
    )
    referral_monthly_cap = models.PositiveIntegerField(
        _("rewarded referrals per referrer per month"),
        default=20,
        help_text=_("Friends past the cap are still linked, but earn the referrer nothing."),
    )
    profile_points = models.PositiveIntegerField(
        _("points for completing the profile"),
        default=50,
        help_text=_("Given once, when name, gender and birthday are all filled in."),
    )
    action_growth = models.PositiveIntegerField(
        _("growth value per member action"),
        default=0,
        help_text=_(
            "成长值 given once for each one-time action that earns points (completing the "
            "profile). 0: none."
        ),
    )
    welcome_points = models.PositiveIntegerField(
        _("welcome points"), default=100, help_text=_("Given once, on registration.")
    )
    welcome_coupon = models.ForeignKey(
        "loyalty.CouponTemplate",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("welcome coupon"),
    )
    # Scheduled jobs (loyalty/jobs.py).
    downgrade_inactive_months = models.PositiveSmallIntegerField(
        _("down one tier after N months without a purchase"),
        default=3,
        help_text=_("0: never for inactivity."),
    )
    tier_review_months = models.PositiveSmallIntegerField(
        _("tier review every N months (保级)"),
        default=12,
        help_text=_(
            "At each review date (N months after the tier was reached) a member below the "
            "tier's keep threshold over the last N months goes down one tier. 0: no review."
        ),
    )
    downgrade_notice_days = models.PositiveSmallIntegerField(
        _("warn this many days before a downgrade"), default=7
    )
    birthday_days_before = models.PositiveSmallIntegerField(
        _("birthday coupons this many days before"), default=3
    )
    member_day = models.PositiveSmallIntegerField(
        _("member day (day of the month)"),
        default=0,
        validators=[MaxValueValidator(28)],
        help_text=_("e.g. 8: every 8th is member day. 0: none."),
    )
    member_day_multiplier = models.DecimalField(
        _("points multiplier on member day"),
        max_digits=4,
        decimal_places=2,
        default=Decimal("2"),
        validators=[MinValueValidator(1)],
    )
    lifecycle_new_days = models.PositiveSmallIntegerField(
        _("new: registered within (days)"), default=30
    )
    lifecycle_active_days = models.PositiveSmallIntegerField(
        _("active: a purchase within (days)"), default=90
    )
    lifecycle_dormant_days = models.PositiveSmallIntegerField(
        _("dormant until (days without a purchase); churned after"), default=180
    )
    lifecycle_counts_visits = models.BooleanField(
        _("visits count as activity"),
        default=True,
        help_text=_(
            "A visit of the member centre or a check-in keeps a member active, not only a purchase."
        ),
    )
    # Stored value (储值): loyalty/stored_value.py.
    stored_value_cap = models.DecimalField(
        _("most stored value a member may hold (yuan)"),
        **MONEY,
        default=Decimal("5000.00"),
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text=_("A top-up that would take the balance above it is refused."),
    )
    stored_value_confirm_limit = models.DecimalField(
        _("spends above this need the member's confirmation (yuan)"),
        **MONEY,
        default=Decimal("500.00"),
        help_text=_("An SMS code to the member's phone. 0: every spend needs it."),
    )
    stored_value_order = models.CharField(
        _("stored value spent"),
        max_length=16,
        choices=StoredValueOrder.choices,
        default=StoredValueOrder.PROPORTIONAL,
    )
    stored_value_earns = models.BooleanField(
        _("stored value payments earn points and growth value"), default=True
    )
    # Count cards (次卡): loyalty/count_cards.py.
    count_card_notice_days = models.PositiveSmallIntegerField(
        _("notify this many days before a count card expires"),
        default=7,
        help_text=_("0: no notice."),
    )
    count_card_refund_pro_rata = models.BooleanField(
        _("count cards can be refunded pro rata"),
        default=True,
        help_text=_("The unused uses are paid back at the price paid per use, rounded down."),
    )
    # The dynamic member code (members/dynamic_code.py), loyalty/spending.py.
    spend_needs_dynamic_code = models.BooleanField(
        _("spending needs a dynamic code"),
        default=True,
        help_text=_(
            "Spending points, stored value or a count card with only the member number or "
            "phone needs the member's confirmation (a pay code or an SMS code); with the "
            "dynamic code of the member centre it needs none."
        ),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("loyalty settings")
        verbose_name_plural = _("loyalty settings")
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="loyaltysettings_singleton")]

    def __str__(self):
        return str(_("Loyalty settings"))

    @classmethod
    def current(cls) -> "LoyaltySettings":
        """The one row, read as it is now (a fixed SELECT: every purchase reads it)."""
        found = _settings_row.first(1)
        if found is None:
            cls.objects.get_or_create(pk=1)
            return cls.objects.get(pk=1)  # read back: field values as the database types them
        return found

    def excluded_categories(self) -> set[str]:
        return {
            c.strip()
            for c in self.discount_excluded_categories.replace("，", ",").split(",")
            if c.strip()
        }


_settings_row = FixedRead(LoyaltySettings, "t0.id = %s")


class Tier(models.Model):
    level = models.PositiveSmallIntegerField(
        _("level"), unique=True, help_text=_("1 is the lowest.")
    )
    name = models.CharField(_("name"), max_length=30, unique=True)
    qualify_threshold = models.DecimalField(
        _("qualify at"),
        **MONEY,
        default=Decimal("0.00"),
        help_text=_("Spend (yuan), purchases, or growth value, per the tier basis."),
    )
    keep_threshold = models.DecimalField(
        _("keep at (保级)"),
        **MONEY,
        default=Decimal("0.00"),
        help_text=_("Needed within the window at review to keep the tier."),
    )
    discount_rate = models.DecimalField(
        _("price paid (rate)"),
        max_digits=4,
        decimal_places=3,
        default=Decimal("1.000"),
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        # xgettext:no-python-format
        help_text=_("0.90 means 10% off (9折); 1 means no discount."),
    )
    points_multiplier = models.DecimalField(
        _("points multiplier"),
        max_digits=4,
        decimal_places=2,
        default=Decimal("1"),
        validators=[MinValueValidator(0)],
    )
    benefits = models.TextField(_("benefits"), blank=True)
    birthday_coupon = models.ForeignKey(
        "loyalty.CouponTemplate",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("birthday coupon"),
    )
    monthly_coupon = models.ForeignKey(
        "loyalty.CouponTemplate",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("monthly coupon"),
    )
    monthly_coupon_count = models.PositiveSmallIntegerField(
        _("monthly coupons"), default=0, help_text=_("How many, on the 1st of each month.")
    )

    class Meta:
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
        ordering = ["level"]

    def __str__(self):
        return self.name


class Card(models.Model):
    """会员卡: one per member, the cached figures that lists and the counter read."""

    Lifecycle = Lifecycle
    RfmSegment = RfmSegment

    member = models.OneToOneField(
        Member,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="card",
        verbose_name=_("member"),
    )
    tier = models.ForeignKey(
        Tier,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="cards",
        verbose_name=_("tier"),
        db_index=False,  # card_tier_recency starts with it
    )
    tier_since = models.DateTimeField(_("tier since"), null=True, blank=True)
    # 保级 review: the Shanghai day the review_tiers job checks the keep threshold.
    tier_review_on = models.DateField(_("tier review on"), null=True, blank=True)
    points_balance = models.BigIntegerField(_("points balance"), default=0)
    points_debt = models.BigIntegerField(
        _("points owed"),
        default=0,
        help_text=_(
            "Points clawed back by a refund after they were spent; repaid from the next earnings."
        ),
    )
    growth_value = models.BigIntegerField(_("growth value"), default=0)
    total_spent = models.DecimalField(_("total spent"), **MONEY, default=Decimal("0.00"))
    purchase_count = models.PositiveIntegerField(_("purchases"), default=0)
    first_purchase_at = models.DateTimeField(_("first purchase"), null=True, blank=True)
    last_purchase_at = models.DateTimeField(_("last purchase"), null=True, blank=True)
    # Written by the lifecycle_and_rfm job; read by segments and lists.
    lifecycle = models.CharField(
        _("lifecycle stage"), max_length=8, choices=Lifecycle.choices, blank=True, db_default=""
    )
    # Database defaults: bulk inserts (seed, import) that leave them out still work.
    rfm_r = models.PositiveSmallIntegerField(_("R score"), db_default=0)
    rfm_f = models.PositiveSmallIntegerField(_("F score"), db_default=0)
    rfm_m = models.PositiveSmallIntegerField(_("M score"), db_default=0)
    rfm_segment = models.CharField(
        _("RFM segment"), max_length=20, choices=RfmSegment.choices, blank=True, db_default=""
    )
    # The last visit of the member centre or check-in (at most one write an hour).
    last_seen_at = models.DateTimeField(_("last seen"), null=True, blank=True)
    # Stored value (储值): what the member paid in and what the merchant gave, each
    # proved against StoredValueEntry by check_ledger.
    stored_principal = models.DecimalField(
        _("stored value: principal"), **MONEY, db_default=Decimal("0.00")
    )
    stored_bonus = models.DecimalField(
        _("stored value: bonus"), **MONEY, db_default=Decimal("0.00")
    )

    class Meta:
        verbose_name = _("member card")
        verbose_name_plural = _("member cards")
        permissions = [("set_tier", _("Can set a member's tier"))]
        constraints = [
            models.CheckConstraint(
                condition=Q(points_balance__gte=0), name="card_points_not_negative"
            ),
            models.CheckConstraint(condition=Q(points_debt__gte=0), name="card_debt_not_negative"),
            models.CheckConstraint(
                condition=Q(stored_principal__gte=0) & Q(stored_bonus__gte=0),
                name="card_stored_value_not_negative",
            ),
        ]
        indexes = [
            # Segments and the downgrade job: members by tier and recency.
            models.Index(fields=["tier", "last_purchase_at"], name="card_tier_recency"),
            # The review_tiers job: members whose review day has come.
            models.Index(fields=["tier_review_on"], name="card_tier_review"),
            # Segments, and the admin member list's filters by tier, lifecycle stage and
            # RFM segment: the list is newest first, ordered by the card's member id when
            # one of them is on, so a page reads its 50 entries in index order instead of
            # sorting every match (loyalty/admin/member_list.py).
            models.Index(fields=["tier", "member"], name="card_tier_member"),
            models.Index(fields=["lifecycle", "member"], name="card_lifecycle"),
            models.Index(fields=["rfm_segment", "member"], name="card_rfm_segment"),
        ]

    def __str__(self):
        return f"{self.member_id} · {self.tier or '-'}"

    @property
    def stored_value(self) -> Decimal:
        return self.stored_principal + self.stored_bonus


class EarnRule(models.Model):
    """Extra points: a category bonus, or a promotion on certain days (double points)."""

    name = models.CharField(_("name"), max_length=60)
    category = models.CharField(
        _("category"), max_length=40, blank=True, help_text=_("Empty: every category.")
    )
    multiplier = models.DecimalField(
        _("multiplier"),
        max_digits=4,
        decimal_places=2,
        default=Decimal("2"),
        validators=[MinValueValidator(0)],
    )
    starts_on = models.DateField(_("from"), null=True, blank=True)
    ends_on = models.DateField(_("until (inclusive)"), null=True, blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("earn rule")
        verbose_name_plural = _("earn rules")
        ordering = ["name"]

    def __str__(self):
        return self.name

    def applies(self, *, category: str, day) -> bool:
        return (
            self.active
            and (not self.category or self.category == category)
            and (self.starts_on is None or self.starts_on <= day)
            and (self.ends_on is None or day <= self.ends_on)
        )


class Purchase(models.Model):
    class Channel(models.TextChoices):
        COUNTER = "counter", _("Counter")
        API = "api", _("POS / mall API")
        WECHAT_PAY = "wechat_pay", _("WeChat Pay")
        IMPORT = "import", _("Import")

    class Status(models.TextChoices):
        COMPLETED = "completed", _("Completed")
        PARTIALLY_REFUNDED = "partially_refunded", _("Partly refunded")
        REFUNDED = "refunded", _("Refunded")

    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="purchases",
        verbose_name=_("member"),
        db_index=False,  # purchase_member_time starts with it
    )
    store = models.ForeignKey(
        Store,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="purchases",
        verbose_name=_("store"),
        db_index=False,  # purchase_store_time starts with it
    )
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("staff"),
        db_index=False,  # purchase_staff_set: only the rows that have one
    )
    external_ref = models.CharField(
        _("reference"),
        max_length=64,
        unique=True,
        help_text=_("The idempotency key: a POS order number, a WeChat Pay transaction id."),
    )
    channel = models.CharField(
        _("channel"), max_length=16, choices=Channel.choices, default=Channel.COUNTER
    )
    category = models.CharField(_("category"), max_length=40, blank=True)
    gross_amount = models.DecimalField(_("amount"), **MONEY)
    tier_discount = models.DecimalField(_("tier discount"), **MONEY, default=Decimal("0.00"))
    coupon_discount = models.DecimalField(_("coupon discount"), **MONEY, default=Decimal("0.00"))
    points_used = models.PositiveBigIntegerField(_("points used"), default=0)
    points_value = models.DecimalField(_("points value"), **MONEY, default=Decimal("0.00"))
    # Money paid: stored value (储值) and the rest in cash or another tender.
    cash_paid = models.DecimalField(_("paid"), **MONEY)
    stored_value_used = models.DecimalField(
        _("paid from stored value"), **MONEY, db_default=Decimal("0.00")
    )
    points_earned = models.PositiveBigIntegerField(_("points earned"), default=0)
    earn_rule = models.CharField(_("points rule applied"), max_length=255, blank=True)
    refunded_amount = models.DecimalField(_("refunded"), **MONEY, default=Decimal("0.00"))
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.COMPLETED
    )
    # What the receipt and a replayed request show: the card right after this purchase.
    points_balance_after = models.BigIntegerField(_("points balance after"), default=0)
    tier_after = models.CharField(_("tier after"), max_length=30, blank=True)
    occurred_at = models.DateTimeField(_("occurred at"), default=timezone.now)
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("purchase")
        verbose_name_plural = _("purchases")
        constraints = [
            models.CheckConstraint(
                condition=Q(gross_amount__gte=0), name="purchase_amount_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(cash_paid__gte=0), name="purchase_cash_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(refunded_amount__lte=models.F("cash_paid")),
                name="purchase_refund_within_paid",
            ),
        ]
        indexes = [
            # A member's purchase history (360 page, rolling qualification window).
            models.Index(fields=["member", "-occurred_at"], name="purchase_member_time"),
            # Reports per store and day.
            models.Index(fields=["store", "occurred_at"], name="purchase_store_time"),
            index_where_set("staff", "purchase_staff_set"),
        ]

    def __str__(self):
        return f"{self.external_ref} · ¥{self.gross_amount}"

    @property
    def refundable_amount(self):
        return self.cash_paid - self.refunded_amount

    @property
    def cash_due(self):
        """What was paid in money at the till: cash_paid less the stored value used."""
        return self.cash_paid - self.stored_value_used


class Refund(models.Model):
    purchase = models.ForeignKey(
        Purchase, on_delete=models.PROTECT, related_name="refunds", verbose_name=_("purchase")
    )
    idempotency_key = models.CharField(_("reference"), max_length=100, unique=True)
    amount = models.DecimalField(_("amount"), **MONEY)
    stored_value_returned = models.DecimalField(
        _("stored value returned"), **MONEY, db_default=Decimal("0.00")
    )
    points_clawed_back = models.PositiveBigIntegerField(_("points clawed back"), default=0)
    points_returned = models.PositiveBigIntegerField(_("points returned"), default=0)
    points_debt = models.PositiveBigIntegerField(
        _("points owed"), default=0, help_text=_("Clawback the balance could not cover.")
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        # Zero only for a purchase paid wholly with points (its refund returns points).
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="refund_amount_not_negative")
        ]

    def __str__(self):
        return f"{self.purchase.external_ref} −¥{self.amount}"


class ApiKey(models.Model):
    """A store's key for the POS / mall API. Only a SHA-256 of the key is stored."""

    PREFIX = "hy_"

    store = models.ForeignKey(
        Store, on_delete=models.CASCADE, related_name="api_keys", verbose_name=_("store")
    )
    name = models.CharField(_("label"), max_length=60)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    key_hint = models.CharField(_("key starts with"), max_length=12, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

    def __str__(self):
        return f"{self.name} ({self.key_hint}…)"

    @staticmethod
    def hash(key: str) -> str:
        # Keys are 32 random bytes: a fast hash is enough (no dictionary to attack).
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def issue(cls, *, store: Store, name: str) -> tuple["ApiKey", str]:
        key = cls.PREFIX + secrets.token_urlsafe(32)
        obj = cls.objects.create(store=store, name=name, key_hash=cls.hash(key), key_hint=key[:10])
        return obj, key


class JobRun(models.Model):
    """One run of a scheduled job (loyalty/jobs.py): shown in the admin, failures too."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        OK = "ok", _("Finished")
        FAILED = "failed", _("Failed")
        INTERRUPTED = "interrupted", _("Interrupted")  # its process killed (job_runs.py)

    job = models.CharField(_("job"), max_length=40)
    run_date = models.DateField(_("for date"))
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.RUNNING
    )
    counts = models.JSONField(_("counts"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # The process that runs it: a running run whose process is gone was interrupted.
    host = models.CharField(_("host"), max_length=100, blank=True, default="")
    pid = models.PositiveIntegerField(_("process ID"), null=True, blank=True)

    class Meta:
        verbose_name = _("job run")
        verbose_name_plural = _("job runs")
        indexes = [models.Index(fields=["job", "-started_at"], name="jobrun_job_time"),
                   # The running ones: every run looks for them (job_runs.mark_interrupted).
                   models.Index(fields=["started_at"], name="jobrun_running",
                                condition=Q(status="running"))]  # fmt: skip

    def __str__(self):
        from ..job_labels import job_label  # the job by what it does, for staff

        return f"{job_label(self.job)} {self.run_date}"

    @property
    def seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds(), 2)
