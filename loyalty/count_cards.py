"""Count cards (次卡): a number of uses of a service, paid in advance, in the kernel beside
stored value.

The owner sets templates (CountCardTemplate); a member buys a card from one
(`count_card_sell`: paid at the till, or from their stored value through
loyalty.stored_value), uses it one use at a time (`count_card_use`), may have the unused
uses refunded pro rata (`count_card_refund`), and loses what is left when it expires
(`count_cards_expire`, the nightly job; a use or a refund that finds a card past its
date expires it too).

Every change locks the member's loyalty Card first (ledger.card_lock, the lock the
points and stored value take: the nightly expiry locks a batch of them), appends a
CountCardEntry under a unique idempotency key and saves the card's uses in the same
transaction; `ledger_problems` proves each card against its entries. Changes send
signals.count_card_changed (the expiry job: count_cards_expired, a batch at a time).

The doors (counter, POS API, member centre, jobs, notices) call only the public
functions here; errors are LoyaltyError subclasses with a stable `code`.
"""

import datetime as dt
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from members.audit import audit_record
from members.models import Member, Store, User

from . import signals
from .dates import add_months, local_midnight
from .errors import LoyaltyError, ReferenceConflict
from .ledger import card_lock
from .models import (
    COUNT_CARD_TENDERS,
    Card,
    CountCard,
    CountCardEntry,
    CountCardTemplate,
    LoyaltySettings,
    StoredValueEntry,
    Tender,
)
from .models.count_cards import SERVICE_MAX_LENGTH
from .money import ZERO, yuan_down
from .stored_value import entry_append as stored_value_entry_append
from .stored_value import figures_save as stored_value_figures_save
from .stored_value import (
    member_active_check,
    share_back,
    split,
    stored_value_check,
    stored_value_confirm,
)

STORED_VALUE = CountCard.STORED_VALUE  # the tender of a card paid from stored value
KEY_MAX = 64  # a sale's reference, a use's or a refund's key
BATCH = 500  # members per transaction of the expiry job
Status = CountCard.Status
Kind = CountCardEntry.Kind


class CountCardNotUsable(LoyaltyError):
    """The card exists but cannot be used now: used up, expired, refunded, wrong store or
    service. details: card_id, status."""

    code = "count_card_not_usable"


class CountCardNotFound(LoyaltyError):
    """No such card, or not the member's."""

    code = "count_card_not_found"
    status = 404


class CountCardTemplateNotAvailable(LoyaltyError):
    """No such template on sale (inactive, unknown), or not at this store."""

    code = "count_card_template_not_available"


class CountCardNotRefundable(LoyaltyError):
    """Refunds are off in the settings, or nothing is left to refund."""

    code = "count_card_not_refundable"


# --- reading ---------------------------------------------------------------------------


def count_card_expiry(sold_at: dt.datetime, valid_months: int) -> dt.datetime | None:
    """When a card sold at `sold_at`, valid `valid_months` months, expires: the first
    instant after its last valid Shanghai day (None: 0 months, never).

    Sold 2026-01-31 for 1 month: usable until 2026-02-28 23:59:59 local time."""
    if not valid_months:
        return None
    day = timezone.localdate(sold_at)
    return local_midnight(add_months(day, valid_months) + dt.timedelta(days=1))


def count_card_templates_on_sale(*, store: Store | None = None) -> list[CountCardTemplate]:
    """The templates on sale (at `store`, when given), cheapest first: the counter's list."""
    templates = CountCardTemplate.objects.filter(active=True).prefetch_related("stores")
    return [t for t in templates.order_by("price", "code") if t.offered_at(store)]


def count_card_template_for(code: str, *, store: Store | None = None) -> CountCardTemplate:
    """The active template with this code, offered at `store`; CountCardTemplateNotAvailable
    otherwise."""
    template = CountCardTemplate.objects.filter(code=(code or "").strip(), active=True).first()
    if template is None:
        raise CountCardTemplateNotAvailable(
            _("No count card %(code)s is on sale.") % {"code": code}, template=code
        )
    if not template.offered_at(store):
        raise CountCardTemplateNotAvailable(
            _("Count card %(name)s is not sold in this store.") % {"name": template.name},
            template=code,
        )
    return template


