"""Growth value (成长值) and tiers: the tier a card is on, why it moved (TierChange),
when it is reviewed (保级), and the upgrade a purchase or an action can bring.

The building blocks (`growth_add`, `tier_change`, `tier_upgrade_if_qualified`) work on a
card the caller locked (ledger.card_lock), inside the caller's transaction; the
services (`growth_award`, `tier_set`) lock it themselves. The nightly downgrades are
set-based, in jobs.py.
"""

import datetime as dt
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from config.platform.fixed_sql import FixedInsert
from members.audit import audit_record
from members.models import Member, User

from . import signals
from .dates import add_months, local_midnight
from .ledger import card_lock
from .models import Card, GrowthEntry, LoyaltySettings, Purchase, Tier, TierChange
from .money import ZERO
from .rules import lowest_tier

_insert_growth = FixedInsert(GrowthEntry)  # no save() of its own, no receivers


def qualifying_metric(card: Card, conf: LoyaltySettings, now) -> Decimal:
    basis, months = conf.tier_basis, conf.qualification_months
    if months == 0:
        if basis == LoyaltySettings.TierBasis.SPEND:
            return card.total_spent
        if basis == LoyaltySettings.TierBasis.VISITS:
            return Decimal(card.purchase_count)
        return Decimal(card.growth_value)
    since = local_midnight(add_months(timezone.localdate(now), -months))
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


def tier_change(
    card: Card, tier: Tier | None, *, reason: str, now, actor=None, purchase=None, note="",
    conf=None, lowest=None,
):  # fmt: skip
    old = card.tier
    card.tier, card.tier_since = tier, now
    card.tier_review_on = review_day_for(card, now, conf, lowest)
    change = TierChange.objects.create(
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
        change_id=change.pk,
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


def tier_upgrade_if_qualified(
    card: Card, conf: LoyaltySettings, now, purchase=None, tiers: list[Tier] | None = None
) -> bool:
    """`tiers`: all tiers, lowest first, when the caller read them already."""
    tiers = list(Tier.objects.order_by("level")) if tiers is None else tiers
    current_level = card.tier.level if card.tier else 0
    candidates = [tier for tier in reversed(tiers) if tier.level > current_level]
    if not candidates:
        return False
    metric = qualifying_metric(card, conf, now)
    for tier in candidates:  # the highest the member qualifies for, skipping levels
        if metric >= tier.qualify_threshold:
            tier_change(card, tier, reason=TierChange.Reason.UPGRADE, now=now,
                         purchase=purchase, conf=conf, lowest=tiers[0])  # fmt: skip
            return True
    return False


def growth_add(
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
    card = card_lock(member.pk)
    existing = GrowthEntry.objects.filter(idempotency_key=key).first()  # under the lock
    if existing:
        return existing, False
    entry = growth_add(card, growth, key=key, reason=reason, now=now)
    fields = ["growth_value"]
    conf = LoyaltySettings.current()
    if conf.tier_basis == LoyaltySettings.TierBasis.GROWTH and tier_upgrade_if_qualified(
        card, conf, now
    ):
        fields += ["tier", "tier_since", "tier_review_on"]
    card.save(update_fields=fields)
    return entry, True


@transaction.atomic
def tier_set(*, member: Member, tier: Tier, actor: User, note: str = "", now=None) -> Card:
    """Staff put a member on a tier (audited); the downgrade job may review it later."""
    now = now or timezone.now()
    card = card_lock(member.pk)
    if card.tier_id == tier.pk:
        return card
    before = str(card.tier) if card.tier else None
    tier_change(card, tier, reason=TierChange.Reason.STAFF, now=now, actor=actor, note=note)
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
