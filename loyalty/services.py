"""Every change of points, growth, tier and purchase goes through here.

Each public function is one transaction that first locks the member's Card
(`select_for_update`; on SQLite the IMMEDIATE transaction holds the write lock), so
two requests for one member run one after the other and never spend the same
points twice. Ledger rows are appended with a unique idempotency key; the cached
figures on the Card are updated with `update_fields` in the same transaction.
Events (signals.py) are sent inside the transaction, with the objects they are
about: campaigns writes their notices to the outbox there, so a notice commits or
rolls back with its cause, costs no transaction of its own (on SQLite every
transaction takes the one write lock again) and reads nothing back. Nothing is sent
from inside: the send_messages job delivers the outbox after commit.
"""

import calendar
import datetime as dt
import math
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, connections, router, transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from config.platform.fixed_sql import FixedInsert, FixedRead, FixedUpdate
from members.audit import audit_record
from members.models import Member, Store, User

from . import signals
from .models import (
    Card,
    EarnRule,
    GrowthEntry,
    LoyaltySettings,
    PointsEntry,
    Purchase,
    Refund,
    Tier,
    TierChange,
)
from .money import ZERO, yuan, yuan_down

MAX_AMOUNT = Decimal("1000000.00")
CARD_FIGURES = [
    "tier", "tier_since", "tier_review_on", "points_balance", "points_debt", "growth_value",
    "total_spent", "purchase_count", "first_purchase_at", "last_purchase_at",
]  # fmt: skip
_update_card_figures = FixedUpdate(Card, CARD_FIGURES)  # card.save(update_fields=...)


class LoyaltyError(Exception):
    """A business rule said no. `code` is stable for API clients; the message is for people."""

    code = "business_rule"
    status = 422

    def __init__(self, message: str, **details):
        super().__init__(message)
        self.message = message
        self.details = details


class NotEnoughPoints(LoyaltyError):
    code = "not_enough_points"


class PointsOverCap(LoyaltyError):
    code = "points_over_cap"


class TierDiscountNotApplicable(LoyaltyError):
    code = "tier_discount_not_applicable"


class RefundNotPossible(LoyaltyError):
    code = "refund_not_possible"


class ReferenceConflict(LoyaltyError):
    """The idempotency key was already used for a different request."""

    code = "reference_conflict"
    status = 409


# --- time -------------------------------------------------------------------


def _local_midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(
        dt.datetime.combine(day, dt.time.min), timezone.get_default_timezone()
    )


def add_months(day: dt.date, months: int) -> dt.date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def expiry_for(earned_at: dt.datetime, conf: LoyaltySettings) -> dt.datetime | None:
    """When points earned at `earned_at` expire: the first instant after their last valid day.

    Days are Shanghai days: points valid "for 12 months" from 2026-01-31 can be
    used until 2027-01-31 23:59:59 local time.
    """
    day = timezone.localdate(earned_at)
    if conf.expiry_policy == LoyaltySettings.Expiry.NEVER:
        return None
    if conf.expiry_policy == LoyaltySettings.Expiry.END_OF_NEXT_YEAR:
        return _local_midnight(dt.date(day.year + 2, 1, 1))
    return _local_midnight(add_months(day, conf.expiry_months) + dt.timedelta(days=1))


def local_day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    return _local_midnight(day), _local_midnight(day + dt.timedelta(days=1))


def person_key(member: Member) -> str:
    """Who a once-only reward is for: the phone (its keyed hash), not the member row.

    Deleting the account and joining again with the same number makes a new member;
    keyed by the phone, the welcome gift, the profile and action points and the
    referral rewards are not given to the same person twice. (Erasure clears the
    member's phone hash; the keys already in the ledger keep it.)"""
    return member.phone_hash or f"member-{member.pk}"


# --- cards ------------------------------------------------------------------


# Every registration writes these: once as SQL (no save() of their own, no receivers).
_insert_card = FixedInsert(Card)
_insert_tier_change = FixedInsert(TierChange)


def lowest_tier() -> Tier | None:
    """The lowest tier, as kept with the purchase rules (one stamp read, not a query
    of the tiers: every registration's card starts here, under SQLite's write lock)."""
    tiers = purchase_rules().tiers
    return tiers[0] if tiers else None


def card_create(*, member: Member, now: dt.datetime | None = None) -> Card:
    """The member's card at the lowest tier, with its first tier-history row."""
    now = now or timezone.now()
    tier = lowest_tier()
    card = _insert_card(Card(member=member, tier=tier, tier_since=now))
    if tier is not None:
        _insert_tier_change(
            TierChange(
                member=member, to_tier=tier, reason=TierChange.Reason.REGISTERED, created_at=now
            )
        )
    return card


# The card and its tier, locked (FOR UPDATE OF the card on PostgreSQL; SQLite's
# IMMEDIATE transaction holds the database): every points, coupon and tier change
# starts here, so it is written once (config/platform/fixed_sql.py), not built per call.
_card_locked = FixedRead(Card, "t0.member_id = %s", related=("tier",), lock=True)


def _lock_card(member_id: int) -> Card:
    """The member's card, locked for this transaction (made if a bulk path skipped it)."""
    card = _card_locked.first(member_id)
    if card is not None:
        return card
    try:
        with transaction.atomic():
            card_create(member=Member.objects.get(pk=member_id))
    except IntegrityError:
        pass  # made by a concurrent request; lock that one
    return _card_locked.first(member_id)