def count_card_find(*, member: Member, card_id) -> CountCard:
    """The member's count card `card_id` (with its template); CountCardNotFound when there
    is none or it is another member's."""
    try:
        pk = int(card_id)
    except (TypeError, ValueError):
        pk = None
    card = (
        CountCard.objects.select_related("template").filter(pk=pk, member_id=member.pk).first()
        if pk is not None
        else None
    )
    if card is None:
        raise CountCardNotFound(
            _("This member has no count card %(id)s.") % {"id": card_id}, card_id=card_id
        )
    return card


def count_card_is_due(card: CountCard, now: dt.datetime) -> bool:
    """Past its date (expires_at <= now) while still active: the nightly job expires it."""
    return card.status == Status.ACTIVE and card.expires_at is not None and card.expires_at <= now


def count_card_shown_status(card: CountCard, now: dt.datetime) -> str:
    """Its status as people should see it now: "expired" once past its date, even before
    the nightly job wrote so."""
    return Status.EXPIRED if count_card_is_due(card, now) else card.status


def count_card_as_dict(card: CountCard, now: dt.datetime | None = None) -> dict:
    """One card as the API and the screens show it (see count_cards_of)."""
    now = now or timezone.now()
    last_day = card.last_day()
    return {
        "id": card.pk,
        "name": card.name,
        "template": card.template.code,
        "uses_left": card.uses_left,
        "uses_total": card.uses_total,
        "expires_at": timezone.localtime(card.expires_at).isoformat() if card.expires_at else None,
        "last_day": last_day.isoformat() if last_day else None,
        "status": count_card_shown_status(card, now),
    }


def count_cards_of(member: Member, now: dt.datetime | None = None) -> list[dict]:
    """The member's count cards, for the API and the screens: usable ones first (soonest to
    expire first), then the others (newest first). Each:

    {"id", "name", "template" (its code), "uses_left", "uses_total", "expires_at" (ISO
    8601 in Shanghai time, the first instant it is no longer valid, or None: never),
    "last_day" (its last valid day, ISO date, or None), "status" (active, used_up,
    expired, refunded; expired once past its date)}."""
    now = now or timezone.now()
    cards = list(CountCard.objects.filter(member_id=member.pk).select_related("template"))
    usable = [c for c in cards if count_card_shown_status(c, now) == Status.ACTIVE]
    others = [c for c in cards if count_card_shown_status(c, now) != Status.ACTIVE]
    usable.sort(key=lambda c: (c.expires_at is None, c.expires_at or now, c.pk))
    others.sort(key=lambda c: (c.sold_at, c.pk), reverse=True)
    return [count_card_as_dict(c, now) for c in usable + others]


def count_cards_expiring(
    now: dt.datetime | None = None, days: int | None = None
) -> list[tuple[int, CountCard]]:
    """[(member_id, card)] of the active cards with uses left whose last valid day is
    within `days` days from today (default: the settings' count_card_notice_days; 0: none),
    soonest first, with their template: the expiry notices' list. A daily job keyed by
    (card, last day) tells each member once per card."""
    now = now or timezone.now()
    if days is None:
        days = LoyaltySettings.current().count_card_notice_days
    if not days:
        return []
    until = local_midnight(timezone.localdate(now) + dt.timedelta(days=days + 1))
    cards = (
        CountCard.objects.filter(
            status=Status.ACTIVE, uses_left__gt=0, expires_at__gt=now, expires_at__lte=until
        )
        .select_related("template")
        .order_by("expires_at", "pk")
    )
    return [(card.member_id, card) for card in cards]


# --- writing: shared -----------------------------------------------------------------


def _key(value, message: str) -> str:
    """A reference or key as given, stripped; LoyaltyError(message) unless 1 to KEY_MAX long."""
    value = value.strip() if isinstance(value, str) else ""
    if not value or len(value) > KEY_MAX:
        raise LoyaltyError(message)
    return value


