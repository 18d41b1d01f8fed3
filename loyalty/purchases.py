"""A purchase and its refunds: the bill's discount, coupon and points, the points and
growth it earns, the card's counters and the upgrade it brings, in one transaction.

A purchase composes the kernel (ledger, tiers, coupons) on the member's locked card.
What the benefits above do with a purchase (a referral's first-purchase reward, taking
it back on a refund) they do as receivers of `signals.first_purchase` and
`signals.purchase_refunded`, sent inside the transaction with the locked card, so this
module never imports them.
"""

import datetime as dt
import math
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from config.platform.fixed_sql import FixedInsert, FixedRead, FixedUpdate
from loyalty.coupons import (
    ANY_STORE,
    coupon_apply_to_purchase,
    coupon_by_code,
    coupon_refuse_unless_usable,
    coupons_restore_for_refund,
    discount_for,
)
from members.audit import audit_record
from members.models import Member, Store, User

from . import signals
from .dates import local_day_bounds
from .errors import (
    LoyaltyError,
    NotEnoughPoints,
    PointsOverCap,
    ReferenceConflict,
    RefundNotPossible,
    TierDiscountNotApplicable,
)
from .ledger import (
    card_figures_save,
    card_lock,
    entry_append,
    expiry_for,
    forfeit_reason,
    lot_add,
    points_clawback,
    points_take,
)
from .models import Card, EarnRule, LoyaltySettings, PointsEntry, Purchase, Refund, Tier
from .money import ZERO, clean_amount, yuan, yuan_down
from .rules import purchase_rules
from .stored_value import (
    clean_stored_value,
    stored_value_check,
    stored_value_confirm,
    stored_value_of,
    stored_value_return,
    stored_value_take,
)
from .stored_value import figures_save as stored_value_figures_save
from .tiers import growth_add, tier_upgrade_if_qualified