# --- the points ledger -------------------------------------------------------


def _append(card: Card, *, kind: str, delta: int, key: str, now, **fields) -> PointsEntry:
    card.points_balance += delta
    entry = PointsEntry(
        member_id=card.pk,
        kind=kind,
        delta=delta,
        balance_after=card.points_balance,
        idempotency_key=key,
        created_at=now,
        **fields,
    )
    _insert_entry(entry)
    return entry


# The ledgers' and the purchase's writes, each written once (config/platform/fixed_sql.py): they
# run inside the card's lock, where on SQLite every other till waits. These models have
# no save() of their own and no signal receivers.
_insert_entry = FixedInsert(PointsEntry)
_insert_growth = FixedInsert(GrowthEntry)
_insert_purchase = FixedInsert(Purchase)


def _add_lot(card: Card, *, kind: str, points: int, key: str, now, expires_at, **fields):
    """Add a lot of `points`; owed points (a refund's shortfall) are repaid from it first."""
    entry = _append(
        card,
        kind=kind,
        delta=points,
        key=key,
        now=now,
        remaining=points,
        expires_at=expires_at,
        **fields,
    )
    if card.points_debt and points:
        repay = min(points, card.points_debt)
        card.points_debt -= repay
        _consume(
            card,
            points=repay,
            kind=PointsEntry.Kind.REFUND,
            key=f"{key}:repay",
            now=now,
            reason=_("Repays points owed from an earlier refund"),
            debt_delta=-repay,
            purchase=fields.get("purchase"),
        )
    return entry


def _expire_due_lots(card: Card, now) -> int:
    """Expire this member's lots whose date has passed; one expire row per lot."""
    due = list(
        PointsEntry.objects.filter(
            member_id=card.pk, remaining__gt=0, expires_at__lte=now
        ).order_by("expires_at", "id")
    )
    expired = 0
    for lot in due:
        _append(
            card,
            kind=PointsEntry.Kind.EXPIRE,
            delta=-lot.remaining,
            key=f"expire:{lot.pk}",
            now=now,
            reason=_("Points expired"),
            source=f"lot:{lot.pk}",
        )
        expired += lot.remaining
        lot.remaining = 0
        lot.save(update_fields=["remaining"])
    return expired


def _consume(card: Card, *, points: int, kind: str, key: str, now, **fields) -> PointsEntry:
    """Take `points` from the oldest-expiring lots first; refuse to go below zero."""
    _expire_due_lots(card, now)
    if points > card.points_balance:
        raise NotEnoughPoints(
            _("Not enough points: %(balance)d available, %(points)d needed.")
            % {"balance": card.points_balance, "points": points},
            points_balance=card.points_balance,
        )
    lots = PointsEntry.objects.filter(member_id=card.pk, remaining__gt=0).order_by(
        F("expires_at").asc(nulls_last=True), "id"
    )
    left, touched = points, []
    for lot in lots.iterator(chunk_size=100):
        take = min(left, lot.remaining)
        lot.remaining -= take
        touched.append(lot)
        left -= take
        if not left:
            break
    PointsEntry.objects.bulk_update(touched, ["remaining"])
    return _append(card, kind=kind, delta=-points, key=key, now=now, **fields)


def _clawback(card: Card, *, points: int, key: str, now, reason: str, reason_owed: str, **fields):
    """Take back `points` given earlier (a refund): what the balance cannot cover is owed.

    Due lots are expired first, so the part taken is what is really there; the rest
    becomes points_debt, repaid from the next lots (_add_lot). Returns (taken, owed).
    """
    _expire_due_lots(card, now)
    taken = min(points, card.points_balance)
    debt = points - taken
    card.points_debt += debt
    if taken:
        _consume(card, points=taken, kind=PointsEntry.Kind.REFUND, key=key, now=now,
                 reason=reason, debt_delta=debt, **fields)  # fmt: skip
    else:
        _append(card, kind=PointsEntry.Kind.REFUND, delta=0, key=key, now=now,
                debt_delta=debt, reason=reason_owed, **fields)  # fmt: skip
    return taken, debt


def _existing_entry(key: str) -> PointsEntry | None:
    return _entry_by_key.first(key)


_entry_by_key = FixedRead(PointsEntry, "t0.idempotency_key = %s")  # unique
_update_balance = FixedUpdate(Card, ["points_balance", "points_debt"])


@transaction.atomic
def points_award(
    *,
    member: Member,
    points: int,
    key: str,
    reason: str,
    kind: str = PointsEntry.Kind.EARN,
    source: str = "",
    actor: User | None = None,
    now: dt.datetime | None = None,
    expires_at: dt.datetime | None = None,
    purchase: Purchase | None = None,
) -> tuple[PointsEntry, bool]:
    """Give points as a new lot, once per `key`. Returns (entry, created).

    `purchase`: the purchase that earned them, when it is not the member's own (a
    referral reward), so a refund of it can take them back.
    """
    if points <= 0:
        raise ValidationError(_("Points to award must be positive."))
    return _award_points(
        _lock_card(member.pk), points=points, key=key, reason=reason, kind=kind,
        source=source, actor=actor, now=now or timezone.now(), expires_at=expires_at,
        purchase=purchase,
    )  # fmt: skip


