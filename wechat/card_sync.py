"""The member card in 卡包 kept in step with the ledger (membercard/updateuser).

- Receivers of loyalty's events write a CardUpdate row per change, inside the change's
  transaction, for members whose card is activated in WeChat: a purchase (points earned
  and spent, stored value paid), points changed otherwise (check-in, rewards, staff), a
  top-up or cash-out, a count card paid from stored value, a tier change. One row per
  ledger entry: `ref` is unique, so an event handled twice adds nothing.
- `card_updates_send` pushes them: every waiting row of a member goes out in ONE call
  that carries the absolute figures (bonus, balance, the tier in custom field 1) beside
  the changes (add_bonus, add_balance) and their record texts. WeChat shows the totals,
  so a call repeated after a lost answer changes nothing on the card.
- Claimed rows are leased (next_try_at moves ahead) in a short transaction; WeChat is
  called outside any transaction; a failure backs off (1, 2, 4 … minutes, at most 6 h);
  WeChat down stops the batch (the rows wait). Sent at once after the commit (a task),
  and every minute by the `send_card_updates` job for what a lost task left.
- `cards_reconcile` (nightly): what the ledger says against what WeChat was last told
  (the holding's shown_*), repaired by a REPAIR row; and a slice of the cards each night
  asked of WeChat itself (userinfo/get), so every card is checked against WeChat monthly.
"""

import datetime as dt
import logging
import unicodedata
from decimal import Decimal

from django.conf import settings
from django.core.cache import caches
from django.db import transaction
from django.db.models import ExpressionWrapper, F, OuterRef, Q, Subquery
from django.db.models.fields import DecimalField
from django.db.models.functions import Mod
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from config.platform.fixed_sql import FixedRead
from loyalty.models import Card, Tier
from members.queue import enqueue

from . import client
from .models import CardUpdate, MemberCardClass, MemberCardHolding

log = logging.getLogger(__name__)
BATCH = 200
LEASE = dt.timedelta(minutes=2)
MAX_BACKOFF = dt.timedelta(hours=6)
RECORD_MAX = CardUpdate._meta.get_field("record").max_length
RECORD_WIDTH = 28  # WeChat's record_bonus / record_balance: 14 Chinese characters
# Nightly, this share of the activated cards is also checked against WeChat itself.
VERIFY_DAYS = 30


# --- writing the rows (inside the ledger's transactions) ----------------------------------


CARDS_PUBLISHED = "wechat:member-card-published"


def cards_published() -> bool:
    """Whether the merchant has published a member card at all: asked of the database at
    most every 30 s per process ("local" cache), so that merchants without one pay no
    statement in their purchases. (A card is reviewed by WeChat for days before the first
    member can claim it: 30 s of a stale answer in another process costs nothing.)"""
    local = caches["local"]
    published = local.get(CARDS_PUBLISHED)
    if published is None:
        published = MemberCardClass.objects.exclude(card_id="").exists()
        local.set(CARDS_PUBLISHED, published, 30)
    return published


def cards_published_forget() -> None:
    """A card was published in this process: its receivers ask again at once."""
    caches["local"].delete(CARDS_PUBLISHED)


_active_holding = FixedRead(
    MemberCardHolding, "t0.member_id = %s AND t0.status = %s", fields=("id", "member_id")
)


def holder_ids(member_ids) -> set[int]:
    """The members among `member_ids` whose member card is activated in WeChat."""
    if not cards_published():
        return set()
    ids = list(member_ids)
    if len(ids) == 1:  # a purchase's or an entry's member: the SQL written once
        found = _active_holding.first(ids[0], MemberCardHolding.Status.ACTIVE)
        return {ids[0]} if found is not None else set()
    return set(
        MemberCardHolding.objects.filter(
            member_id__in=ids, status=MemberCardHolding.Status.ACTIVE
        ).values_list("member_id", flat=True)
    )


def updates_add(rows: list[CardUpdate]) -> int:
    """Add rows for the members who hold a card; a ref already there is skipped (the
    same entry's event again). The sending task is queued after the commit."""
    holders = holder_ids({row.member_id for row in rows})
    rows = [row for row in rows if row.member_id in holders]
    if not rows:
        return 0
    for row in rows:
        row.record = row.record[:RECORD_MAX]
    CardUpdate.objects.bulk_create(rows, ignore_conflicts=True)
    transaction.on_commit(send_soon)
    return len(rows)


def send_soon() -> None:
    # Through members.queue: with the broker down the change still commits; the
    # every-minute job sends it.
    enqueue("wechat.tasks.send_card_updates")