def _reference_message() -> str:
    return _("A reference of 1 to 64 characters is required.")


def _key_message() -> str:
    return _("A key of 1 to 64 characters is required.")


def _entry_append(card: CountCard, *, kind: str, delta: int, key: str, now, **fields):
    """On a card whose member's Card is locked: change its uses by `delta`, with a ledger
    row. The caller saves the card's uses_left and status."""
    card.uses_left += delta
    return CountCardEntry.objects.create(
        card=card, member_id=card.member_id, kind=kind, delta=delta, left_after=card.uses_left,
        idempotency_key=key, created_at=now, **fields,
    )  # fmt: skip


def _card_save(card: CountCard) -> None:
    card.save(update_fields=["uses_left", "status"])


def _expire_key(card: CountCard) -> str:
    # One key for the job and for a use or refund that finds the card due: it expires once.
    return f"count_card_expire:{card.pk}"


def _expire_now(card: CountCard, now) -> CountCardEntry:
    """On a due card, its member's Card locked: it loses what is left."""
    entry = _entry_append(card, kind=Kind.EXPIRE, delta=-card.uses_left, key=_expire_key(card),
                          now=now, note=_("Expired with uses left"))  # fmt: skip
    card.status = Status.EXPIRED
    _card_save(card)
    _notify(card, entry)
    return entry


def _expired_message(card: CountCard) -> str:
    return _("Count card %(name)s has expired: its last day was %(day)s.") % {
        "name": card.name,
        "day": card.last_day(),
    }


def _notify(card: CountCard, entry: CountCardEntry, stored_value_entry=None) -> None:
    signals.count_card_changed.send(
        sender=CountCard, member_id=card.member_id, card=card, entry=entry,
        stored_value_entry=stored_value_entry,
    )  # fmt: skip


# --- selling ---------------------------------------------------------------------------


def _sale_twin(key: str, member: Member, template_code: str) -> tuple[CountCard, bool] | None:
    entry = CountCardEntry.objects.select_related("card__template").filter(idempotency_key=key)
    entry = entry.first()
    if entry is None:
        return None
    card = entry.card
    if card.member_id != member.pk or card.template.code != (template_code or "").strip():
        raise ReferenceConflict(
            _("Reference %(ref)s was already used for a different count card sale.")
            % {"ref": card.reference},
            external_ref=card.reference,
        )
    return card, False


def count_card_sell(
    *,
    member: Member,
    template_code: str,
    external_ref: str,
    tender: str = Tender.CASH,
    store: Store | None = None,
    actor: User | None = None,
    confirmation_code: str = "",
    now: dt.datetime | None = None,
) -> tuple[CountCard, bool]:
    """Sell the member a count card of the template `template_code`. Returns (card, created).

    `tender`: a Tender (the money taken at the till) or "stored_value" (the price paid
    from the member's stored value, split into principal and bonus as a purchase's is;
    NotEnoughStoredValue when short; above the settings' confirmation limit the member's
    SMS code, `confirmation_code`, as for a purchase). Idempotent on `external_ref`: the
    same reference again returns the first card with created=False; reused for another
    member or template, ReferenceConflict. CountCardTemplateNotAvailable when the template
    is not on sale at `store`.
    """
    external_ref = _key(external_ref, _reference_message())
    if tender not in {value for value, _label in COUNT_CARD_TENDERS}:
        raise LoyaltyError(_("Unknown tender %(tender)s.") % {"tender": tender})
    key = f"count_card:{external_ref}"
    if twin := _sale_twin(key, member, template_code):  # a retry: no lock taken
        return twin
    now = now or timezone.now()
    template = count_card_template_for(template_code, store=store)
    if tender == STORED_VALUE and template.price > (
        LoyaltySettings.current().stored_value_confirm_limit
    ):
        stored_value_confirm(member=member, code=confirmation_code, now=now)
    try:
        return _sell(member, template, key, external_ref, tender, store, actor, now)
    except IntegrityError:
        if twin := _sale_twin(key, member, template_code):  # a replay raced this one and won
            return twin
        raise


