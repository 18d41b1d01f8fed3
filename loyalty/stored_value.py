"""Stored value (储值): customers' money held in advance, in the kernel beside points.

A member's balance is two figures on the Card: principal (money the customer paid in)
and bonus (money the merchant gave with a top-up offer). Every change locks the card
(ledger.card_lock, the lock the points take), appends a StoredValueEntry under a unique
idempotency key with both deltas and both balances after, and saves the two figures in
the same transaction. `ledger_problems` proves the card against the ledger.

Spending takes principal and bonus in proportion (the usual practice, so that a refund
or a cash-out treats them alike) or bonus first (a setting); `split` is the arithmetic,
in fen, never losing or making one. A refund gives back what its share of the purchase
took, in the same split. A cash-out (退卡) pays back the principal and forfeits the bonus.
"""

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from config.platform.fixed_sql import FixedInsert, FixedUpdate
from members.audit import audit_record
from members.models import Member, Store, User
from members.otp import PAY, OtpError, otp_check

from . import signals
from .errors import LoyaltyError, ReferenceConflict
from .ledger import card_lock
from .models import (
    Card,
    CountCard,
    LoyaltySettings,
    Purchase,
    StoredValueEntry,
    Tender,
    TopUpOffer,
)
from .money import MAX_AMOUNT, ZERO, clean_amount

CENT = Decimal("0.01")


class StoredValueCapExceeded(LoyaltyError):
    code = "stored_value_cap"


class NotEnoughStoredValue(LoyaltyError):
    code = "not_enough_stored_value"


class OfferNotApplicable(LoyaltyError):
    code = "offer_not_applicable"


class NothingToCashOut(LoyaltyError):
    code = "nothing_to_cash_out"


class MemberNotActive(LoyaltyError):
    code = "member_not_active"


def member_active_check(member_id: int) -> None:
    """On the member's locked card: MemberNotActive unless the account is active. Prepaid
    money is never put on a deleted account (erasure reads the card under the same lock,
    members.privacy.ERASE_HOLDS), nor on a suspended one."""
    if not Member.objects.filter(pk=member_id, status=Member.Status.ACTIVE).exists():
        raise MemberNotActive(
            _("This member's account is not active: no stored value or count card can go on it.")
        )


class ConfirmationRequired(LoyaltyError):
    code = "confirmation_required"


class ConfirmationInvalid(LoyaltyError):
    code = "confirmation_invalid"


def _running(now):
    day = timezone.localdate(now)
    return (
        TopUpOffer.objects.filter(active=True)
        .filter(Q(starts_on__isnull=True) | Q(starts_on__lte=day))
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=day))
    )


def offers_running(*, store: Store | None = None, now=None):
    """The active top-up offers of today (and of `store`, when given), smallest first."""
    offers = _running(now or timezone.now()).select_related("coupon")
    if store is not None:
        offers = offers.filter(Q(stores=None) | Q(stores=store)).distinct()
    return list(offers.order_by("pay_amount", "code"))


def clean_stored_value(value) -> Decimal:
    """Stored value to use, as given: none, or yuan in whole fen, not negative."""
    if value in (None, ""):
        return ZERO
    try:
        amount = Decimal(str(value))
    except ArithmeticError as exc:
        raise ValidationError(
            {"stored_value_to_use": _("Enter an amount in yuan, e.g. 38.50.")}
        ) from exc
    if (
        not amount.is_finite()
        or amount < 0
        or amount > MAX_AMOUNT
        or amount != amount.quantize(CENT)
    ):
        raise ValidationError(
            {"stored_value_to_use": _("Stored value to use must be 0 or more, in whole fen.")}
        )
    return amount.quantize(CENT)


def stored_value_confirm(*, member: Member, code: str, now=None) -> None:
    """A large spend's confirmation: the SMS code just sent to the member's phone
    (members.otp), used up when right. ConfirmationRequired without a code,
    ConfirmationInvalid with a wrong, old or used one."""
    if not (code or "").strip():
        raise ConfirmationRequired(
            _("This amount of stored value needs the member's confirmation: send them a code.")
        )
    try:
        otp_check(phone=member.phone, code=code, now=now, purpose=PAY)
    except OtpError as exc:
        raise ConfirmationInvalid(exc.message) from exc