def _text(message: str, **values) -> str:
    """A record text in the site's language (Chinese): what the card's history shows.
    `message` is marked with gettext_noop where it is written."""
    with translation.override(settings.LANGUAGE_CODE):
        return _(message) % values


def on_purchase(sender, purchase, **kwargs):
    """One row per purchase: points earned less points spent, stored value paid."""
    bonus = purchase.points_earned - purchase.points_used
    balance = -purchase.stored_value_used
    if not bonus and not balance:
        return
    message = gettext_noop("Purchase ¥%(amount)s, points %(points)+d")
    record = _text(message, amount=purchase.cash_paid, points=bonus)
    updates_add([CardUpdate(member_id=purchase.member_id, ref=f"purchase:{purchase.pk}",
                            kind=CardUpdate.Kind.POINTS, add_bonus=bonus,
                            add_balance=balance, record=record)])  # fmt: skip


def on_refund(sender, member_id, refund, purchase, **kwargs):
    """Every refund, full or partial: the points clawed back and returned, the stored
    value returned."""
    bonus = refund.points_returned - refund.points_clawed_back
    record = _text(gettext_noop("Refund ¥%(amount)s"), amount=refund.amount)
    updates_add([CardUpdate(member_id=member_id, ref=f"refund:{refund.pk}",
                            kind=CardUpdate.Kind.POINTS, add_bonus=bonus,
                            add_balance=refund.stored_value_returned, record=record)])  # fmt: skip


def on_points(sender, member_id, entry_id, entry=None, **kwargs):
    if entry is not None and entry.source == "welcome":
        return  # a new member's: no card of theirs is activated yet (activation shows them)
    delta = entry.delta if entry is not None else 0
    reason = (entry.reason if entry is not None else "") or _text(gettext_noop("Points"))
    record = _text(gettext_noop("%(reason)s, points %(points)+d"), reason=reason, points=delta)
    row = CardUpdate(member_id=member_id, ref=f"points:{entry_id}", kind=CardUpdate.Kind.POINTS,
                     add_bonus=delta, record=record)  # fmt: skip
    updates_add([row])


def _stored_value_row(member_id: int, entry) -> CardUpdate:
    change = entry.principal_delta + entry.bonus_delta
    kind = entry.Kind(entry.kind).label  # lazy: in the site's language below
    record = _text(gettext_noop("%(kind)s, stored value %(sign)s¥%(amount)s"), kind=kind,
                   sign="+" if change >= 0 else "-", amount=abs(change))  # fmt: skip
    return CardUpdate(member_id=member_id, ref=f"stored_value:{entry.pk}",
                      kind=CardUpdate.Kind.BALANCE, add_balance=change, record=record)  # fmt: skip


def on_stored_value(sender, member_id, entry, **kwargs):
    updates_add([_stored_value_row(member_id, entry)])


def on_count_card(sender, member_id, card, entry, stored_value_entry=None, **kwargs):
    if stored_value_entry is not None:  # a count card bought or refunded by stored value
        updates_add([_stored_value_row(member_id, stored_value_entry)])


def on_tier(sender, member_id, from_tier_id, to_tier_id, to_tier=None, change_id=None, **kwargs):
    name = to_tier.name if to_tier is not None else ""
    updates_add([_tier_row(member_id, name, f"tier:{change_id}")])


def on_tiers_downgraded(sender, items, **kwargs):
    names = dict(Tier.objects.values_list("pk", "name"))
    # The nightly review changes a member's tier once a night at most.
    day = timezone.localdate().isoformat()
    rows = [_tier_row(member_id, names.get(new, ""), f"tier-review:{member_id}:{new}:{day}")
            for member_id, _old, new in items]  # fmt: skip
    updates_add(rows)


def _tier_row(member_id, name, ref) -> CardUpdate:
    return CardUpdate(member_id=member_id, ref=ref, kind=CardUpdate.Kind.TIER,
                      record=_text(gettext_noop("Tier: %(tier)s"), tier=name or "-"))  # fmt: skip


# --- sending ---------------------------------------------------------------------------


def figures(card: Card) -> dict:
    """What the card in 卡包 should show: points, stored value (fen), the tier's name."""
    return {
        "bonus": int(card.points_balance),
        "balance": int((card.stored_value * 100).to_integral_value()),
        "tier": card.tier.name if card.tier_id else "",
    }