@transaction.atomic
def _sell(member, template, key, external_ref, tender, store, actor, now):
    loyalty_card = card_lock(member.pk)
    if twin := _sale_twin(key, member, template.code):  # committed while this one waited
        return twin
    member_active_check(member.pk)
    paid = None
    if tender == STORED_VALUE and template.price:
        stored_value_check(loyalty_card, template.price)
        principal, bonus = split(
            template.price, loyalty_card.stored_principal, loyalty_card.stored_bonus,
            LoyaltySettings.current().stored_value_order,
        )  # fmt: skip
        paid = stored_value_entry_append(
            loyalty_card, kind=StoredValueEntry.Kind.SPEND, principal=-principal, bonus=-bonus,
            key=f"{key}:stored_value", now=now, reference=external_ref, purchase=None,
            store=store, actor=actor,
            reason=_("Count card: %(name)s") % {"name": template.name},
        )  # fmt: skip
        stored_value_figures_save(loyalty_card)
    card = CountCard.objects.create(
        member=member, template=template, name=template.name, uses_total=template.uses,
        uses_left=template.uses, price_paid=template.price, tender=tender, sold_at=now,
        expires_at=count_card_expiry(now, template.valid_months), store=store, actor=actor,
        reference=external_ref,
    )  # fmt: skip
    entry = CountCardEntry.objects.create(
        card=card, member_id=member.pk, kind=Kind.SALE, delta=template.uses,
        left_after=template.uses, idempotency_key=key, created_at=now, amount=template.price,
        store=store, actor=actor,
    )  # fmt: skip
    _notify(card, entry, paid)
    return card, True


# --- using -----------------------------------------------------------------------------


def _use_twin(key: str, member: Member, card_id) -> tuple[CountCardEntry, bool] | None:
    entry = CountCardEntry.objects.select_related("card").filter(idempotency_key=key).first()
    if entry is None:
        return None
    if entry.member_id != member.pk or str(entry.card_id) != str(card_id).strip():
        raise ReferenceConflict(
            _("Key %(key)s was already used for a different count card use.")
            % {"key": key.removeprefix("count_card_use:")},
            key=key.removeprefix("count_card_use:"),
        )
    return entry, False


def count_card_use(
    *,
    member: Member,
    card_id,
    key: str,
    service: str = "",
    store: Store | None = None,
    actor: User | None = None,
    now: dt.datetime | None = None,
) -> tuple[CountCardEntry, bool]:
    """Use one use of the member's card `card_id`. Returns (the use's entry, created).

    Idempotent on `key` (the till's reference of this use): the same key again returns
    the first entry with created=False; reused for another member or card,
    ReferenceConflict. CountCardNotFound when the card is not the member's;
    CountCardNotUsable when it is used up, refunded, expired (a card found past its date
    is marked expired, with its entry, before the refusal), not offered at `store`, or
    its template's services do not include `service` (when both are given).
    The last use marks it used_up.
    """
    key = f"count_card_use:{_key(key, _key_message())}"
    service = (service or "").strip()[:SERVICE_MAX_LENGTH]
    if twin := _use_twin(key, member, card_id):  # a retry: no lock taken
        return twin
    # What needs no lock is checked before it: on SQLite the transaction holds the one
    # write lock from BEGIN. The card and its template's stores and services first.
    found = count_card_find(member=member, card_id=card_id)
    _use_where_check(found, service=service, store=store)
    now = now or timezone.now()
    try:
        with transaction.atomic():
            card_lock(member.pk)
            if twin := _use_twin(key, member, card_id):  # committed while this one waited
                return twin
            card = CountCard.objects.get(pk=found.pk)
            if count_card_is_due(card, now):
                _expire_now(card, now)
                refusal = CountCardNotUsable(
                    _expired_message(card), card_id=card.pk, status=card.status
                )
            else:
                _use_state_check(card)
                entry = _entry_append(card, kind=Kind.USE, delta=-1, key=key, now=now,
                                      service=service, store=store, actor=actor)  # fmt: skip
                if not card.uses_left:
                    card.status = Status.USED_UP
                _card_save(card)
                _notify(card, entry)
                return entry, True
    except IntegrityError:
        if twin := _use_twin(key, member, card_id):  # a replay raced this one and won
            return twin
        raise
    raise refusal  # after the expiry committed