def _award_points(
    card: Card, *, points, key, reason, kind=PointsEntry.Kind.EARN, source="", actor=None, now,
    expires_at=None, purchase=None,
) -> tuple[PointsEntry, bool]:  # fmt: skip
    """points_award's work, in a transaction that holds the member's card: also called
    by the registration on the card it just made (no savepoint needed there)."""
    existing = _existing_entry(key)
    if existing:
        return existing, False
    if expires_at is None:
        expires_at = expiry_for(now, LoyaltySettings.current())
    entry = _add_lot(
        card,
        kind=kind,
        points=points,
        key=key,
        now=now,
        expires_at=expires_at,
        reason=reason,
        source=source,
        actor=actor,
        purchase=purchase,
    )
    _update_balance(card)  # card.save(update_fields=["points_balance", "points_debt"])
    _notify_points(card.pk, entry)
    return entry, True


@transaction.atomic
def points_spend(
    *,
    member: Member,
    points: int,
    key: str,
    reason: str,
    source: str = "",
    actor: User | None = None,
    now: dt.datetime | None = None,
) -> tuple[PointsEntry, bool]:
    """Spend points (a reward, a gift), once per `key`. Raises NotEnoughPoints."""
    if points <= 0:
        raise ValidationError(_("Points to spend must be positive."))
    now = now or timezone.now()
    card = _lock_card(member.pk)
    existing = _existing_entry(key)
    if existing:
        return existing, False
    entry = _consume(
        card,
        points=points,
        kind=PointsEntry.Kind.REDEEM,
        key=key,
        now=now,
        reason=reason,
        source=source,
        actor=actor,
    )
    card.save(update_fields=["points_balance"])
    _notify_points(member.pk, entry)
    return entry, True


@transaction.atomic
def points_adjust(
    *,
    member: Member,
    delta: int,
    reason: str,
    actor: User,
    key: str | None = None,
    now: dt.datetime | None = None,
) -> PointsEntry:
    """A manual correction by staff: a reason is required and the change is audited."""
    if not reason or not reason.strip():
        raise ValidationError({"reason": _("A reason is required for a manual adjustment.")})
    if delta == 0:
        raise ValidationError({"delta": _("The adjustment cannot be zero.")})
    now = now or timezone.now()
    card = _lock_card(member.pk)
    key = key or f"adjust:{member.pk}:{now.isoformat()}:{delta}"
    existing = _existing_entry(key)
    if existing:
        return existing
    before = card.points_balance
    if delta > 0:
        entry = _add_lot(
            card,
            kind=PointsEntry.Kind.ADJUST,
            points=delta,
            key=key,
            now=now,
            expires_at=expiry_for(now, LoyaltySettings.current()),
            reason=reason.strip(),
            actor=actor,
        )
    else:
        entry = _consume(
            card,
            points=-delta,
            kind=PointsEntry.Kind.ADJUST,
            key=key,
            now=now,
            reason=reason.strip(),
            actor=actor,
        )
    card.save(update_fields=["points_balance", "points_debt"])
    audit_record(
        actor=actor,
        action="points.adjust",
        obj=member,
        changes={"points_balance": [before, card.points_balance], "reason": [None, reason.strip()]},
        store=member.store,
    )
    _notify_points(member.pk, entry)
    return entry


@transaction.atomic
def points_expire_member(*, member: Member, now: dt.datetime | None = None) -> int:
    """Expire one member's due lots now (the nightly job does the same in batches)."""
    now = now or timezone.now()
    card = _lock_card(member.pk)
    expired = _expire_due_lots(card, now)
    if expired:
        card.save(update_fields=["points_balance"])
    return expired


def _notify_points(member_id: int, entry: PointsEntry) -> None:
    signals.points_changed.send(
        sender=PointsEntry, member_id=member_id, entry_id=entry.pk, entry=entry
    )


# --- tiers --------------------------------------------------------------------


def _qualifying_metric(card: Card, conf: LoyaltySettings, now) -> Decimal:
    basis, months = conf.tier_basis, conf.qualification_months
    if months == 0:
        if basis == LoyaltySettings.TierBasis.SPEND:
            return card.total_spent
        if basis == LoyaltySettings.TierBasis.VISITS:
            return Decimal(card.purchase_count)
        return Decimal(card.growth_value)
    since = _local_midnight(add_months(timezone.localdate(now), -months))
    if basis == LoyaltySettings.TierBasis.GROWTH:
        total = GrowthEntry.objects.filter(member_id=card.pk, created_at__gte=since).aggregate(
            s=Sum("delta")
        )["s"]
        return Decimal(total or 0)
    window = Purchase.objects.filter(member_id=card.pk, occurred_at__gte=since)
    if basis == LoyaltySettings.TierBasis.VISITS:
        return Decimal(window.exclude(status=Purchase.Status.REFUNDED).count())
    total = window.aggregate(s=Sum(F("cash_paid") - F("refunded_amount")))["s"]
    return total or ZERO


def _change_tier(
    card: Card, tier: Tier | None, *, reason: str, now, actor=None, purchase=None, note="",
    conf=None, lowest=None,
):  # fmt: skip
    old = card.tier
    card.tier, card.tier_since = tier, now
    card.tier_review_on = review_day_for(card, now, conf, lowest)
    TierChange.objects.create(
        member_id=card.pk,
        from_tier=old,
        to_tier=tier,
        reason=reason,
        actor=actor,
        purchase=purchase,
        note=note,
        created_at=now,
    )
    signals.tier_changed.send(
        sender=Card,
        member_id=card.pk,
        from_tier_id=old.pk if old else None,
        to_tier_id=tier.pk if tier else None,
        reason=reason,
        from_tier=old,
        to_tier=tier,
    )


