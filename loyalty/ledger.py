"""The points ledger and the card it balances: the kernel every other part of loyalty
writes points through.

Each public service is one transaction that first locks the member's Card
(`card_lock`: `select_for_update`; on SQLite the IMMEDIATE transaction holds the write
lock), so two requests for one member run one after the other and never spend the same
points twice. Ledger rows are appended with a unique idempotency key; the cached
figures on the Card are updated with `update_fields` in the same transaction. The
building blocks (`lot_add`, `points_take`, `points_clawback`, `entry_append`,
`points_award_on_card`) work on a card the caller has locked, inside the caller's
transaction: the purchase, the benefits and the imports compose them.
Events (signals.py) are sent inside the transaction, with the objects they are
about: campaigns writes their notices to the outbox there, so a notice commits or
rolls back with its cause. Nothing is sent from inside: the send_messages job delivers
the outbox after commit.
"""

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from config.platform.fixed_sql import FixedInsert, FixedRead, FixedUpdate
from members.audit import audit_record
from members.models import Member, User

from . import signals
from .dates import add_months, local_midnight
from .errors import NotEnoughPoints
from .models import Card, LoyaltySettings, PointsEntry, Purchase, TierChange
from .rules import lowest_tier

CARD_FIGURES = [
    "tier", "tier_since", "tier_review_on", "points_balance", "points_debt", "growth_value",
    "total_spent", "purchase_count", "first_purchase_at", "last_purchase_at",
]  # fmt: skip
card_figures_save = FixedUpdate(Card, CARD_FIGURES)  # card.save(update_fields=...)


def expiry_for(earned_at: dt.datetime, conf: LoyaltySettings) -> dt.datetime | None:
    """When points earned at `earned_at` expire: the first instant after their last valid day.

    Days are Shanghai days: points valid "for 12 months" from 2026-01-31 can be
    used until 2027-01-31 23:59:59 local time.
    """
    day = timezone.localdate(earned_at)
    if conf.expiry_policy == LoyaltySettings.Expiry.NEVER:
        return None
    if conf.expiry_policy == LoyaltySettings.Expiry.END_OF_NEXT_YEAR:
        return local_midnight(dt.date(day.year + 2, 1, 1))
    return local_midnight(add_months(day, conf.expiry_months) + dt.timedelta(days=1))


def person_key(member: Member) -> str:
    """Who a once-only reward is for: the phone (its keyed hash), not the member row.

    Deleting the account and joining again with the same number makes a new member;
    keyed by the phone, the welcome gift, the profile and action points and the
    referral rewards are not given to the same person twice. (Erasure clears the
    member's phone hash; the keys already in the ledger keep it.)"""
    return member.phone_hash or f"member-{member.pk}"


def forfeit_reason() -> str:
    """The ledger reason of points an erased member gave up (at the erasure, or given back
    by a refund afterwards), in the house language whatever the request's."""
    with translation.override(settings.LANGUAGE_CODE):
        return _("Points forfeited: %(reason)s") % {"reason": _("The member deleted their account")}


# --- cards ------------------------------------------------------------------


# Every registration writes these: once as SQL (no save() of their own, no receivers).
_insert_card = FixedInsert(Card)
_insert_tier_change = FixedInsert(TierChange)


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


SEEN_EVERY = dt.timedelta(hours=1)


def card_seen(member_id: int, *, now: dt.datetime | None = None) -> bool:
    """Note a visit (member centre, check-in) on the card, for the lifecycle stage: at
    most one write an hour per member, and no lock (last write wins, all are "now")."""
    now = now or timezone.now()
    return bool(
        Card.objects.filter(member_id=member_id)
        .filter(Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=now - SEEN_EVERY))
        .update(last_seen_at=now)
    )


def card_lock(member_id: int) -> Card:
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


def entry_append(card: Card, *, kind: str, delta: int, key: str, now, **fields) -> PointsEntry:
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


# The ledger's write, written once (config/platform/fixed_sql.py): it runs inside the
# card's lock, where on SQLite every other till waits. PointsEntry has no save() of its
# own and no signal receivers.
_insert_entry = FixedInsert(PointsEntry)


