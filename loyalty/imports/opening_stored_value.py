"""The member import's opening stored value (储值): one ledger entry per member.

A member file says a member's stored value in up to three columns (columns.py): the
whole balance (储值余额, 余额, 储值, 卡内余额, balance ...), what of it was paid in
(储值本金, the export's "Stored value paid in") and what of it was the merchant's bonus
(赠送余额, 赠送金, the export's "Stored value bonus"). The validator
(Validator.check_stored) makes the third of any two, since balance = paid in + bonus,
and refuses a row whose three do not add up. Then, per member:

- the opening is (paid in, bonus): a balance alone is all paid in (principal); paid in
  alone or a bonus alone is that, and nothing of the other;
- it is one StoredValueEntry of kind "import", key ``import:opening:<member id>:
  stored_value``, with both deltas and both figures after, and the card's
  stored_principal / stored_bonus moved by as much in the chunk's transaction (a new
  card carries them from its INSERT), so check_ledger holds; a zero opening writes
  nothing;
- it is imported once: a file that says it again (each figure it gives equal to the
  entry's; a balance alone is compared with the entry's whole) changes nothing; one
  that says another refuses the row; a member without one yet (a member of the new
  system, or one whose earlier file had no stored value) gets it on top of what the
  card holds;
- an opening that would take the member above the settings' cap (stored_value_cap,
  with what the card holds already) refuses the row, as a top-up would be refused;
- rows of our own export coming back (their 会员号 is the member's) bring no opening:
  the writer drops their figures, as it does the points and totals.

Set-based like the rest of the writer: it has locked the chunk's existing cards (in
member order, the kernel's lock) before planning, so the figures read there are the
ones the entries continue. No signal is sent (no notice to a million members), as for
the opening points. A dry run plans (and so refuses) the same and writes nothing.
"""

import datetime as dt
from decimal import Decimal

from django.utils.translation import gettext as _

from ..models import Card, StoredValueEntry
from ..money import ZERO
from . import sql

KEYS = ("stored_value", "stored_principal", "stored_bonus")  # the columns, in that order
ENTRY_FIELDS = [
    "member", "kind", "principal_delta", "bonus_delta", "principal_after", "bonus_after",
    "idempotency_key", "reason", "actor", "created_at",
]  # fmt: skip
FIGURES = ["stored_principal", "stored_bonus"]


def opening_key(member_id: int) -> str:
    return f"import:opening:{member_id}:stored_value"


def opening_of(row) -> tuple[Decimal, Decimal] | None:
    """(principal, bonus) the row opens with; None when it says nothing of stored value."""
    balance, principal, bonus = row.stored_value, row.stored_principal, row.stored_bonus
    if balance is None and principal is None and bonus is None:
        return None
    if principal is None:  # one figure alone (two make all three: the validator)
        principal = balance if balance is not None else ZERO
    return principal, ZERO if bonus is None else bonus


def says_the_same(row, principal: Decimal, bonus: Decimal) -> bool:
    """Whether each figure the row gives is the imported opening's."""
    return all(
        given is None or given == had
        for given, had in (
            (row.stored_value, principal + bonus),
            (row.stored_principal, principal),
            (row.stored_bonus, bonus),
        )
    )


def shown(principal: Decimal, bonus: Decimal) -> str:
    return _("%(total)s yuan (%(principal)s paid in, %(bonus)s bonus)") % {
        "total": principal + bonus,
        "principal": principal,
        "bonus": bonus,
    }


class OpeningStoredValue:
    """MemberWriter's stored value: what each row of a chunk opens with, and its writes."""

    def __init__(self, *, columns: set[str], now: dt.datetime, actor_id, cap: Decimal):
        mapped = [key for key in KEYS if key in columns]
        self.active = bool(mapped)
        self.key = mapped[0] if mapped else KEYS[0]  # the column a refusal names
        self.now, self.actor_id, self.cap = now, actor_id, cap
        self.reason = _("Opening stored value from the previous system")

    def imported(self, ids: list[int]) -> dict[int, tuple[Decimal, Decimal]]:
        """{member id: (principal, bonus)} of the openings these members have already."""
        if not self.active or not ids:
            return {}
        entries = StoredValueEntry.objects.filter(
            idempotency_key__in=[opening_key(pk) for pk in ids]
        ).values_list("member_id", "principal_delta", "bonus_delta")
        return {member_id: (principal, bonus) for member_id, principal, bonus in entries}

    def problem(self, row, card: dict | None, had: tuple | None) -> list | None:
        """[column, message] when the row's opening cannot be: another than the one
        imported, or (a new one) above the settings' cap with what the card holds."""
        opening = opening_of(row) if self.active else None
        if opening is None:
            return None
        if had is not None:
            if says_the_same(row, *had):
                return None
            return [
                self.key,
                _(
                    "%(old)s of opening stored value was already imported for this member; "
                    "the file says %(new)s. Leave the stored value empty on this row: an "
                    "opening balance is imported once."
                )
                % {"old": shown(*had), "new": shown(*opening)},
            ]
        held = card["stored_principal"] + card["stored_bonus"] if card else ZERO
        whole = sum(opening)
        if not whole or held + whole <= self.cap:
            return None
        if not held:
            message = _(
                "%(amount)s yuan of stored value is more than a member may hold (%(cap)s "
                "yuan, in the loyalty settings)."
            ) % {"amount": whole, "cap": self.cap}
        else:  # the kernel's words for a top-up over the cap
            message = _(
                "A member may hold at most %(cap)s yuan of stored value: %(balance)s now, "
                "at most %(room)s more."
            ) % {"cap": self.cap, "balance": held, "room": max(self.cap - held, ZERO)}
        return [self.key, message]

    def due(self, row, had: tuple | None) -> tuple[Decimal, Decimal] | None:
        """The opening to write for the row: None when it has none, it is zero, or the
        member's is in already (then problem() has said whether the row agrees)."""
        if not self.active or had is not None:
            return None
        opening = opening_of(row)
        if opening is None or not any(opening):
            return None
        return opening

    def entry_row(self, member_id: int, opening: tuple, after: tuple) -> tuple:
        """The opening's ledger row, in ENTRY_FIELDS' order."""
        return (
            member_id, StoredValueEntry.Kind.IMPORT, *opening, *after, opening_key(member_id),
            self.reason, self.actor_id, self.now,
        )  # fmt: skip

    def write(self, entries: list[tuple], figures: list[tuple]) -> None:
        """The chunk's entries (entry_row), and the figures after of the cards that were
        there already: (principal, bonus, member id)."""
        sql.insert(StoredValueEntry, ENTRY_FIELDS, entries)
        sql.update(Card, FIGURES, figures)
