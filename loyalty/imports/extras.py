"""What a member file brings beside the card's figures: growth value and a count card as
openings, and the member's WeChat ids. MemberWriter's part for them, per chunk.

- Growth value (成长值): one GrowthEntry per member, key ``import:opening:<id>:growth``,
  the card's growth value moved by as much. Like the opening points: the same figure
  again changes nothing, another one refuses the row (adjust the card by hand).
- Count card (次卡): the row names a package (a CountCardTemplate, matching.py) and the
  uses left. The member gets a count card of that template with those uses (paid for in
  the old system: price 0 here, refunds give nothing back), valid per the template from
  the import's day, and its ledger's first entry, kind "import", key
  ``import:opening:<id>:count_card:<template id>``. Once per member and template: the
  same uses again change nothing, other uses refuse the row.
- WeChat openid / unionid: bound to the member when they have none. Never overwritten:
  a member bound to another one, or an openid bound to another member (or on another
  row of the chunk), refuses the row with the reason.

State is read per chunk (the cards are locked by the writer), plans made per row, and
written in the writer's transaction: set-based, but for the WeChat ids, bound one
member at a time with a condition (still unbound); a dry run plans only.
"""

import datetime as dt

from django.utils.translation import gettext as _

from members.models import Member

from ..count_cards import count_card_expiry
from ..models import Card, CountCard, CountCardEntry, CountCardTemplate, GrowthEntry
from ..models.count_cards import IMPORTED
from . import sql

GROWTH_FIELDS = ["member", "delta", "balance_after", "reason", "idempotency_key", "created_at"]
KEYS = ("growth_value", "count_card", "wechat_openid", "wechat_unionid")


def growth_key(member_id: int) -> str:
    return f"import:opening:{member_id}:growth"


def count_card_key(member_id: int, template_id: int) -> str:
    return f"import:opening:{member_id}:count_card:{template_id}"