def review_day_for(
    card: Card, since: dt.datetime, conf: LoyaltySettings | None = None, lowest=None
):
    """The day a tier reached at `since` is reviewed (保级), or None (lowest tier, no reviews)."""
    conf = conf or LoyaltySettings.current()
    if not conf.tier_review_months or card.tier is None:
        return None
    if card.tier == (lowest or lowest_tier()):
        return None
    return add_months(timezone.localdate(since), conf.tier_review_months)


def _upgrade_if_qualified(
    card: Card, conf: LoyaltySettings, now, purchase=None, tiers: list[Tier] | None = None
) -> bool:
    """`tiers`: all tiers, lowest first, when the caller read them already."""
    tiers = list(Tier.objects.order_by("level")) if tiers is None else tiers
    current_level = card.tier.level if card.tier else 0
    candidates = [tier for tier in reversed(tiers) if tier.level > current_level]
    if not candidates:
        return False
    metric = _qualifying_metric(card, conf, now)
    for tier in candidates:  # the highest the member qualifies for, skipping levels
        if metric >= tier.qualify_threshold:
            _change_tier(card, tier, reason=TierChange.Reason.UPGRADE, now=now,
                         purchase=purchase, conf=conf, lowest=tiers[0])  # fmt: skip
            return True
    return False


def _add_growth(
    card: Card, growth: int, *, key: str, reason: str, now, purchase=None
) -> GrowthEntry:
    """On a locked card: growth value changed by `growth` (a refund's is negative), a
    ledger row under `key` (unique); the card's figure is saved by the caller."""
    card.growth_value += growth
    return _insert_growth(
        GrowthEntry(
            member_id=card.pk,
            delta=growth,
            balance_after=card.growth_value,
            reason=reason,
            idempotency_key=key,
            purchase=purchase,
            created_at=now,
        )
    )


@transaction.atomic
def growth_award(
    *, member: Member, growth: int, key: str, reason: str, now=None
) -> tuple[GrowthEntry | None, bool]:
    """Growth value (成长值) for an action, not a purchase: a check-in, a completed
    profile. Once per key; on the growth tier basis the member goes up a tier at once
    when it makes them qualify (with a TierChange row, as a purchase would)."""
    if growth <= 0:
        return None, False
    now = now or timezone.now()
    card = _lock_card(member.pk)
    existing = GrowthEntry.objects.filter(idempotency_key=key).first()  # under the lock
    if existing:
        return existing, False
    entry = _add_growth(card, growth, key=key, reason=reason, now=now)
    fields = ["growth_value"]
    conf = LoyaltySettings.current()
    if conf.tier_basis == LoyaltySettings.TierBasis.GROWTH and _upgrade_if_qualified(
        card, conf, now
    ):
        fields += ["tier", "tier_since", "tier_review_on"]
    card.save(update_fields=fields)
    return entry, True


@transaction.atomic
def tier_set(*, member: Member, tier: Tier, actor: User, note: str = "", now=None) -> Card:
    """Staff put a member on a tier (audited); the downgrade job may review it later."""
    now = now or timezone.now()
    card = _lock_card(member.pk)
    if card.tier_id == tier.pk:
        return card
    before = str(card.tier) if card.tier else None
    _change_tier(card, tier, reason=TierChange.Reason.STAFF, now=now, actor=actor, note=note)
    card.save(update_fields=["tier", "tier_since", "tier_review_on"])
    audit_record(
        actor=actor,
        action="tier.set",
        obj=member,
        changes={"tier": [before, str(tier)], "note": [None, note]}
        if note
        else {"tier": [before, str(tier)]},
        store=member.store,
    )
    return card


# --- purchases ------------------------------------------------------------------


@dataclass(frozen=True)
class Rules:
    """The settings, tiers and active earn rules one purchase is computed with."""

    conf: LoyaltySettings
    tiers: list[Tier]
    earn: list[EarnRule]


@dataclass(frozen=True)
class Quote:
    """What a purchase would come to, before anything is written (the counter's preview)."""

    gross_amount: Decimal
    tier_discount: Decimal
    coupon_discount: Decimal
    points_used: int
    points_value: Decimal
    cash_paid: Decimal
    points_earned: int
    earn_rule: str
    max_points: int

    @property
    def discount(self) -> Decimal:
        return self.tier_discount + self.coupon_discount


def clean_amount(amount) -> Decimal:
    try:
        value = Decimal(str(amount))
    except ArithmeticError as exc:
        raise ValidationError({"amount": _("Enter an amount in yuan, e.g. 38.50.")}) from exc
    if not value.is_finite() or value <= 0 or value > MAX_AMOUNT:
        raise ValidationError(
            {"amount": _("The amount must be above 0 and at most 1,000,000 yuan.")}
        )
    if value != value.quantize(Decimal("0.01")):
        raise ValidationError({"amount": _("Amounts have at most two decimal places (fen).")})
    return value