def _refuse(card: CountCard, message: str):
    raise CountCardNotUsable(message, card_id=card.pk, status=card.status)


def _use_where_check(card: CountCard, *, service: str, store: Store | None) -> None:
    """CountCardNotUsable unless the card's template is offered at `store` and covers
    `service`."""
    name = card.name
    if not card.template.offered_at(store):
        _refuse(card, _("Count card %(name)s cannot be used in this store.") % {"name": name})
    if not card.template.covers(service):
        services = "、".join(card.template.service_names())
        _refuse(
            card,
            _("Count card %(name)s does not cover %(service)s; it is for %(services)s.")
            % {"name": name, "service": service, "services": services},
        )


def _use_state_check(card: CountCard) -> None:
    """Under the lock: CountCardNotUsable unless the card is active with a use left."""
    name = card.name
    if card.status == Status.REFUNDED:
        _refuse(card, _("Count card %(name)s was refunded.") % {"name": name})
    if card.status == Status.EXPIRED:
        _refuse(card, _expired_message(card))
    if card.status == Status.USED_UP or card.uses_left <= 0:
        _refuse(card, _("Count card %(name)s has no uses left.") % {"name": name})


# --- refunding -------------------------------------------------------------------------


def count_card_refund_amount(card: CountCard) -> Decimal:
    """What refunding the card now pays back: the price paid per use times the uses left,
    rounded down to the fen, never more than was paid."""
    if not card.uses_total or card.uses_left <= 0:
        return ZERO
    return min(yuan_down(card.price_paid * card.uses_left / card.uses_total), card.price_paid)


def _refund_twin(key: str, card: CountCard) -> CountCardEntry | None:
    entry = CountCardEntry.objects.filter(idempotency_key=key).first()
    if entry is None:
        return None
    if entry.card_id != card.pk:
        raise ReferenceConflict(
            _("Key %(key)s was already used for a different count card refund.")
            % {"key": key.removeprefix("count_card_refund:")},
            key=key.removeprefix("count_card_refund:"),
        )
    return entry


def count_card_refund(
    *,
    card: CountCard,
    actor: User | None,
    reason: str,
    key: str,
    store: Store | None = None,
    now: dt.datetime | None = None,
) -> CountCardEntry:
    """Refund the card's unused uses pro rata (count_card_refund_amount) and close it
    (status refunded). Returns the refund's entry: its `amount` is the money paid back.

    Paid from stored value: the amount goes back to the member's stored value, split
    between principal and bonus as the sale took them (a bonus never comes back as
    principal, which a cash-out would pay out); otherwise it is paid back at the till.
    Staff only (the door checks the refund_count_card permission); a reason is required
    and the refund is audited. Idempotent on `key`: the same key returns the first refund;
    reused for another card, ReferenceConflict. CountCardNotRefundable when the settings
    forbid refunds or nothing is left (used up, expired, refunded; a card found past its
    date is marked expired first).
    """
    reason = (reason or "").strip()
    if not reason:
        raise LoyaltyError(_("A reason is required to refund a count card."))
    key = f"count_card_refund:{_key(key, _key_message())}"
    if twin := _refund_twin(key, card):
        return twin
    if not LoyaltySettings.current().count_card_refund_pro_rata:
        raise CountCardNotRefundable(_("Count cards are not refunded (see the loyalty settings)."))
    now = now or timezone.now()
    try:
        with transaction.atomic():
            loyalty_card = card_lock(card.member_id)
            if twin := _refund_twin(key, card):
                return twin
            card = CountCard.objects.select_related("template", "member").get(pk=card.pk)
            if count_card_is_due(card, now):
                _expire_now(card, now)
                refusal = CountCardNotRefundable(_expired_message(card), card_id=card.pk)
            else:
                return _refund(card, loyalty_card, key, reason, actor, store, now)
    except IntegrityError:
        if twin := _refund_twin(key, card):
            return twin
        raise
    raise refusal  # after the expiry committed