def lot_add(card: Card, *, kind: str, points: int, key: str, now, expires_at, **fields):
    """Add a lot of `points`; owed points (a refund's shortfall) are repaid from it first."""
    entry = entry_append(
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
        points_take(
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


def lots_expire_due(card: Card, now) -> int:
    """Expire this member's lots whose date has passed; one expire row per lot."""
    due = list(
        PointsEntry.objects.filter(
            member_id=card.pk, remaining__gt=0, expires_at__lte=now
        ).order_by("expires_at", "id")
    )
    expired = 0
    for lot in due:
        entry_append(
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


def points_take(card: Card, *, points: int, kind: str, key: str, now, **fields) -> PointsEntry:
    """Take `points` from the oldest-expiring lots first; refuse to go below zero."""
    lots_expire_due(card, now)
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
    return entry_append(card, kind=kind, delta=-points, key=key, now=now, **fields)


def points_clawback(
    card: Card, *, points: int, key: str, now, reason: str, reason_owed: str, **fields
):
    """Take back `points` given earlier (a refund): what the balance cannot cover is owed.

    Due lots are expired first, so the part taken is what is really there; the rest
    becomes points_debt, repaid from the next lots (lot_add). Returns (taken, owed).
    """
    lots_expire_due(card, now)
    taken = min(points, card.points_balance)
    debt = points - taken
    card.points_debt += debt
    if taken:
        points_take(card, points=taken, kind=PointsEntry.Kind.REFUND, key=key, now=now,
                 reason=reason, debt_delta=debt, **fields)  # fmt: skip
    else:
        entry_append(card, kind=PointsEntry.Kind.REFUND, delta=0, key=key, now=now,
                debt_delta=debt, reason=reason_owed, **fields)  # fmt: skip
    return taken, debt


def entry_by_key(key: str) -> PointsEntry | None:
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
    return points_award_on_card(
        card_lock(member.pk), points=points, key=key, reason=reason, kind=kind,
        source=source, actor=actor, now=now or timezone.now(), expires_at=expires_at,
        purchase=purchase,
    )  # fmt: skip


def points_award_on_card(
    card: Card, *, points, key, reason, kind=PointsEntry.Kind.EARN, source="", actor=None, now,
    expires_at=None, purchase=None,
) -> tuple[PointsEntry, bool]:  # fmt: skip
    """points_award's work, in a transaction that holds the member's card: also called
    by the registration on the card it just made (no savepoint needed there)."""
    existing = entry_by_key(key)
    if existing:
        return existing, False
    if expires_at is None:
        expires_at = expiry_for(now, LoyaltySettings.current())
    entry = lot_add(
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
    points_notify(card.pk, entry)
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
    card = card_lock(member.pk)
    existing = entry_by_key(key)
    if existing:
        return existing, False
    entry = points_take(
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
    points_notify(member.pk, entry)
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
    card = card_lock(member.pk)
    key = key or f"adjust:{member.pk}:{now.isoformat()}:{delta}"
    existing = entry_by_key(key)
    if existing:
        return existing
    before = card.points_balance
    if delta > 0:
        entry = lot_add(
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
        entry = points_take(
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
    points_notify(member.pk, entry)
    return entry


@transaction.atomic
def points_expire_member(*, member: Member, now: dt.datetime | None = None) -> int:
    """Expire one member's due lots now (the nightly job does the same in batches)."""
    now = now or timezone.now()
    card = card_lock(member.pk)
    expired = lots_expire_due(card, now)
    if expired:
        card.save(update_fields=["points_balance"])
    return expired


def points_notify(member_id: int, entry: PointsEntry) -> None:
    signals.points_changed.send(
        sender=PointsEntry, member_id=member_id, entry_id=entry.pk, entry=entry
    )


# --- proof ---------------------------------------------------------------------


def ledger_problems(member_ids=None) -> list[tuple[int, str]]:
    """Members whose card disagrees with its ledgers (points, stored value, count cards):
    [(member_id, what is wrong)], by member.

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
        # Stored value (储值): principal and bonus each equal to their ledger, never below 0
        # (rounded to the fen: SQLite sums its decimals as binary floats).
        cursor.execute(
            f"""
            SELECT c.member_id, c.stored_principal, c.stored_bonus,
                   COALESCE(s.principal, 0), COALESCE(s.bonus, 0)
            FROM loyalty_card c
            LEFT JOIN (
                SELECT member_id, SUM(principal_delta) AS principal, SUM(bonus_delta) AS bonus
                FROM loyalty_storedvalueentry GROUP BY member_id
            ) s ON s.member_id = c.member_id
            WHERE (ROUND(c.stored_principal, 2) <> ROUND(COALESCE(s.principal, 0), 2)
                   OR ROUND(c.stored_bonus, 2) <> ROUND(COALESCE(s.bonus, 0), 2)
                   OR c.stored_principal < 0 OR c.stored_bonus < 0) {only}
            ORDER BY c.member_id
            """,  # noqa: S608 - only placeholders are interpolated
            params,
        )
        problems += [
            (mid, f"stored principal={p} sum={sp} bonus={b} sum={sb}")
            for mid, p, b, sp, sb in cursor.fetchall()
        ]
        cursor.execute(
            "SELECT DISTINCT s.member_id FROM loyalty_storedvalueentry s "
            "LEFT JOIN loyalty_card c ON c.member_id = s.member_id WHERE c.member_id IS NULL"
        )
        problems += [(row[0], "stored value rows but no card") for row in cursor.fetchall()]
        # Count cards (次卡): each card's uses left equal to its ledger, within 0..uses_total,
        # and each entry on its card's member.
        only_cc = f"AND cc.member_id IN ({', '.join(['%s'] * len(params))})" if only else ""
        cursor.execute(
            f"""
            SELECT cc.member_id, cc.id, cc.uses_left, cc.uses_total, COALESCE(u.total, 0)
            FROM loyalty_countcard cc
            LEFT JOIN (
                SELECT card_id, SUM(delta) AS total FROM loyalty_countcardentry GROUP BY card_id
            ) u ON u.card_id = cc.id
            WHERE (cc.uses_left <> COALESCE(u.total, 0) OR cc.uses_left < 0
                   OR cc.uses_left > cc.uses_total) {only_cc}
            ORDER BY cc.member_id, cc.id
            """,  # noqa: S608 - only placeholders are interpolated
            params,
        )
        problems += [
            (mid, f"count card {cid}: uses_left={left} sum(delta)={total} uses_total={bought}")
            for mid, cid, left, bought, total in cursor.fetchall()
        ]
        cursor.execute(
            "SELECT DISTINCT e.member_id, e.card_id FROM loyalty_countcardentry e "
            "JOIN loyalty_countcard cc ON cc.id = e.card_id WHERE e.member_id <> cc.member_id"
        )
        problems += [
            (mid, f"count card {cid}: ledger rows of another member")
            for mid, cid in cursor.fetchall()
        ]
    return sorted(problems)
