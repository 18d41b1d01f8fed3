"""The member import's writer: one chunk of checked rows, set-based, in one transaction.

Per chunk: one query finds the members the file already knows (by phone hash),
their cards are locked in member order (the purchase service's lock, so a sale at
the counter and the import never interleave on one card), and then each table is
written with a statement or two: new members, their cards, the opening points as
ledger lots, tier history, opening balances, tags, changed fields of existing
members and their audit rows. The caller runs write() inside transaction.atomic()
and retries the chunk when a concurrent registration wins a phone or a member
number (IntegrityError): nothing of a chunk is ever half written.

Rules:
- New members: source "import", the file's values, the default store when the row
  has none, the lowest tier when it names none.
- Existing members: a field changes only where the file has a value that differs.
- Opening points: one import lot per member, key ``import:opening:<member id>``,
  expiring per the settings. The same number again changes nothing; a different
  number is refused for that row (adjust the card instead).
- Spend and purchases: the card carries the imported figures on top of what was
  bought since; a corrected figure changes the card by the difference.
- Tier: a different tier is a TierChange (reason "import"); the same one is nothing.
- Tags: the row's tags are added (created when new), none are removed.
- Stored value (储值): one import entry per member, opening_stored_value.py.
- Marketing consent: set with the import's time; never given back to a member who
  withdrew it (consent.py).
- Growth value, a count card, the WeChat openid and unionid: extras.py; the
  referrer, after the whole file: referrers.py.
"""

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.dates import add_months
from loyalty.ledger import expiry_for, points_award
from members.audit import diff
from members.models import AuditEntry, Member, Store, Tag
from members.phones import phone_last4

from ..models import Card, LoyaltySettings, OpeningBalance, PointsEntry, Tier, TierChange
from . import consent, sql
from .extras import Extras
from .opening_stored_value import OpeningStoredValue
from .taken import Taken
from .validation import MemberRow

ZERO = Decimal("0.00")
PROFILE = ("name", "gender", "birthday", "email", "addresses", "note", "store_id", "created_at",
           "marketing_consent")  # fmt: skip
MEMBER_FIELDS = [
    "member_no", "phone", "phone_hash", "phone_last4", "name", "gender", "birthday", "email",
    "addresses", "note", "source", "status", "store", "created_at", "updated_at",
    "marketing_consent", "marketing_consent_at",
]  # fmt: skip
# New rows name these columns (card_row, tier_change_row, MemberWriter.lot_row); the
# rest are the model's defaults (a card's points owed and growth value, a lot's debt).
CARD_FIELDS = [
    "member", "tier", "tier_since", "tier_review_on", "points_balance", "total_spent",
    "purchase_count", "first_purchase_at", "last_purchase_at", "stored_principal",
    "stored_bonus",
]  # fmt: skip
TIER_CHANGE_FIELDS = ["member", "from_tier", "to_tier", "reason", "note", "actor", "created_at"]
CARD_UPDATE = [
    "tier", "tier_since", "tier_review_on", "points_balance", "total_spent", "purchase_count",
    "last_purchase_at",
]  # fmt: skip
LOT_FIELDS = [
    "member", "kind", "delta", "balance_after", "remaining", "expires_at", "idempotency_key",
    "reason", "source", "actor", "created_at",
]  # fmt: skip
OPENING_FIELDS = [
    "member", "job", "points", "total_spent", "purchase_count", "purchases_spent",
    "purchases_count", "updated_at",
]  # fmt: skip


def card_row(
    member, *, tier_id, since, review_on=None, points=0, spent=ZERO, count=0, first=None,
    last=None, stored=(ZERO, ZERO),
) -> tuple:  # fmt: skip
    """A new card, in CARD_FIELDS' order: the one shape of the cards both writers make
    (`stored`: its stored value, principal and bonus, which an import entry opens)."""
    return (member, tier_id, since, review_on, points, spent, count, first, last, *stored)