class Extras:
    def __init__(self, *, columns: set[str], now: dt.datetime, job, actor_id=None):
        self.on = {key for key in KEYS if key in columns}
        self.now, self.job, self.actor_id = now, job, actor_id
        self.growth_reason = _("Opening growth value from the previous system")
        self.card_note = _("Opening uses from the previous system (import #%(job)d)") % {
            "job": job.pk
        }
        self.templates: dict[int, CountCardTemplate] = {}
        # openid: the member (id, or a new row's phone hash) of the file that has it
        self.claimed: dict[str, object] = {}
        self._reset()

    def _reset(self):
        self.growth_had, self.growth_of = {}, {}
        self.cards_had, self.wechat_of, self.owner_of = {}, {}, {}
        self.growth, self.cards, self.bind = [], [], []

    # --- state ------------------------------------------------------------------------

    def load(self, ids: list[int], rows: list) -> None:
        """What the chunk's members have already (ids: the existing ones)."""
        self._reset()
        if not self.on:
            return
        keys = {growth_key(pk): pk for pk in ids} if "growth_value" in self.on else {}
        if keys:
            self.growth_had = dict(
                (keys[k], delta)
                for k, delta in GrowthEntry.objects.filter(
                    idempotency_key__in=list(keys)
                ).values_list("idempotency_key", "delta")
            )
            self.growth_of = dict(
                Card.objects.filter(pk__in=ids).values_list("member_id", "growth_value")
            )
        if "count_card" in self.on:
            entries = CountCardEntry.objects.filter(
                member_id__in=ids, kind=CountCardEntry.Kind.IMPORT
            ).values_list("member_id", "card__template_id", "delta")
            self.cards_had = {(m, t): delta for m, t, delta in entries} if ids else {}
            wanted = {r.count_card for r in rows if r.count_card} - set(self.templates)
            self.templates.update(CountCardTemplate.objects.in_bulk(wanted))
        if self.on & {"wechat_openid", "wechat_unionid"}:
            self.wechat_of = {
                pk: (openid, unionid)
                for pk, openid, unionid in Member.objects.filter(pk__in=ids).values_list(
                    "pk", "wechat_openid", "wechat_unionid"
                )
            }
            openids = [r.wechat_openid for r in rows if r.wechat_openid]
            if openids:
                self.owner_of = dict(
                    Member.objects.filter(wechat_openid__in=openids).values_list(
                        "wechat_openid", "pk"
                    )
                )

    # --- per row ----------------------------------------------------------------------

    def problems(self, row, pk: int | None) -> list[list]:
        """[[column, message], ...] of the row's openings and ids that cannot be."""
        if not self.on:
            return []
        found = []
        if row.growth_value is not None and pk is not None:
            had = self.growth_had.get(pk)
            if had is not None and had != row.growth_value:
                found.append(["growth_value", _(
                    "%(old)d of opening growth value was already imported for this member; "
                    "the file says %(new)d. Leave it empty, or adjust the card by hand."
                ) % {"old": had, "new": row.growth_value}])  # fmt: skip
        if row.count_card is not None and pk is not None:
            had = self.cards_had.get((pk, row.count_card))
            if had is not None and had != row.count_card_uses:
                found.append(["count_card_uses", _(
                    "This member's count card “%(name)s” was imported with %(old)d uses; the "
                    "file says %(new)d. Leave the count card empty on this row: it is "
                    "imported once."
                ) % {"name": self.templates[row.count_card].name, "old": had,
                     "new": row.count_card_uses}])  # fmt: skip
        if row.wechat_openid:
            found += self._openid_problem(row, pk)
        if row.wechat_unionid and pk is not None:
            bound = self.wechat_of.get(pk, (None, ""))[1]
            if bound and bound != row.wechat_unionid:
                found.append(["wechat_unionid", _(
                    "This member is bound to another WeChat unionid (%(bound)s): it is not "
                    "replaced by a file. Leave the cell empty to import the rest."
                ) % {"bound": bound}])  # fmt: skip
        return found

    def _openid_problem(self, row, pk) -> list[list]:
        openid = row.wechat_openid
        bound = self.wechat_of.get(pk, (None, ""))[0] if pk is not None else None
        if bound and bound != openid:
            return [["wechat_openid", _(
                "This member is bound to another WeChat openid (%(bound)s): it is not "
                "replaced by a file. Leave the cell empty to import the rest."
            ) % {"bound": bound}]]  # fmt: skip
        owner = self.owner_of.get(openid)
        claimed = self.claimed.get(openid)
        me = pk if pk is not None else row.phone_hash
        if (owner is not None and owner != pk) or (claimed is not None and claimed != me):
            return [["wechat_openid", _(
                "The WeChat openid %(openid)s belongs to another member: one WeChat user "
                "is one member. Leave the cell empty to import the rest."
            ) % {"openid": openid}]]  # fmt: skip
        self.claimed[openid] = me
        return []

    def plan(self, ref, row, pk: int | None) -> bool:
        """Plan the row's writes (ref: the member's id, or the new row); True if any."""
        if not self.on:
            return False
        changed = False
        if row.growth_value and (pk is None or pk not in self.growth_had):
            self.growth.append((ref, row.growth_value, self.growth_of.get(pk, 0)))
            changed = True
        new_card = pk is None or (pk, row.count_card) not in self.cards_had
        if row.count_card is not None and row.count_card_uses and new_card:
            self.cards.append((ref, row.count_card, row.count_card_uses, row.store_id))
            changed = True
        had = self.wechat_of.get(pk, (None, "")) if pk is not None else (None, "")
        openid = row.wechat_openid if row.wechat_openid and not had[0] else had[0]
        unionid = row.wechat_unionid if row.wechat_unionid and not had[1] else had[1]
        if (openid, unionid) != had:
            self.bind.append((ref, openid, unionid, pk is None))
            changed = True
        return changed

    # --- writing ----------------------------------------------------------------------

    def apply(self, pk) -> None:
        """The chunk's writes; pk(ref) is a member's id."""
        if self.growth:
            sql.insert(GrowthEntry, GROWTH_FIELDS, [
                (pk(ref), delta, had + delta, self.growth_reason, growth_key(pk(ref)), self.now)
                for ref, delta, had in self.growth
            ])  # fmt: skip
            sql.update(Card, ["growth_value"], [(had + d, pk(ref)) for ref, d, had in self.growth])
        # Members this chunk created: one statement (nobody else has seen them yet).
        fresh = [(o, u or "", pk(ref)) for ref, o, u, new in self.bind if new]
        sql.update(Member, ["wechat_openid", "wechat_unionid"], fresh)
        for ref, openid, unionid, new in self.bind:
            if new:
                continue
            # Only where still unbound: a member who binds through WeChat meanwhile keeps
            # that (the unique openid index refuses an openid another member took: the
            # chunk is written again, and the row refused).
            member = Member.objects.filter(pk=pk(ref))
            if openid:
                member.filter(wechat_openid__isnull=True).update(wechat_openid=openid)
            if unionid:
                member.filter(wechat_unionid="").update(wechat_unionid=unionid)
        if self.cards:
            self._count_cards(pk)

    def _count_cards(self, pk) -> None:
        cards = []
        for ref, template_id, uses, store_id in self.cards:
            template = self.templates[template_id]
            cards.append(CountCard(
                member_id=pk(ref), template=template, name=template.name, uses_total=uses,
                uses_left=uses, price_paid=0, tender=IMPORTED, sold_at=self.now,
                expires_at=count_card_expiry(self.now, template.valid_months),
                store_id=store_id or self.job.store_id, actor_id=self.actor_id,
                reference=f"import:{self.job.pk}",
            ))  # fmt: skip
        CountCard.objects.bulk_create(cards, batch_size=1000)
        CountCardEntry.objects.bulk_create([
            CountCardEntry(
                card=card, member_id=card.member_id, kind=CountCardEntry.Kind.IMPORT,
                delta=card.uses_left, left_after=card.uses_left,
                idempotency_key=count_card_key(card.member_id, card.template_id),
                store_id=card.store_id, actor_id=self.actor_id, note=self.card_note,
                created_at=self.now,
            )
            for card in cards
        ], batch_size=1000)  # fmt: skip