def split(
    amount: Decimal, principal: Decimal, bonus: Decimal, order: str
) -> tuple[Decimal, Decimal]:
    """(from principal, from bonus) for `amount`, which must be at most principal + bonus.

    Proportional: the principal's share is rounded half up to the fen and the bonus
    takes the rest, each kept within what there is; bonus first: the bonus, then the
    principal. The two parts always add up to `amount` exactly.
    """
    if amount <= 0:
        return ZERO, ZERO
    if amount > principal + bonus:
        raise ValueError("amount exceeds the balance")
    if order == LoyaltySettings.StoredValueOrder.BONUS_FIRST:
        from_bonus = min(amount, bonus)
        return amount - from_bonus, from_bonus
    from_principal = (amount * principal / (principal + bonus)).quantize(CENT, ROUND_HALF_UP)
    # Rounding may ask a fen more of one side than it holds: the other side has it.
    from_principal = min(max(from_principal, amount - bonus), principal)
    return from_principal, amount - from_principal


def share_back(
    amount: Decimal, of: Decimal, used_principal: Decimal, used_bonus: Decimal
) -> tuple[Decimal, Decimal]:
    """What a refund of `amount` out of `of` paid gives back of a spend, in its split.

    Rounded to the fen half up on the total and split as the spend was; a full refund
    (amount == of) gives back the spend exactly.
    """
    used = used_principal + used_bonus
    if amount >= of:
        return used_principal, used_bonus
    back = (used * amount / of).quantize(CENT, ROUND_HALF_UP)
    if not used or not back:
        return ZERO, ZERO
    principal = (back * used_principal / used).quantize(CENT, ROUND_HALF_UP)
    principal = min(max(principal, back - used_bonus), used_principal)
    return principal, back - principal


_insert_entry = FixedInsert(StoredValueEntry)  # no save() of its own, no receivers
_update_figures = FixedUpdate(Card, ["stored_principal", "stored_bonus"])


def entry_append(
    card: Card, *, kind: str, principal: Decimal, bonus: Decimal, key: str, now, **fields
) -> StoredValueEntry:
    """On a locked card: change its principal and bonus by these deltas, with a ledger row.
    The caller saves the card's figures (`figures_save`) before its transaction ends."""
    card.stored_principal += principal
    card.stored_bonus += bonus
    entry = StoredValueEntry(
        member_id=card.pk,
        kind=kind,
        principal_delta=principal,
        bonus_delta=bonus,
        principal_after=card.stored_principal,
        bonus_after=card.stored_bonus,
        idempotency_key=key,
        created_at=now,
        **fields,
    )
    _insert_entry(entry)
    return entry


def figures_save(card: Card) -> None:
    """card.save(update_fields=["stored_principal", "stored_bonus"]), as one fixed UPDATE."""
    _update_figures(card)


def entry_by_key(key: str) -> StoredValueEntry | None:
    return StoredValueEntry.objects.filter(idempotency_key=key).first()


def offer_for(code: str, *, amount: Decimal, store: Store | None, now) -> TopUpOffer:
    """The active offer with this code, for this top-up; OfferNotApplicable otherwise."""
    offer = _running(now).filter(code=code).first()
    if offer is None:
        raise OfferNotApplicable(
            _("No top-up offer %(code)s is running today.") % {"code": code}, offer=code
        )
    if (
        store is not None
        and offer.stores.exists()
        and not offer.stores.filter(pk=store.pk).exists()
    ):
        raise OfferNotApplicable(
            _("Offer %(name)s is not available in this store.") % {"name": offer.name},
            offer=code,
        )
    if amount < offer.pay_amount:
        raise OfferNotApplicable(
            _("Offer %(name)s needs a top-up of at least %(min)s yuan.")
            % {"name": offer.name, "min": offer.pay_amount},
            offer=code,
        )
    return offer


def _twin(key: str, member: Member, amount: Decimal) -> tuple[StoredValueEntry, bool] | None:
    existing = entry_by_key(key)
    if existing is None:
        return None
    if existing.member_id != member.pk or existing.principal_delta != amount:
        raise ReferenceConflict(
            _("Reference %(ref)s was already used for a different top-up.")
            % {"ref": existing.reference},
            external_ref=existing.reference,
        )
    return existing, False