def max_points_for(payable: Decimal, conf: LoyaltySettings) -> int:
    """Most points one bill can take: the cap's share of what is left to pay."""
    cap_value = yuan_down(payable * conf.points_cap_percent / 100)
    return int(cap_value * conf.points_per_cash_yuan)


def _earn_points(
    cash: Decimal, *, tier: Tier | None, category: str, day: dt.date, conf: LoyaltySettings,
    rules: list[EarnRule] | None = None,
) -> tuple[int, str]:  # fmt: skip
    multiplier = tier.points_multiplier if tier else Decimal(1)
    parts = [_("%(rate)s points per yuan") % {"rate": f"{conf.points_per_yuan.normalize():f}"}]
    if tier and tier.points_multiplier != 1:
        parts.append(f"{tier.name} ×{tier.points_multiplier.normalize():f}")
    for rule in EarnRule.objects.filter(active=True) if rules is None else rules:
        if rule.applies(category=category, day=day):
            multiplier *= rule.multiplier
            parts.append(f"{rule.name} ×{rule.multiplier.normalize():f}")
    if conf.member_day and day.day == conf.member_day and conf.member_day_multiplier != 1:
        multiplier *= conf.member_day_multiplier
        parts.append(_("member day ×%(m)s") % {"m": f"{conf.member_day_multiplier.normalize():f}"})
    points = _whole_points(cash, conf.points_per_yuan * multiplier, conf.points_rounding)
    return points, " · ".join(parts)