# Points one purchase can earn, at most: with 64-bit balances no sequence of purchases
# can overflow (a million such purchases is a tenth of the range), whatever multipliers
# a merchant stacks (tier x rules x member day, each up to 99.99).
MAX_POINTS_PER_PURCHASE = 10**10


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
    stored_value_used: Decimal = ZERO  # part of cash_paid, paid from stored value

    @property
    def cash_due(self) -> Decimal:
        """What is left to pay in cash or by another tender."""
        return self.cash_paid - self.stored_value_used

    @property
    def discount(self) -> Decimal:
        return self.tier_discount + self.coupon_discount


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
    if points > MAX_POINTS_PER_PURCHASE:  # stacked multipliers at their maxima
        points = MAX_POINTS_PER_PURCHASE
        parts.append(_("at most %(n)d points a purchase") % {"n": MAX_POINTS_PER_PURCHASE})
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
    stored_value_to_use=ZERO,
    apply_tier_discount: bool | None = None,
    coupon=None,
    store=ANY_STORE,
    occurred_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
    conf: LoyaltySettings | None = None,
    rules: list[EarnRule] | None = None,
) -> Quote:
    """Discount, points and cash for a bill; raises the business errors the API reports.

    Order: the tier discount first, then the coupon on what is left (a 满减 threshold
    is met by the bill after the tier discount), then points pay at most the cap's
    share of what remains, then stored value (储值) any part of the rest, then cash.
    A coupon limited to stores is refused at another `store` (a Store, or None: a
    purchase of no store; ANY_STORE, the default, does not check it).
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
        base = amount - tier_discount
        coupon_refuse_unless_usable(
            coupon,
            now=now or timezone.now(),
            member=card.member,
            base=base,
            category=category,
            store=store,
        )
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
    stored_value = clean_stored_value(stored_value_to_use)
    if stored_value > cash:
        raise ValidationError(
            {"stored_value_to_use": _("Stored value cannot pay more than the bill (%(cash)s yuan).")
             % {"cash": cash}}
        )  # fmt: skip
    stored_value_check(card, stored_value)
    day = timezone.localdate(occurred_at or timezone.now())
    earning = cash if conf.stored_value_earns else cash - stored_value
    earned, rule = _earn_points(
        earning, tier=tier, category=category, day=day, conf=conf, rules=rules
    )
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
        stored_value,
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
# The purchase's write, written once (config/platform/fixed_sql.py): inside the card's
# lock, where on SQLite every other till waits. No save() of its own, no receivers.
_insert_purchase = FixedInsert(Purchase)
_active_rules = FixedRead(EarnRule, "t0.active = %s", order_by="t0.name, t0.id")  # Meta.ordering


def purchase_record(
    *,
    member: Member,
    amount,
    external_ref: str,
    store: Store | None = None,
    staff: User | None = None,
    category: str = "",
    points_to_use: int = 0,
    stored_value_to_use=ZERO,
    confirmation_code: str = "",
    apply_tier_discount: bool | None = None,
    coupon_code: str = "",
    channel: str = Purchase.Channel.COUNTER,
    occurred_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> tuple[Purchase, bool]:
    """Record a purchase: discount, points spent and earned, counters, upgrade, at once.

    Idempotent on `external_ref`: the same reference again returns the first
    purchase with created=False and changes nothing; a reference reused for a
    different member or amount raises ReferenceConflict. Stored value above the
    settings' confirmation limit needs the member's SMS code (`confirmation_code`).
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
    stored_value_to_use = clean_stored_value(stored_value_to_use)
    if stored_value_to_use > rules.conf.stored_value_confirm_limit:
        stored_value_confirm(member=member, code=confirmation_code, now=now)
    coupon, coupon_code = None, (coupon_code or "").strip()
    if coupon_code:
        # Read before the lock too: using it is the conditional UPDATE inside
        # (coupon_apply_to_purchase), which refuses a coupon used meanwhile.
        coupon = coupon_by_code(coupon_code)
        coupon.template.store_limits  # noqa: B018 - read now, kept on the template
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
            stored_value_to_use=stored_value_to_use,
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
    stored_value_to_use, apply_tier_discount, coupon, channel, occurred_at, now,
) -> tuple[Purchase, bool]:  # fmt: skip
    card = card_lock(member.pk)
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
            stored_value_to_use=stored_value_to_use,
            apply_tier_discount=apply_tier_discount,
            coupon=coupon,
            store=store,
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
        stored_value_used=quote.stored_value_used,
        points_earned=earned,
        earn_rule=" · ".join(filter(None, [quote.earn_rule, cap_note])),
        occurred_at=occurred_at,
    )
    _insert_purchase(purchase)
    if coupon is not None:
        # A conditional UPDATE: the same coupon at two tills at once is used only once,
        # and the loser's whole purchase rolls back with its error.
        coupon_apply_to_purchase(
            coupon=coupon, purchase=purchase, discount=quote.coupon_discount, now=now
        )
    if quote.points_used:
        points_take(
            card,
            points=quote.points_used,
            kind=PointsEntry.Kind.REDEEM,
            key=f"purchase:{external_ref}:redeem",
            now=now,
            reason=_("Points paid part of a purchase"),
            purchase=purchase,
        )
    if earned:
        lot_add(
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
    if quote.stored_value_used:
        stored_value_take(card, amount=quote.stored_value_used, purchase=purchase, conf=conf,
                          now=now)  # fmt: skip
        stored_value_figures_save(card)
    earning = quote.cash_paid if conf.stored_value_earns else quote.cash_due
    growth = math.floor(earning * conf.growth_per_yuan)
    if growth:
        growth_add(card, growth, key=f"purchase:{external_ref}:growth", reason=_("Purchase"),
                    now=now, purchase=purchase)  # fmt: skip
    card.total_spent += quote.cash_paid
    card.purchase_count += 1
    if card.first_purchase_at is None or occurred_at < card.first_purchase_at:
        card.first_purchase_at = occurred_at
    if card.last_purchase_at is None or occurred_at > card.last_purchase_at:
        card.last_purchase_at = occurred_at
    tier_upgrade_if_qualified(card, conf, now, purchase=purchase, tiers=rules.tiers)
    if card.purchase_count == 1:
        # On the locked card, before its figures are saved: a receiver's points count.
        signals.first_purchase.send(
            sender=Purchase, card=card, member=member, purchase=purchase, now=now, conf=conf
        )
    card_figures_save(card)
    purchase.points_balance_after = card.points_balance
    purchase.tier_after = card.tier.name if card.tier else ""
    purchase.stored_value_after = stored_value_of(card)  # for the answer; not a column
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
    card = card_lock(purchase.member_id)
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
        entry_append(
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
        points_clawback(
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
    stored_back = stored_value_return(
        card, purchase=purchase, amount=amount, key=key, actor=actor, now=now
    )
    if stored_back:
        stored_value_figures_save(card)
    refund = Refund.objects.create(
        purchase=purchase,
        idempotency_key=key,
        amount=amount,
        stored_value_returned=stored_back,
        points_clawed_back=taken,
        points_returned=give_back,
        points_debt=debt,
        actor=actor,
        reason=reason,
        created_at=now,
    )
    signals.refund_recorded.send(sender=Refund, member_id=card.pk, refund=refund, purchase=purchase)
    earning = amount if conf.stored_value_earns else amount - stored_back
    growth_back = min(math.floor(earning * conf.growth_per_yuan), card.growth_value)
    if growth_back:
        growth_add(card, -growth_back, key=f"refund:{key}:growth", reason=_("Refund"), now=now,
                    purchase=purchase)  # fmt: skip
    card.total_spent -= amount
    erased = Member.objects.filter(pk=card.pk, status=Member.Status.ERASED).exists()
    if full:
        card.purchase_count = max(card.purchase_count - 1, 0)
        if not erased:  # an erased member's coupons are not given back (loyalty/erasure.py)
            coupons_restore_for_refund(purchase=purchase, actor=actor, now=now)
        # On the locked card, before its figures are saved (a referral's rewards go back).
        signals.purchase_refunded.send(
            sender=Purchase, card=card, purchase=purchase, actor=actor, now=now
        )
    if erased and card.points_balance > 0:
        # The account was deleted after the purchase: the points the refund gives back
        # are forfeited at once, as the erasure forfeited the rest (per refund key).
        points_take(
            card,
            points=card.points_balance,
            kind=PointsEntry.Kind.ADJUST,
            key=f"erase:{card.pk}:refund:{key}",
            now=now,
            reason=forfeit_reason(),
            purchase=purchase,
            actor=actor,
        )
    card_figures_save(card)
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