def tier_change_row(member, old, new, *, now, note="", actor_id=None) -> tuple:
    """A tier change of an import, in TIER_CHANGE_FIELDS' order."""
    return (member, old, new, TierChange.Reason.IMPORT, note, actor_id, now)


def _same_second(a: dt.datetime, b: dt.datetime) -> bool:
    return abs((a - b).total_seconds()) < 1


def opening_key(member_id: int) -> str:
    return f"import:opening:{member_id}"


def contribution(opening: dict | None) -> tuple[Decimal, int]:
    """What the imported figures add to the card's total spent and purchase count."""
    if not opening:
        return ZERO, 0
    spent = opening["total_spent"]
    if spent is None:
        spent = opening["purchases_spent"] or ZERO
    count = opening["purchase_count"]
    if count is None:
        count = opening["purchases_count"] or 0
    return spent, count


@dataclass
class ChunkResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[tuple[MemberRow, list]] = field(default_factory=list)


@dataclass
class _Plan:
    """What one chunk will write (computed first; a dry run stops there)."""

    new: list = field(default_factory=list)  # MemberRow
    updates: dict = field(default_factory=dict)  # frozenset(fields) -> [(values..., pk)]
    audits: list = field(default_factory=list)
    new_cards: list = field(default_factory=list)  # (member_id or row, tier_id, ...)
    card_updates: list = field(default_factory=list)
    lots: list = field(default_factory=list)
    tier_changes: list = field(default_factory=list)
    openings_new: list = field(default_factory=list)
    openings_changed: list = field(default_factory=list)
    tag_links: list = field(default_factory=list)  # (member_id or row, tag name)
    awards: list = field(default_factory=list)  # (member_id, points): cards with points owed
    stored: list = field(default_factory=list)  # (member_id or row, opening, figures after)
    stored_figures: list = field(default_factory=list)  # (principal, bonus, member_id)