def _whole_points(cash: Decimal, rate: Decimal, rounding: str) -> int:
    """Points are whole: the settings say how the fraction goes (down by default, so a
    rule never gives a fraction more than promised)."""
    Rounding = LoyaltySettings.Rounding
    if rounding == Rounding.WHOLE_YUAN:
        return math.floor(cash.to_integral_value(rounding=ROUND_FLOOR) * rate)
    if rounding == Rounding.HALF_UP:
        return int((cash * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return math.floor(cash * rate)


def purchase_quote(
    *,
    card: Card,
    amount: Decimal,
    category: str = "",
    points_to_use: int = 0,
    apply_tier_discount: bool | None = None,
    coupon=None,
    occurred_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
    conf: LoyaltySettings | None = None,
    rules: list[EarnRule] | None = None,
) -> Quote:
    """Discount, points and cash for a bill; raises the business errors the API reports.

    Order: the tier discount first, then the coupon on what is left (a 满减 threshold
    is met by the bill after the tier discount), then points pay at most the cap's
    share of what remains.
    """
    conf = conf or LoyaltySettings.current()
    amount = clean_amount(amount)
    if points_to_use < 0:
        raise ValidationError({"points_to_use": _("Points to use cannot be negative.")})
    tier = card.tier
    rate = tier.discount_rate if tier else Decimal(1)
    discountable = rate < 1 and category not in conf.excluded_categories()
    if apply_tier_discount and not discountable:
        raise TierDiscountNotApplicable(
            _("The tier discount does not apply to this member or category."),
        )
    tier_discount = (
        yuan(amount * (1 - rate)) if discountable and apply_tier_discount is not False else ZERO
    )
    coupon_discount = ZERO
    if coupon is not None:
        from .coupons import CouponNotUsable, discount_for, why_unusable

        base = amount - tier_discount
        reason = why_unusable(
            coupon, now=now or timezone.now(), member=card.member, base=base, category=category
        )
        if reason:
            raise CouponNotUsable(reason, coupon_code=coupon.code)
        coupon_discount = discount_for(coupon.template, base)
    payable = max(amount - tier_discount - coupon_discount, ZERO)
    max_points = min(max_points_for(payable, conf), card.points_balance)
    points_value = ZERO
    if points_to_use:
        if points_to_use > card.points_balance:
            raise NotEnoughPoints(
                _("Not enough points: %(balance)d available, %(points)d needed.")
                % {"balance": card.points_balance, "points": points_to_use},
                points_balance=card.points_balance,
            )
        cap_points = max_points_for(payable, conf)
        if points_to_use > cap_points:
            raise PointsOverCap(
                _("At most %(max)d points can pay this bill (%(pct)d%% of it).")
                % {"max": cap_points, "pct": conf.points_cap_percent},
                max_points=cap_points,
            )
        points_value = yuan_down(Decimal(points_to_use) / conf.points_per_cash_yuan)
    cash = payable - points_value
    day = timezone.localdate(occurred_at or timezone.now())
    earned, rule = _earn_points(cash, tier=tier, category=category, day=day, conf=conf, rules=rules)
    return Quote(
        amount,
        tier_discount,
        coupon_discount,
        points_to_use,
        points_value,
        cash,
        earned,
        rule,
        max_points,
    )


def _capped_earn(card: Card, points: int, conf: LoyaltySettings, occurred_at) -> tuple[int, str]:
    if not conf.daily_points_cap or not points:
        return points, ""
    start, end = local_day_bounds(timezone.localdate(occurred_at))
    today = (
        Purchase.objects.filter(
            member_id=card.pk, occurred_at__gte=start, occurred_at__lt=end
        ).aggregate(s=Sum("points_earned"))["s"]
        or 0
    )
    allowed = max(conf.daily_points_cap - today, 0)
    if points <= allowed:
        return points, ""
    return allowed, _("daily cap %(cap)d") % {"cap": conf.daily_points_cap}


def _same_request(purchase: Purchase, member: Member, amount: Decimal) -> Purchase:
    if purchase.member_id != member.pk or purchase.gross_amount != amount:
        raise ReferenceConflict(
            _("Reference %(ref)s was already used for a different purchase.")
            % {"ref": purchase.external_ref},
            external_ref=purchase.external_ref,
        )
    return purchase


def _twin(external_ref: str, member: Member, amount: Decimal) -> tuple[Purchase, bool] | None:
    """The answer to a retry: the purchase already recorded under this reference (the
    same request, else ReferenceConflict), or None when there is none."""
    existing = _purchase_by_ref.first(external_ref)
    return (_same_request(existing, member, amount), False) if existing else None


_purchase_by_ref = FixedRead(Purchase, "t0.external_ref = %s")  # unique
_active_rules = FixedRead(EarnRule, "t0.active = %s", order_by="t0.name, t0.id")  # Meta.ordering
_all_tiers = FixedRead(Tier, "1 = 1", order_by="t0.level")


_rules_kept: dict[str, tuple[str, Rules]] = {}  # alias -> (stamp, rules)


def purchase_rules() -> Rules:
    """The settings, tiers and active earn rules, as they are now.

    Kept in this process beside the stamp the database gives them (loyalty migration
    0009: triggers set a new random stamp on any change to the three tables, whoever
    makes it), and read again when the stamp differs: one small SELECT per purchase
    instead of three. The stamp is read first, so rules changed in between are read
    again next time, never kept under a stamp that is not theirs. Read-only: callers
    must not change the instances.
    """
    alias = router.db_for_read(LoyaltySettings)
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT stamp FROM loyalty_rules_stamp WHERE id = 1")
        row = cursor.fetchone()
    stamp = row[0] if row else None
    kept = _rules_kept.get(alias)
    if stamp is not None and kept is not None and kept[0] == stamp:
        return kept[1]
    rules = Rules(conf=LoyaltySettings.current(), tiers=_all_tiers(), earn=_active_rules(True))
    if stamp is not None:
        _rules_kept[alias] = (stamp, rules)
    return rules


def purchase_record(
    *,
    member: Member,
    amount,
    external_ref: str,
    store: Store | None = None,
    staff: User | None = None,
    category: str = "",
    points_to_use: int = 0,
    apply_tier_discount: bool | None = None,
    coupon_code: str = "",
    channel: str = Purchase.Channel.COUNTER,
    occurred_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> tuple[Purchase, bool]:
    """Record a purchase: discount, points spent and earned, counters, upgrade, at once.

    Idempotent on `external_ref`: the same reference again returns the first
    purchase with created=False and changes nothing; a reference reused for a
    different member or amount raises ReferenceConflict.
    """
    amount = clean_amount(amount)
    external_ref = (external_ref or "").strip()
    if not external_ref or len(external_ref) > 64:
        raise ValidationError({"external_ref": _("A reference of 1 to 64 characters is required.")})
    if twin := _twin(external_ref, member, amount):  # a retry: no lock taken
        return twin
    # What needs no lock is read before the transaction: on SQLite it holds the one
    # write lock from BEGIN, so every read done inside it delays every other till.
    rules = purchase_rules()
    coupon, coupon_code = None, (coupon_code or "").strip()
    if coupon_code:
        from .coupons import coupon_by_code

        # Read before the lock too: using it is the conditional UPDATE inside
        # (coupon_apply_to_purchase), which refuses a coupon used meanwhile.
        coupon = coupon_by_code(coupon_code)
    try:
        return _purchase_record(
            rules=rules,
            member=member,
            amount=amount,
            external_ref=external_ref,
            store=store,
            staff=staff,
            category=category.strip(),
            points_to_use=points_to_use,
            apply_tier_discount=apply_tier_discount,
            coupon=coupon,
            channel=channel,
            occurred_at=occurred_at,
            now=now or timezone.now(),
        )
    except IntegrityError:
        # Two requests with one reference raced (for different members, or on
        # PostgreSQL before the second saw the first): the loser returns the winner.
        if twin := _twin(external_ref, member, amount):
            return twin
        raise


@transaction.atomic
def _purchase_record(
    *, rules, member, amount, external_ref, store, staff, category, points_to_use,
    apply_tier_discount, coupon, channel, occurred_at, now,
) -> tuple[Purchase, bool]:  # fmt: skip
    card = _lock_card(member.pk)
    card.member = member
    # Not read again under the lock: a twin that committed since purchase_record looked
    # makes the purchase's INSERT below fail on the unique external_ref, which rolls
    # this back before anything else is written; purchase_record returns the twin.
    occurred_at = occurred_at or now
    conf = rules.conf
    try:
        quote = purchase_quote(
            card=card,
            amount=amount,
            category=category,
            points_to_use=points_to_use,
            apply_tier_discount=apply_tier_discount,
            coupon=coupon,
            occurred_at=occurred_at,
            now=now,
            conf=conf,
            rules=rules.earn,
        )
    except LoyaltyError:
        # Refused now (the points or the coupon spent) perhaps only because that twin
        # spent them: a retry gets the twin's answer, not this error.
        if twin := _twin(external_ref, member, amount):
            return twin
        raise
    earned, cap_note = _capped_earn(card, quote.points_earned, conf, occurred_at)
    purchase = Purchase(
        member=member,
        store=store,
        staff=staff,
        external_ref=external_ref,
        channel=channel,
        category=category,
        gross_amount=quote.gross_amount,
        tier_discount=quote.tier_discount,
        coupon_discount=quote.coupon_discount,
        points_used=quote.points_used,
        points_value=quote.points_value,
        cash_paid=quote.cash_paid,
        points_earned=earned,
        earn_rule=" · ".join(filter(None, [quote.earn_rule, cap_note])),
        occurred_at=occurred_at,
    )
    _insert_purchase(purchase)
    if coupon is not None:
        from .coupons import coupon_apply_to_purchase

        # A conditional UPDATE: the same coupon at two tills at once is used only once,
        # and the loser's whole purchase rolls back with its error.
        coupon_apply_to_purchase(
            coupon=coupon, purchase=purchase, discount=quote.coupon_discount, now=now
        )
    if quote.points_used:
        _consume(
            card,
            points=quote.points_used,
            kind=PointsEntry.Kind.REDEEM,
            key=f"purchase:{external_ref}:redeem",
            now=now,
            reason=_("Points paid part of a purchase"),
            purchase=purchase,
        )
    if earned:
        _add_lot(
            card,
            kind=PointsEntry.Kind.EARN,
            points=earned,
            key=f"purchase:{external_ref}:earn",
            now=now,
            expires_at=expiry_for(occurred_at, conf),
            reason=_("Purchase"),
            rule=purchase.earn_rule,
            purchase=purchase,
        )
    growth = math.floor(quote.cash_paid * conf.growth_per_yuan)
    if growth:
        _add_growth(card, growth, key=f"purchase:{external_ref}:growth", reason=_("Purchase"),
                    now=now, purchase=purchase)  # fmt: skip
    card.total_spent += quote.cash_paid
    card.purchase_count += 1
    if card.first_purchase_at is None or occurred_at < card.first_purchase_at:
        card.first_purchase_at = occurred_at
    if card.last_purchase_at is None or occurred_at > card.last_purchase_at:
        card.last_purchase_at = occurred_at
    _upgrade_if_qualified(card, conf, now, purchase=purchase, tiers=rules.tiers)
    if card.purchase_count == 1 and member.referred_by_id:
        from .benefits.engagement import referral_first_purchase

        referral_first_purchase(card=card, invitee=member, purchase=purchase, now=now, conf=conf)
    _update_card_figures(card)
    purchase.points_balance_after = card.points_balance
    purchase.tier_after = card.tier.name if card.tier else ""
    _update_purchase_after(purchase)
    signals.purchase_recorded.send(
        sender=Purchase, purchase_id=purchase.pk, member_id=member.pk, purchase=purchase
    )
    return purchase, True


_update_purchase_after = FixedUpdate(Purchase, ["points_balance_after", "tier_after"])


def _refund_twin(key: str, purchase: Purchase) -> tuple[Refund, bool] | None:
    """The answer to a retry: the refund already made under this key (of this purchase,
    else ReferenceConflict), or None when there is none."""
    existing = Refund.objects.filter(idempotency_key=key)[:1]  # unique: no ORDER BY
    if not existing:
        return None
    if existing[0].purchase_id != purchase.pk:
        raise ReferenceConflict(_("Refund reference %(ref)s was already used.") % {"ref": key})
    return existing[0], False


def purchase_refund(
    *,
    purchase: Purchase,
    amount=None,
    key: str | None = None,
    actor: User | None = None,
    reason: str = "",
    now: dt.datetime | None = None,
) -> tuple[Refund, bool]:
    """Refund all or part of a purchase's cash; claw back the points earned on that part.

    Points used on the purchase come back in proportion. When the clawback exceeds
    the balance (the points were already spent), the balance stops at zero and the
    rest is owed, repaid from the member's next earnings. Idempotent on `key`: a
    retry, even one sent at the same moment, returns the first refund with
    created=False and changes nothing.
    """
    key = key or f"{purchase.external_ref}:refund:{amount if amount is not None else 'full'}"
    if twin := _refund_twin(key, purchase):  # a retry: no lock taken
        return twin
    try:
        return _purchase_refund(
            purchase=purchase, amount=amount, key=key, actor=actor, reason=reason,
            now=now or timezone.now(),
        )  # fmt: skip
    except IntegrityError:
        # The key was taken meanwhile by a refund that held other locks (of another
        # member's purchase), so the check under ours could not see it: the loser,
        # rolled back, answers with the winner (ReferenceConflict) rather than a 500.
        if twin := _refund_twin(key, purchase):
            return twin
        raise


@transaction.atomic
def _purchase_refund(*, purchase, amount, key, actor, reason, now) -> tuple[Refund, bool]:
    card = _lock_card(purchase.member_id)
    purchase = Purchase.objects.select_for_update().get(pk=purchase.pk)
    # Looked up again under the locks: a retry sent at the same moment passed the check
    # in purchase_refund before the first committed (on PostgreSQL; SQLite's IMMEDIATE
    # transaction queues them at BEGIN). It returns the first refund, not a second one,
    # nor "already refunded" for a full refund.
    if twin := _refund_twin(key, purchase):
        return twin
    if purchase.status == Purchase.Status.REFUNDED:
        raise RefundNotPossible(_("This purchase has already been refunded in full."))
    refundable = purchase.refundable_amount
    amount = refundable if amount is None else clean_amount(amount)
    if amount > refundable:
        raise RefundNotPossible(
            _("At most %(max)s yuan can still be refunded.") % {"max": refundable},
            refundable=str(refundable),
        )
    done = purchase.refunds.aggregate(
        clawed=Sum(F("points_clawed_back") + F("points_debt")), returned=Sum("points_returned")
    )
    clawed_before, returned_before = done["clawed"] or 0, done["returned"] or 0
    full = amount == refundable
    if full:
        claw = purchase.points_earned - clawed_before
        give_back = purchase.points_used - returned_before
    else:
        share = amount / purchase.cash_paid
        claw = min(round(purchase.points_earned * share), purchase.points_earned - clawed_before)
        give_back = min(
            math.floor(purchase.points_used * share), purchase.points_used - returned_before
        )
    conf = LoyaltySettings.current()
    if give_back:
        _append(
            card,
            kind=PointsEntry.Kind.REFUND,
            delta=give_back,
            key=f"refund:{key}:return",
            now=now,
            remaining=give_back,
            expires_at=expiry_for(purchase.occurred_at, conf),
            reason=_("Points used on a refunded purchase come back"),
            purchase=purchase,
            actor=actor,
        )
    taken, debt = (
        _clawback(
            card,
            points=claw,
            key=f"refund:{key}:clawback",
            now=now,
            reason=_("Points earned on a refunded purchase are taken back"),
            reason_owed=_("Points earned on a refunded purchase are owed"),
            purchase=purchase,
            actor=actor,
        )
        if claw
        else (0, 0)
    )
    refund = Refund.objects.create(
        purchase=purchase,
        idempotency_key=key,
        amount=amount,
        points_clawed_back=taken,
        points_returned=give_back,
        points_debt=debt,
        actor=actor,
        reason=reason,
        created_at=now,
    )
    growth_back = min(math.floor(amount * conf.growth_per_yuan), card.growth_value)
    if growth_back:
        _add_growth(card, -growth_back, key=f"refund:{key}:growth", reason=_("Refund"), now=now,
                    purchase=purchase)  # fmt: skip
    card.total_spent -= amount
    erased = Member.objects.filter(pk=card.pk, status=Member.Status.ERASED).exists()
    if full:
        card.purchase_count = max(card.purchase_count - 1, 0)
        from .benefits.engagement import referral_refund
        from .coupons import coupons_restore_for_refund

        if not erased:  # an erased member's coupons are not given back (loyalty/erasure.py)
            coupons_restore_for_refund(purchase=purchase, actor=actor, now=now)
        referral_refund(card=card, purchase=purchase, actor=actor, now=now)
    if erased and card.points_balance > 0:
        # The account was deleted after the purchase: the points the refund gives back
        # are forfeited at once, as the erasure forfeited the rest (per refund key).
        from .erasure import forfeit_reason

        _consume(
            card,
            points=card.points_balance,
            kind=PointsEntry.Kind.ADJUST,
            key=f"erase:{card.pk}:refund:{key}",
            now=now,
            reason=forfeit_reason(),
            purchase=purchase,
            actor=actor,
        )
    _update_card_figures(card)
    purchase.refunded_amount += amount
    purchase.status = Purchase.Status.REFUNDED if full else Purchase.Status.PARTIALLY_REFUNDED
    purchase.save(update_fields=["refunded_amount", "status"])
    if actor is not None:
        audit_record(
            actor=actor,
            action="purchase.refund",
            obj=purchase,
            changes={
                "refunded_amount": [
                    str(purchase.refunded_amount - amount),
                    str(purchase.refunded_amount),
                ]
            },
            store=purchase.store,
        )
    return refund, True


def ledger_problems(member_ids=None) -> list[tuple[int, str]]:
    """Members whose card disagrees with their ledger: [(member_id, what is wrong)].

    One grouped pass over the ledger (set-based), so it stays fast at millions of rows.
    """
    only, params = "", []
    if member_ids is not None:
        params = list(member_ids)
        if not params:
            return []
        only = f"AND c.member_id IN ({', '.join(['%s'] * len(params))})"
    sql = f"""
        SELECT c.member_id, c.points_balance, c.points_debt,
               COALESCE(e.total, 0), COALESCE(e.open, 0), COALESCE(e.owed, 0)
        FROM loyalty_card c
        LEFT JOIN (
            SELECT member_id, SUM(delta) AS total, SUM(remaining) AS open, SUM(debt_delta) AS owed
            FROM loyalty_pointsentry GROUP BY member_id
        ) e ON e.member_id = c.member_id
        WHERE (c.points_balance <> COALESCE(e.total, 0) OR c.points_balance <> COALESCE(e.open, 0)
               OR c.points_balance < 0 OR c.points_debt <> COALESCE(e.owed, 0)) {only}
        ORDER BY c.member_id
    """  # noqa: S608 - only placeholders are interpolated
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        problems = [
            (mid, f"balance={bal} sum(delta)={total} sum(remaining)={open_} owed={debt}/{owed}")
            for mid, bal, debt, total, open_, owed in cursor.fetchall()
        ]
        # Ledger rows of a member without a card are drift too.
        cursor.execute(
            "SELECT DISTINCT e.member_id FROM loyalty_pointsentry e "
            "LEFT JOIN loyalty_card c ON c.member_id = e.member_id WHERE c.member_id IS NULL"
        )
        problems += [(row[0], "ledger rows but no card") for row in cursor.fetchall()]
    return problems
