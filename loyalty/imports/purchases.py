"""The second file: historic purchases from the old system, as history.

Each row becomes a Purchase (channel "import", reference ``import:<order number>``,
no points: the opening balance already holds what they earned). They fill the
member's purchase history, first and last purchase dates (lifecycle, RFM, the
qualification window), and the card's counters, except for members whose member
file gave a total spent / purchase count: those totals already include them
(OpeningBalance: the imported totals, else the imported purchases, count once).
Importing the file again finds every order and changes nothing. An order number on
more than one row of a file is refused on all of them (the runner's pre-pass, over
the whole file, as a phone twice in a member file).
"""

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from django.db import connection
from django.utils.translation import gettext as _

from members.models import Member

from ..models import Card, OpeningBalance, Purchase, Tier, TierChange
from . import sql
from .validation import PurchaseRow
from .writer import (
    CARD_FIELDS,
    OPENING_FIELDS,
    TIER_CHANGE_FIELDS,
    ZERO,
    ChunkResult,
    card_row,
    contribution,
    tier_change_row,
)

PURCHASE_FIELDS = [
    "member", "store", "external_ref", "channel", "category", "gross_amount", "tier_discount",
    "coupon_discount", "points_used", "points_value", "cash_paid", "points_earned",
    "earn_rule", "refunded_amount", "status", "points_balance_after", "tier_after",
    "occurred_at", "created_at",
]  # fmt: skip


def reference(order_no: str) -> str:
    return f"import:{order_no}"


class PurchaseWriter:
    def __init__(self, *, job, now: dt.datetime, actor=None):
        self.job = job
        self.now = now
        lowest = Tier.objects.order_by("level").first()
        self.lowest_id = lowest.pk if lowest else None

    def write(self, rows: list[PurchaseRow], *, dry_run: bool, retry=False) -> ChunkResult:
        """Plan and write a chunk of purchases (every phone is always looked up)."""
        result = ChunkResult()
        members = dict(
            sql.select_in(Member, ["phone_hash", "id"], "phone_hash", {r.phone_hash for r in rows})
        )
        refs = {reference(r.order_no) for r in rows}
        known = {
            ref: (member_id, Decimal(str(paid)))
            for ref, member_id, paid in sql.select_in(
                Purchase, ["external_ref", "member", "cash_paid"], "external_ref", refs
            )
        }
        new, seen = [], set()
        for row in rows:
            member_id = members.get(row.phone_hash)
            ref = reference(row.order_no)
            if member_id is None:
                message = _("No member has this mobile number: import the members first.")
                result.problems.append((row, [["phone", message]]))
            elif ref in known:
                if known[ref] == (member_id, row.amount):
                    result.unchanged += 1
                else:
                    message = _("This order number was imported already, for another purchase.")
                    result.problems.append((row, [["order_no", message]]))
            elif ref in seen:  # not from the runner: its pre-pass refused both rows already
                message = _("This order number is on more than one row of the file.")
                result.problems.append((row, [["order_no", message]]))
            else:
                seen.add(ref)
                new.append((member_id, row))
                result.created += 1
        if new and not dry_run:
            self._apply(new)
        return result

    def _apply(self, new: list[tuple[int, PurchaseRow]]) -> None:
        by_member = defaultdict(list)
        for member_id, row in new:
            by_member[member_id].append(row)
        ids = sorted(by_member)
        cards_qs = Card.objects.filter(pk__in=ids).order_by("pk")
        if connection.features.has_select_for_update:
            cards_qs = cards_qs.select_for_update(of=("self",))
        cards = {
            c["member_id"]: c
            for c in cards_qs.values(
                "member_id",
                "total_spent",
                "purchase_count",
                "first_purchase_at",
                "last_purchase_at",
            )
        }
        openings = {
            o["member_id"]: o
            for o in OpeningBalance.objects.filter(member_id__in=ids).values(
                "member_id",
                "points",
                "total_spent",
                "purchase_count",
                "purchases_spent",
                "purchases_count",
            )  # fmt: skip
        }
        stores = dict(sql.select_in(Member, ["id", "store"], "id", ids))
        sql.insert(
            Purchase,
            PURCHASE_FIELDS,
            [
                (member_id, row.store_id or stores.get(member_id), reference(row.order_no),
                 Purchase.Channel.IMPORT, row.category or "", row.amount, ZERO, ZERO, 0, ZERO,
                 row.amount, 0, "", ZERO, Purchase.Status.COMPLETED, 0, "", row.occurred_at,
                 self.now)
                for member_id, row in new
            ],
        )  # fmt: skip
        new_cards, card_updates, tier_changes, openings_new, openings_changed = [], [], [], [], []
        for member_id, rows in by_member.items():
            opening = openings.get(member_id)
            before = contribution(opening)
            after_opening = dict(opening) if opening else {
                "points": None, "total_spent": None, "purchase_count": None,
                "purchases_spent": None, "purchases_count": None,
            }  # fmt: skip
            after_opening["purchases_spent"] = (after_opening["purchases_spent"] or ZERO) + sum(
                (r.amount for r in rows), ZERO
            )
            after_opening["purchases_count"] = (after_opening["purchases_count"] or 0) + len(rows)
            after = contribution(after_opening)
            first = min(r.occurred_at for r in rows)
            last = max(r.occurred_at for r in rows)
            card = cards.get(member_id)
            if card is None:
                new_cards.append(
                    card_row(member_id, tier_id=self.lowest_id, since=self.now, spent=after[0],
                             count=after[1], first=first, last=last)
                )  # fmt: skip
                if self.lowest_id:
                    tier_changes.append((member_id, None, self.lowest_id))
            else:
                card_updates.append(
                    (card["total_spent"] + after[0] - before[0],
                     card["purchase_count"] + after[1] - before[1],
                     min(first, card["first_purchase_at"] or first),
                     max(last, card["last_purchase_at"] or last),
                     member_id)
                )  # fmt: skip
            values = (
                self.job.pk, after_opening["points"], after_opening["total_spent"],
                after_opening["purchase_count"], after_opening["purchases_spent"],
                after_opening["purchases_count"], self.now,
            )  # fmt: skip
            if opening is None:
                openings_new.append((member_id, *values))
            else:
                openings_changed.append((*values, member_id))
        sql.insert(Card, CARD_FIELDS, new_cards)
        sql.update(
            Card,
            ["total_spent", "purchase_count", "first_purchase_at", "last_purchase_at"],
            card_updates,
        )
        sql.insert(
            TierChange,
            TIER_CHANGE_FIELDS,
            [tier_change_row(m, old, new, now=self.now) for m, old, new in tier_changes],
        )
        sql.insert(OpeningBalance, OPENING_FIELDS, openings_new)
        sql.update(OpeningBalance, OPENING_FIELDS[1:], openings_changed)