def stored_value_top_up(
    *,
    member: Member,
    amount,
    external_ref: str,
    tender: str = Tender.CASH,
    offer_code: str = "",
    store: Store | None = None,
    actor: User | None = None,
    now: dt.datetime | None = None,
) -> tuple[StoredValueEntry, bool]:
    """Top up the member's stored value: `amount` as principal, the offer's bonus beside it.

    Idempotent on `external_ref`: the same reference again returns the first entry with
    created=False; reused for another member or amount, ReferenceConflict. Refused above
    the settings' cap (StoredValueCapExceeded), with an offer that does not apply
    (OfferNotApplicable). The offer's coupon and points go with it (signals.topped_up).
    """
    amount = clean_amount(amount)
    external_ref = (external_ref or "").strip()
    if not external_ref or len(external_ref) > 64:
        raise LoyaltyError(_("A reference of 1 to 64 characters is required."))
    if tender not in Tender.values:
        raise LoyaltyError(_("Unknown tender %(tender)s.") % {"tender": tender})
    key = f"top_up:{external_ref}"
    if twin := _twin(key, member, amount):
        return twin
    now = now or timezone.now()
    offer = offer_for(offer_code, amount=amount, store=store, now=now) if offer_code else None
    try:
        return _top_up(member, amount, key, external_ref, tender, offer, store, actor, now)
    except IntegrityError:
        if twin := _twin(key, member, amount):  # a replay raced this one and won
            return twin
        raise


@transaction.atomic
def _top_up(member, amount, key, external_ref, tender, offer, store, actor, now):
    card = card_lock(member.pk)
    if twin := _twin(key, member, amount):  # committed while this one waited for the lock
        return twin
    member_active_check(member.pk)
    bonus = offer.bonus if offer else ZERO
    cap = LoyaltySettings.current().stored_value_cap
    if card.stored_value + amount + bonus > cap:
        raise StoredValueCapExceeded(
            _(
                "A member may hold at most %(cap)s yuan of stored value: %(balance)s now, "
                "at most %(room)s more."
            )
            % {
                "cap": cap,
                "balance": card.stored_value,
                "room": max(cap - card.stored_value, ZERO),
            },
            cap=str(cap),
            balance=str(card.stored_value),
        )
    entry = entry_append(
        card, kind=StoredValueEntry.Kind.TOP_UP, principal=amount, bonus=bonus, key=key,
        now=now, reference=external_ref, tender=tender, offer=offer, store=store, actor=actor,
        reason=offer.name if offer else "",
    )  # fmt: skip
    figures_save(card)
    signals.stored_value_changed.send(
        sender=StoredValueEntry, member_id=member.pk, entry=entry, card=card, offer=offer
    )
    return entry, True


def stored_value_check(card: Card, amount: Decimal) -> None:
    """NotEnoughStoredValue unless the card holds `amount` (the quote and the spend ask)."""
    if amount > card.stored_value:
        raise NotEnoughStoredValue(
            _("Not enough stored value: %(balance)s yuan available, %(amount)s needed.")
            % {"balance": card.stored_value, "amount": amount},
            balance=str(card.stored_value),
        )


def stored_value_take(
    card: Card, *, amount: Decimal, purchase: Purchase, conf: LoyaltySettings, now
) -> StoredValueEntry:
    """Inside a purchase, on its locked card: pay `amount` from stored value."""
    stored_value_check(card, amount)
    principal, bonus = split(amount, card.stored_principal, card.stored_bonus,
                             conf.stored_value_order)  # fmt: skip
    return entry_append(
        card, kind=StoredValueEntry.Kind.SPEND, principal=-principal, bonus=-bonus,
        key=f"purchase:{purchase.external_ref}:stored_value", now=now,
        reference=purchase.external_ref, purchase=purchase, store=purchase.store,
        actor=purchase.staff, reason=_("Paid part of a purchase"),
    )  # fmt: skip