def _refund(card, loyalty_card, key, reason, actor, store, now) -> CountCardEntry:
    if card.status != Status.ACTIVE or card.uses_left <= 0:
        raise CountCardNotRefundable(
            _("Count card %(name)s has no unused uses to refund (%(status)s).")
            % {"name": card.name, "status": card.get_status_display()},
            card_id=card.pk,
            status=card.status,
        )
    left, amount = card.uses_left, count_card_refund_amount(card)
    returned = None
    if card.paid_by_stored_value and amount:
        spent = StoredValueEntry.objects.filter(
            idempotency_key=f"count_card:{card.reference}:stored_value"
        ).first()
        if spent is not None:
            principal, bonus = share_back(
                amount, card.price_paid, -spent.principal_delta, -spent.bonus_delta
            )
        else:  # no sale entry to follow (a card made by hand): all as principal
            principal, bonus = amount, ZERO
        returned = stored_value_entry_append(
            loyalty_card, kind=StoredValueEntry.Kind.REFUND, principal=principal, bonus=bonus,
            key=f"{key}:stored_value", now=now, reference=card.reference, store=store,
            actor=actor, reason=_("Count card refunded: %(name)s") % {"name": card.name},
        )  # fmt: skip
        stored_value_figures_save(loyalty_card)
    entry = _entry_append(card, kind=Kind.REFUND, delta=-left, key=key, now=now, amount=amount,
                          store=store, actor=actor, note=reason[:255])  # fmt: skip
    card.status = Status.REFUNDED
    _card_save(card)
    audit_record(
        actor=actor,
        action="count_card.refund",
        obj=card.member,
        changes={
            "count_card": [None, f"{card.name} #{card.pk}"],
            "uses_left": [left, 0],
            "paid_back": [None, str(amount)],
            "paid_to": [None, "stored_value" if returned else "till"],
            "reason": [None, reason],
        },
        store=card.member.store,
    )
    _notify(card, entry, returned)
    return entry


# --- expiring (the nightly job) ------------------------------------------------------


def _lock_members(ids: list[int]) -> None:
    """The members' loyalty Cards, locked in pk order for the transaction (on SQLite the
    IMMEDIATE transaction already holds the database)."""
    cards = Card.objects.filter(pk__in=ids).order_by("pk").values_list("pk", flat=True)
    if connection.features.has_select_for_update:
        cards = cards.select_for_update(of=("self",))
    list(cards)


def count_cards_expire(now: dt.datetime | None = None) -> int:
    """Every active card past its date (expires_at <= now) loses its uses left: status
    expired and an "expire" entry each, in transactions of BATCH members whose Cards are
    locked; signals.count_cards_expired per batch. Returns how many cards expired;
    running it again changes nothing."""
    now = now or timezone.now()
    due = CountCard.objects.filter(status=Status.ACTIVE, expires_at__lte=now)
    member_ids = sorted(set(due.values_list("member_id", flat=True)))
    expired = 0
    note = _("Expired with uses left")
    for lo in range(0, len(member_ids), BATCH):
        ids = member_ids[lo : lo + BATCH]
        with transaction.atomic():
            _lock_members(ids)
            # Read again under the lock: a use may have expired one meanwhile.
            cards = list(due.filter(member_id__in=ids).order_by("pk"))
            if not cards:
                continue
            rows = [
                CountCardEntry(
                    card_id=card.pk,
                    member_id=card.member_id,
                    kind=Kind.EXPIRE,
                    delta=-card.uses_left,
                    left_after=0,
                    note=note,
                    created_at=now,
                    idempotency_key=_expire_key(card),
                )
                for card in cards
            ]
            CountCardEntry.objects.bulk_create(rows)
            CountCard.objects.filter(pk__in=[card.pk for card in cards]).update(
                uses_left=0, status=Status.EXPIRED
            )
            signals.count_cards_expired.send(
                sender=CountCard,
                items=[(card.member_id, card.pk, card.name, card.uses_left) for card in cards],
            )
            expired += len(cards)
    return expired