class MemberWriter:
    def __init__(self, *, job, columns: set[str], now: dt.datetime, actor=None):
        self.job = job
        self.columns = columns
        self.now = now
        conf = LoyaltySettings.current()
        self.expires_at = expiry_for(now, conf)
        tiers = list(Tier.objects.order_by("level"))
        self.lowest_id = tiers[0].pk if tiers else None
        self.tier_names = {t.pk: t.name for t in tiers}
        months = conf.tier_review_months
        self.review_on = add_months(timezone.localdate(now), months) if months else None
        self.store_names = dict(Store.objects.values_list("pk", "name"))
        self.tag_ids = dict(Tag.objects.values_list("name", "pk"))
        self.actor = actor
        self.actor_id = actor.pk if actor is not None else None
        self.default_store_id = job.store_id
        self.source = f"import:{job.pk}"
        self.reason = _("Opening balance from the previous system")
        self.stored = OpeningStoredValue(
            columns=columns, now=now, actor_id=self.actor_id, cap=conf.stored_value_cap
        )
        self.extras = Extras(columns=columns, now=now, job=job, actor_id=self.actor_id)
        # What the dashboard must compute again beyond the rows' own dates: an existing
        # member moved to another store (their past, every day) or re-dated.
        self.moved_store = False
        self.redated_from: dt.datetime | None = None
        self.fetch = ["pk", "member_no", "phone_hash", "name", "gender", "birthday"]
        self.fetch += ["store_id", "created_at", "note"]
        self.fetch += ["marketing_consent", "marketing_consent_at"]
        # Encrypted columns are decrypted only when the file can change them.
        self.fetch += [f for f in ("email", "addresses") if f in columns]
        self.taken = Taken()
        if not job.dry_run:
            # Filled here, not in the first chunk's transaction: on SQLite reading every
            # member's number there would hold the one write lock for a second or more.
            self.taken.refresh()

    def _review_day(self, tier_id):
        return None if tier_id in (None, self.lowest_id) else self.review_on

    # --- planning ---------------------------------------------------------------------

    def write(self, rows: list[MemberRow], *, dry_run: bool, retry=False) -> ChunkResult:
        """Plan the chunk and (unless dry_run) write it, in the caller's transaction.

        The caller writes chunk after chunk, and a chunk again (`retry`) only when its
        transaction was rolled back: so a first attempt means the chunk before is in.
        A retry asks the database about every phone, not only those that the Taken
        bitmap says may be members; so does a dry run (it reads no bitmap).
        """
        result = ChunkResult()
        plan = _Plan()
        if not dry_run:
            if retry:
                self.taken.rolled_back()
                # Tags the rolled-back attempt created are gone again.
                self.tag_ids = dict(Tag.objects.values_list("name", "pk"))
            else:
                self.taken.committed()
            self.taken.refresh()  # the members others added since the last chunk
        # Which phones are members already: a plain index probe first; the full
        # (decrypted, typed) rows only of those found, few on a first import.
        if dry_run or retry:
            asked = [r.phone_hash for r in rows]
        else:
            asked = [r.phone_hash for r in rows if self.taken.may_be_member(r.phone_hash)]
        known = [h for (h,) in sql.select_in(Member, ["phone_hash"], "phone_hash", asked)]
        existing = {}
        if known:
            existing = {
                m["phone_hash"]: m
                for m in Member.objects.filter(phone_hash__in=known).values(*self.fetch)
            }
        ids = sorted(m["pk"] for m in existing.values())
        cards, openings, links = self._state(ids, rows, lock=not dry_run)
        stored = self.stored.imported(ids)
        self.extras.load(ids, rows)
        refused = set()
        if "marketing_consent" in self.columns:
            refused = consent.withdrawn(consent.candidates(existing.values()))
        for row in rows:
            member = existing.get(row.phone_hash)
            if member is None:
                problems = self.extras.problems(row, None)
                if problem := self.stored.problem(row, None, None):
                    problems.append(problem)
                if problems:
                    result.problems.append((row, problems))
                    continue
                self._plan_new(row, plan)
                self.extras.plan(row, row, None)
                result.created += 1
                continue
            if row.member_no and row.member_no == member["member_no"]:
                # Our own export coming back: its points and totals are the card's
                # figures now, not an opening balance to add.
                row.points = row.total_spent = row.purchase_count = None
                row.stored_value = row.stored_principal = row.stored_bonus = None
            pk = member["pk"]
            problems = [
                p
                for p in (
                    self._points_problem(row, openings.get(pk)),
                    self.stored.problem(row, cards.get(pk), stored.get(pk)),
                    consent.problem(row, member, refused),
                )
                if p
            ] + self.extras.problems(row, pk)
            if problems:
                result.problems.append((row, problems))
                continue
            changed = self._plan_existing(
                row, member, cards.get(pk), openings.get(pk), links, plan, stored.get(pk)
            )
            if self.extras.plan(pk, row, pk) or changed:
                result.updated += 1
            else:
                result.unchanged += 1
        if not dry_run:
            self._apply(plan)
        return result

    def _state(self, ids: list[int], rows: list[MemberRow], *, lock: bool):
        if not ids:
            return {}, {}, set()
        cards_qs = Card.objects.filter(pk__in=ids).order_by("pk")
        if lock and connection.features.has_select_for_update:
            cards_qs = cards_qs.select_for_update(of=("self",))
        cards = {
            c["member_id"]: c
            for c in cards_qs.values(
                "member_id",
                "tier_id",
                "tier_since",
                "tier_review_on",
                "points_balance",
                "points_debt",
                "total_spent",
                "purchase_count",
                "last_purchase_at",
                "stored_principal",
                "stored_bonus",
            )  # fmt: skip
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
        links = set()
        wanted = {self.tag_ids[n] for r in rows for n in r.tags if n in self.tag_ids}
        if wanted:
            links = set(
                Member.tags.through.objects.filter(
                    member_id__in=ids, tag_id__in=wanted
                ).values_list("member_id", "tag_id")
            )
        return cards, openings, links

    def _points_problem(self, row: MemberRow, opening: dict | None):
        if row.points is None or opening is None or opening["points"] is None:
            return None
        if opening["points"] == row.points:
            return None
        return [
            "points",
            _(
                "%(old)d opening points were already imported for this member; the file "
                "says %(new)d. Leave the points empty, or adjust the card by hand."
            )
            % {"old": opening["points"], "new": row.points},
        ]

    def _opening_for(self, row: MemberRow, opening: dict | None) -> dict:
        base = dict(opening) if opening else {
            "points": None, "total_spent": None, "purchase_count": None,
            "purchases_spent": None, "purchases_count": None,
        }  # fmt: skip
        if row.points is not None and base["points"] is None:
            base["points"] = row.points
        if row.total_spent is not None:
            base["total_spent"] = row.total_spent
        if row.purchase_count is not None:
            base["purchase_count"] = row.purchase_count
        return base

    def _plan_new(self, row: MemberRow, plan: _Plan) -> None:
        plan.new.append(row)
        tier_id = row.tier_id or self.lowest_id
        opening = self._opening_for(row, None)
        spent, count = contribution(opening)
        points = row.points or 0
        stored = self.stored.due(row, None)
        plan.new_cards.append(
            card_row(row, tier_id=tier_id, since=self.now, review_on=self._review_day(tier_id),
                     points=points, spent=spent, count=count, last=row.last_purchase_at,
                     stored=stored or (ZERO, ZERO))
        )  # fmt: skip
        if stored:
            plan.stored.append((row, stored, stored))
        if tier_id is not None:
            plan.tier_changes.append((row, None, tier_id))
        if points:
            plan.lots.append((row, points, points))
        if any(v is not None for v in (row.points, row.total_spent, row.purchase_count)):
            plan.openings_new.append((row, opening))
        plan.tag_links += [(row, name) for name in row.tags]

    def _plan_existing(self, row, member, card, opening, links, plan, stored_had) -> bool:
        pk = member["pk"]
        changed = False
        # Profile fields: only where the file has a value that differs.
        changes = {}
        for name in PROFILE:
            value = getattr(row, name)
            if value is None or value == member[name]:
                continue
            if name == "created_at" and _same_second(value, member[name]):
                continue  # files keep whole seconds
            changes[name] = value
        if "marketing_consent" in changes:
            changes["marketing_consent_at"] = self.now
        self.moved_store = self.moved_store or "store_id" in changes
        if "created_at" in changes and member["created_at"] is not None:
            was = member["created_at"]
            self.redated_from = min(self.redated_from or was, was)
        if changes:
            changed = True
            fields = frozenset(changes)
            plan.updates.setdefault(fields, []).append((*(changes[f] for f in sorted(fields)), pk))
            before = {self._label(f): self._shown(f, member[f]) for f in changes}
            after = {self._label(f): self._shown(f, v) for f, v in changes.items()}
            plan.audits.append((member, changes.get("store_id", member["store_id"]), before, after))
        # The card (a bulk path may have left a member without one).
        new_opening = self._opening_for(row, opening)
        if opening is None:
            opening_changed = any(
                v is not None for v in (row.points, row.total_spent, row.purchase_count)
            )
        else:
            opening_changed = new_opening != opening
        old_spent, old_count = contribution(opening)
        new_spent, new_count = contribution(new_opening)
        lot = row.points if (row.points and (opening is None or opening["points"] is None)) else 0
        stored = self.stored.due(row, stored_had)
        if card is None:
            tier_id = row.tier_id or self.lowest_id
            plan.new_cards.append(
                card_row(pk, tier_id=tier_id, since=self.now, review_on=self._review_day(tier_id),
                         points=lot, spent=new_spent, count=new_count, last=row.last_purchase_at,
                         stored=stored or (ZERO, ZERO))
            )  # fmt: skip
            if stored:
                plan.stored.append((pk, stored, stored))
            if tier_id is not None:
                plan.tier_changes.append((pk, None, tier_id))
            if lot:
                plan.lots.append((pk, lot, lot))
            changed = True
        else:
            figures = dict(card)
            if row.tier_id is not None and row.tier_id != card["tier_id"]:
                plan.tier_changes.append((pk, card["tier_id"], row.tier_id))
                figures.update(
                    tier_id=row.tier_id,
                    tier_since=self.now,
                    tier_review_on=self._review_day(row.tier_id),
                )
            figures["total_spent"] = card["total_spent"] + new_spent - old_spent
            figures["purchase_count"] = max(0, card["purchase_count"] + new_count - old_count)
            last = row.last_purchase_at
            if last is not None and (
                card["last_purchase_at"] is None or last > card["last_purchase_at"]
            ):
                figures["last_purchase_at"] = last
            if lot and card["points_debt"]:
                plan.awards.append((pk, lot))  # points owed are repaid first: the service
            elif lot:
                figures["points_balance"] = card["points_balance"] + lot
                plan.lots.append((pk, lot, figures["points_balance"]))
            if figures != card:
                plan.card_updates.append(
                    (figures["tier_id"], figures["tier_since"], figures["tier_review_on"],
                     figures["points_balance"], figures["total_spent"], figures["purchase_count"],
                     figures["last_purchase_at"], pk)
                )  # fmt: skip
                changed = True
            if stored:
                after = (card["stored_principal"] + stored[0], card["stored_bonus"] + stored[1])
                plan.stored.append((pk, stored, after))
                plan.stored_figures.append((*after, pk))
            changed = changed or bool(lot) or bool(stored)
        if opening_changed:
            changed = True
            if opening is None:
                plan.openings_new.append((pk, new_opening))
            else:
                plan.openings_changed.append((pk, new_opening))
        for name in row.tags:
            tag_id = self.tag_ids.get(name)
            if tag_id is None or (pk, tag_id) not in links:
                plan.tag_links.append((pk, name))
                changed = True
        return changed

    def _label(self, name: str) -> str:
        return "store" if name == "store_id" else name

    def _shown(self, name: str, value):
        if name == "store_id":
            return self.store_names.get(value)
        return value

    # --- writing ----------------------------------------------------------------------

    def _apply(self, plan: _Plan) -> None:
        ids = self._insert_members(plan.new)

        def pk(ref):
            return ids[ref.phone_hash] if isinstance(ref, MemberRow) else ref

        sql.insert(Card, CARD_FIELDS, [(pk(c[0]), *c[1:]) for c in plan.new_cards])
        for fields, rows in plan.updates.items():
            names = sorted(fields)
            values = [(*r[:-1], self.now, r[-1]) for r in rows]  # contact data: plain (sql.py)
            columns = ["store" if n == "store_id" else n for n in names]
            sql.update(Member, [*columns, "updated_at"], values)
        sql.update(Card, CARD_UPDATE, plan.card_updates)
        sql.insert(
            PointsEntry,
            LOT_FIELDS,
            [self.lot_row(pk(ref), points, balance) for ref, points, balance in plan.lots],
        )
        note = _("Import #%(job)d") % {"job": self.job.pk}
        sql.insert(
            TierChange,
            TIER_CHANGE_FIELDS,
            [
                tier_change_row(pk(ref), old, new, now=self.now, note=note, actor_id=self.actor_id)
                for ref, old, new in plan.tier_changes
            ],
        )
        sql.insert(
            OpeningBalance,
            OPENING_FIELDS,
            [(pk(ref), self.job.pk, *self._opening_values(o)) for ref, o in plan.openings_new],
        )
        sql.update(
            OpeningBalance,
            OPENING_FIELDS[1:],
            [(self.job.pk, *self._opening_values(o), pk(ref)) for ref, o in plan.openings_changed],
        )
        self._link_tags([(pk(ref), name) for ref, name in plan.tag_links])
        self.stored.write(
            [self.stored.entry_row(pk(ref), opening, after) for ref, opening, after in plan.stored],
            plan.stored_figures,
        )
        for member_id, points in plan.awards:
            points_award(
                member=Member(pk=member_id),
                points=points,
                key=opening_key(member_id),
                reason=self.reason,
                kind=PointsEntry.Kind.IMPORT,
                source=self.source,
                actor=self.actor,
                now=self.now,
                expires_at=self.expires_at,
            )
        self.extras.apply(pk)
        self._audit(plan.audits)

    def lot_row(self, member_id: int, points: int, balance_after: int) -> tuple:
        """The opening lot, in LOT_FIELDS' order: what points_award writes (above, for a
        card that owes points) with the same arguments, the whole lot remaining."""
        return (
            member_id, PointsEntry.Kind.IMPORT, points, balance_after, points, self.expires_at,
            opening_key(member_id), self.reason, self.source, self.actor_id, self.now,
        )  # fmt: skip

    def _opening_values(self, opening: dict) -> tuple:
        return (
            opening["points"],
            opening["total_spent"],
            opening["purchase_count"],
            opening["purchases_spent"],
            opening["purchases_count"],
            self.now,
        )

    def _insert_members(self, rows: list[MemberRow]) -> dict[str, int]:
        """Insert the new members; {phone hash: id}, the ids taken before the INSERT."""
        if not rows:
            return {}
        numbers = self.taken.draw(len(rows))
        ids = sql.new_ids(Member, len(rows))
        values = []  # contact data plain: its field encrypts it (sql.py)
        for row, pk, number in zip(rows, ids, numbers, strict=True):
            values.append(
                (pk, number, row.e164, row.phone_hash, phone_last4(row.e164),
                 row.name or "", row.gender or "", row.birthday, row.email or "",
                 row.addresses or "", row.note or "", Member.Source.IMPORT, Member.Status.ACTIVE,
                 row.store_id or self.default_store_id, row.created_at or self.now, self.now,
                 bool(row.marketing_consent), None if row.marketing_consent is None else self.now)
            )  # fmt: skip
        sql.insert(Member, ["id", *MEMBER_FIELDS], values)
        self.taken.written(ids, [row.phone_hash for row in rows])
        return {row.phone_hash: pk for row, pk in zip(rows, ids, strict=True)}

    def _link_tags(self, links: list[tuple[int, str]]) -> None:
        if not links:
            return
        missing = {name for _pk, name in links if name not in self.tag_ids}
        if missing:
            Tag.objects.bulk_create([Tag(name=n) for n in sorted(missing)], ignore_conflicts=True)
            self.tag_ids.update(Tag.objects.filter(name__in=missing).values_list("name", "pk"))
        through = Member.tags.through
        rows = {(member_id, self.tag_ids[name]) for member_id, name in links}
        sql.insert(through, ["member", "tag"], sorted(rows))

    def _audit(self, audits: list) -> None:
        audit_imported(
            [(member, store_id, diff(before, after)) for member, store_id, before, after in audits],
            job_id=self.job.pk,
            actor_id=self.actor_id,
            now=self.now,
        )


def audit_imported(rows: list, *, job_id: int, actor_id, now) -> None:
    """Audit rows "member.import": (member {pk, name, member_no}, store id, changes)."""
    entries = []
    for member, store_id, changes in rows:
        label = member["name"] or _("(no name)")
        entries.append(
            AuditEntry(
                at=now,
                actor_id=actor_id,
                action="member.import",
                object_type=Member._meta.label_lower,
                object_id=str(member["pk"]),
                object_repr=f"{label} · {member['member_no']}"[:200],
                changes={**changes, "import": [None, job_id]},
                store_id=store_id,
            )
        )
    AuditEntry.objects.bulk_create(entries, batch_size=1000)