def _backoff(attempts: int) -> dt.timedelta:
    return min(dt.timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def holding_lease(holding_pk: int) -> bool:
    """Take the card's lease (a conditional UPDATE, dated now): False while another worker
    holds it. One call to WeChat per card at a time: a change is never sent twice by two
    workers, and older figures never arrive after newer ones."""
    now = timezone.now()
    free = Q(busy_until__isnull=True) | Q(busy_until__lt=now)
    return bool(
        MemberCardHolding.objects.filter(free, pk=holding_pk).update(busy_until=now + LEASE)
    )


def holding_release(holding_pk: int) -> None:
    MemberCardHolding.objects.filter(pk=holding_pk).update(busy_until=None)


def fit_record(text: str) -> str:
    """A record text as WeChat takes it: at most 14 Chinese characters (28 half-width)."""
    width, kept = 0, []
    for char in text:
        width += 2 if unicodedata.east_asian_width(char) in "WF" else 1
        if width > RECORD_WIDTH:
            break
        kept.append(char)
    return "".join(kept).strip()


def _records(rows: list[CardUpdate], add_bonus: int, add_balance: Decimal) -> tuple[str, str]:
    """(record_bonus, record_balance): one change's own text, or for several the sums."""
    if len(rows) == 1 and rows[0].record:
        return fit_record(rows[0].record), fit_record(rows[0].record)
    sign = "+" if add_balance >= 0 else "-"
    return (
        fit_record(_text(gettext_noop("Points %(points)+d"), points=add_bonus)),
        fit_record(_text(gettext_noop("Stored value %(sign)s¥%(amount)s"), sign=sign,
                         amount=abs(add_balance))),
    )  # fmt: skip


def _holding_of(member_id: int) -> MemberCardHolding | None:
    return (
        MemberCardHolding.objects.filter(
            member_id=member_id, status=MemberCardHolding.Status.ACTIVE
        )
        .select_related("card_class")
        .order_by("-activated_at")
        .first()
    )


def card_push(holding: MemberCardHolding, rows: list[CardUpdate], *, notify: bool = True):
    """One membercard/updateuser with the card's figures now and the rows' changes (the
    caller holds the card's lease)."""
    card = Card.objects.select_related("tier").get(pk=holding.member_id)
    shown = figures(card)
    add_bonus = sum(row.add_bonus for row in rows)
    add_balance = sum((row.add_balance for row in rows), Decimal("0"))
    body = {"bonus": shown["bonus"], "balance": shown["balance"],
            "custom_field_value1": shown["tier"] or "-"}  # fmt: skip
    record_bonus, record_balance = _records(rows, add_bonus, add_balance)
    if add_bonus:
        body.update(add_bonus=add_bonus, record_bonus=record_bonus)
    if add_balance:
        body.update(add_balance=int(add_balance * 100), record_balance=record_balance)
    body["notify_optional"] = {
        "is_notify_bonus": notify and bool(add_bonus),
        "is_notify_balance": notify and bool(add_balance),
        "is_notify_custom_field1": notify and shown["tier"] != holding.shown_tier,
    }
    client.membercard_update(card_id=holding.card_class.card_id, code=holding.code, **body)
    MemberCardHolding.objects.filter(pk=holding.pk).update(
        shown_bonus=shown["bonus"], shown_balance=Decimal(shown["balance"]) / 100,
        shown_tier=shown["tier"], synced_at=timezone.now(),
    )  # fmt: skip


def card_update_member(member_id: int) -> tuple[str, int]:
    """Send every change waiting for the member in one call, under the card's lease.
    Returns ("sent" | "skipped" | "busy", rows); a WeChatError is raised after the rows
    are given their back-off."""
    holding = _holding_of(member_id)
    waiting = CardUpdate.objects.filter(member_id=member_id, sent_at__isnull=True)
    if holding is None:  # the card was deleted from 卡包 meanwhile: nothing to show
        gone = _("The member card is no longer in WeChat.")
        return "skipped", waiting.update(sent_at=timezone.now(), last_error=gone)
    if not holding_lease(holding.pk):
        return "busy", 0
    try:
        # All the member's waiting rows, those backing off too: the card is being
        # updated anyway, and its totals are the same for all of them.
        rows = list(waiting.order_by("pk"))
        if not rows:
            return "sent", 0
        pks = [row.pk for row in rows]
        attempts = max(row.attempts for row in rows) + 1
        CardUpdate.objects.filter(pk__in=pks).update(attempts=F("attempts") + 1)
        try:
            card_push(holding, rows, notify=any(r.kind != CardUpdate.Kind.REPAIR for r in rows))
        except client.WeChatError as exc:
            CardUpdate.objects.filter(pk__in=pks).update(
                next_try_at=timezone.now() + _backoff(attempts), last_error=exc.reason[:300]
            )
            if exc.errcode == INVALID_CODE:
                _forget(holding, timezone.now())
            raise
        CardUpdate.objects.filter(pk__in=pks).update(sent_at=timezone.now(), last_error="")
        return "sent", len(rows)
    finally:
        holding_release(holding.pk)


def card_updates_send(*, now=None, limit: int = BATCH) -> dict:
    """Push the waiting changes, one call per member; stops when WeChat is down."""
    now = now or timezone.now()
    done = {"members": 0, "rows": 0, "failed": 0, "skipped": 0}
    member_ids = list(
        CardUpdate.objects.filter(sent_at__isnull=True, next_try_at__lte=now)
        .order_by("member_id")
        .values_list("member_id", flat=True)
        .distinct()[:limit]
    )
    for member_id in member_ids:
        try:
            outcome, rows = card_update_member(member_id)
        except client.WeChatError as exc:
            done["failed"] += 1
            log.info("member card of member %s not updated: %s", member_id, exc)
            if exc.unavailable:
                break  # every other call would fail the same way
            continue
        if outcome == "sent" and rows:
            done["members"] += 1
            done["rows"] += rows
        elif outcome == "skipped":
            done["skipped"] += rows
    return done


INVALID_CODE = 40056  # WeChat no longer knows the code: the card was deleted


def _forget(holding: MemberCardHolding, now) -> None:
    MemberCardHolding.objects.filter(pk=holding.pk).update(
        status=MemberCardHolding.Status.DELETED, deleted_at=now
    )


# --- the nightly reconciliation ----------------------------------------------------------


def _drifted(now) -> list[int]:
    """Activated cards whose last figures told to WeChat differ from the ledger's."""
    card = Card.objects.filter(pk=OuterRef("member_id"))
    stored = ExpressionWrapper(
        F("stored_principal") + F("stored_bonus"),
        output_field=DecimalField(max_digits=14, decimal_places=2),
    )
    qs = (
        MemberCardHolding.objects.filter(status=MemberCardHolding.Status.ACTIVE)
        .annotate(
            points=Subquery(card.values("points_balance")[:1]),
            stored=Subquery(card.annotate(s=stored).values("s")[:1]),
            tier=Subquery(card.values("tier__name")[:1]),
        )
        .filter(
            Q(shown_bonus__isnull=True)
            | ~Q(shown_bonus=F("points"))
            | ~Q(shown_balance=F("stored"))
            | ~Q(shown_tier=F("tier"))
            | (Q(tier__isnull=True) & ~Q(shown_tier=""))
        )
    )
    waiting = CardUpdate.objects.filter(sent_at__isnull=True).values("member_id")
    return list(qs.exclude(member_id__in=waiting).values_list("member_id", flat=True))


def cards_reconcile(*, now=None, day: dt.date | None = None) -> dict:
    """Repair what drifted: a REPAIR row per card the ledger and WeChat's last figures
    disagree on, and per card WeChat itself shows otherwise (today's slice, asked)."""
    now = now or timezone.now()
    day = day or timezone.localdate(now)
    stamp = day.isoformat()
    drifted = set(_drifted(now))
    checked = 0
    # Today's slice: the cards whose id falls on this day of the 30-day round.
    holdings = (
        MemberCardHolding.objects.filter(status=MemberCardHolding.Status.ACTIVE)
        .annotate(slot=Mod("pk", VERIFY_DAYS))
        .filter(slot=day.toordinal() % VERIFY_DAYS)
        .select_related("card_class")
        .order_by("pk")
    )
    for holding in holdings.iterator():
        if holding.member_id in drifted:
            continue
        try:
            shown = client.membercard_user_info(
                card_id=holding.card_class.card_id, code=holding.code
            )
        except client.WeChatError as exc:
            log.info("member card %s not checked: %s", holding.code, exc)
            if exc.errcode == INVALID_CODE:
                _forget(holding, now)
            if exc.unavailable:
                break
            continue
        checked += 1
        balance = Decimal(int(shown.get("balance") or 0)) / 100
        if shown.get("bonus") != holding.shown_bonus or balance != (holding.shown_balance or 0):
            drifted.add(holding.member_id)
    rows = [
        CardUpdate(
            member_id=member_id, ref=f"repair:{member_id}:{stamp}", kind=CardUpdate.Kind.REPAIR
        )
        for member_id in sorted(drifted)
    ]
    with transaction.atomic():
        added = updates_add(rows) if rows else 0
    return {"drifted": len(drifted), "repairs": added, "checked": checked}