def stored_value_return(
    card: Card, *, purchase: Purchase, amount: Decimal, key: str, actor=None, now
) -> Decimal:
    """Inside a refund of `amount` yuan, on the locked card: give back the stored value
    that share of the purchase took, split as it was taken. Returns the yuan given back.

    What earlier refunds of the purchase gave back is not given again: the last refund
    gives back exactly what is left of the spend."""
    if not purchase.stored_value_used:
        return ZERO
    spent = StoredValueEntry.objects.filter(purchase=purchase).aggregate(
        p=Sum("principal_delta"), b=Sum("bonus_delta")
    )
    # What the purchase still holds of its spend (negative: taken; refunds add back),
    # to the fen: SQLite sums its decimals as binary floats.
    left_principal = -(spent["p"] or ZERO).quantize(CENT)
    left_bonus = -(spent["b"] or ZERO).quantize(CENT)
    principal, bonus = share_back(amount, purchase.refundable_amount, left_principal, left_bonus)
    if not principal and not bonus:
        return ZERO
    entry_append(
        card, kind=StoredValueEntry.Kind.REFUND, principal=principal, bonus=bonus,
        key=f"refund:{key}:stored_value", now=now, reference=purchase.external_ref,
        purchase=purchase, store=purchase.store, actor=actor,
        reason=_("Stored value paid on a refunded purchase comes back"),
    )  # fmt: skip
    return principal + bonus


@transaction.atomic
def stored_value_cash_out(
    *, member: Member, actor: User, reason: str, store: Store | None = None, now=None
) -> StoredValueEntry:
    """退卡: pay the unspent principal back to the member and forfeit the bonus.

    Staff only (the door checks the cash_out_stored_value permission); a reason is
    required and the change is audited.
    """
    if not reason or not reason.strip():
        raise LoyaltyError(_("A reason is required to cash out stored value."))
    now = now or timezone.now()
    card = card_lock(member.pk)
    if not card.stored_value:
        raise NothingToCashOut(_("This member has no stored value to cash out."))
    before = str(card.stored_value)
    paid_back = card.stored_principal
    entry = entry_append(
        card, kind=StoredValueEntry.Kind.CASH_OUT, principal=-card.stored_principal,
        bonus=-card.stored_bonus, key=f"cash_out:{member.pk}:{now.isoformat()}", now=now,
        store=store, actor=actor, reason=reason.strip(),
    )  # fmt: skip
    figures_save(card)
    audit_record(
        actor=actor,
        action="stored_value.cash_out",
        obj=member,
        changes={
            "stored_value": [before, "0.00"],
            "paid_back": [None, str(paid_back)],
            "reason": [None, reason.strip()],
        },  # fmt: skip
        store=member.store,
    )
    signals.stored_value_changed.send(
        sender=StoredValueEntry, member_id=member.pk, entry=entry, card=card, offer=None
    )
    return entry


def stored_value_of(card: Card) -> dict:
    """The member's balance as the API and screens show it: strings, two places."""
    return {
        "balance": f"{card.stored_value:.2f}",
        "principal": f"{card.stored_principal:.2f}",
        "bonus": f"{card.stored_bonus:.2f}",
    }


def entry_balance(entry: StoredValueEntry) -> dict:
    """The balance right after `entry`, as stored_value_of shows a card's."""
    principal, bonus = entry.principal_after, entry.bonus_after
    return {
        "balance": f"{principal + bonus:.2f}",
        "principal": f"{principal:.2f}",
        "bonus": f"{bonus:.2f}",
    }


def stored_value_after(purchase: Purchase) -> dict:
    """A purchase's answer, given again: the balance its stored value left, or (paid
    without stored value) the member's balance now."""
    spend = StoredValueEntry.objects.filter(
        purchase=purchase, kind=StoredValueEntry.Kind.SPEND
    ).first()
    if spend is not None:
        return entry_balance(spend)
    return stored_value_of(Card.objects.get(pk=purchase.member_id))


def prepaid_erase_hold(member: Member) -> str | None:
    """members.privacy.ERASE_HOLDS: stored value and count cards with uses left are the
    member's money, paid back at a store (退卡, a count card's refund) before the account
    can go, never forfeited by deleting it."""
    # Under the card's lock, as every top-up and sale: none can slip in before the erasure
    # commits (they check the member is active under the same lock).
    card = card_lock(member.pk)
    if card is not None and card.stored_value:
        return _(
            "You still have %(amount)s yuan of stored value. Ask a store to cash it out "
            "(退卡) before you delete your account."
        ) % {"amount": card.stored_value}
    active = CountCard.objects.filter(
        member_id=member.pk, status=CountCard.Status.ACTIVE, uses_left__gt=0
    ).exclude(expires_at__lte=timezone.now())
    if active.exists():
        return _(
            "You still have count cards with uses left. Use them, or ask a store to refund "
            "them, before you delete your account."
        )
    return None
