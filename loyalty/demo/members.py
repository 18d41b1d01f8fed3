"""Demo loyalty data: cards, purchases and a consistent points ledger, in bulk.

Each member's history is simulated in memory in time order (expiry, FIFO
redemption, earning, tier upgrades) with the same rules the services apply, then
written with executemany, so millions of rows still satisfy check_ledger.
"""

import datetime as dt
import math
import random
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from config.platform.bulk import insert_rows
from loyalty.ledger import expiry_for
from loyalty.models import (
    ApiKey,
    Card,
    EarnRule,
    GrowthEntry,
    LoyaltySettings,
    PointsEntry,
    Purchase,
    Tier,
    TierChange,
)
from loyalty.money import yuan, yuan_down
from loyalty.purchases import purchase_refund
from members.models import Member, Store

CATEGORIES = [("咖啡", 55), ("茶饮", 20), ("甜点", 15), ("咖啡豆", 7), ("周边", 3)]
CHUNK = 2000


@dataclass
class _Member:
    pk: int
    store_id: int
    joined: dt.datetime
    tier: Tier
    balance: int = 0
    growth: int = 0
    spent: Decimal = Decimal("0.00")
    count: int = 0
    first: dt.datetime | None = None
    last: dt.datetime | None = None
    tier_since: dt.datetime | None = None
    # Open lots are the earn rows themselves (lists, so consuming one updates the row
    # that will be written): [member, kind, delta, balance_after, REMAINING, EXPIRES_AT, ...]
    lots: list = field(default_factory=list)


def seed_loyalty(*, member_ids, purchases: int, rng: random.Random, stdout=None) -> None:
    conf = LoyaltySettings.current()
    if not EarnRule.objects.exists():
        EarnRule.objects.create(name="咖啡豆双倍积分", category="咖啡豆", multiplier=2)
        EarnRule.objects.create(
            name="双十二双倍积分",
            multiplier=2,
            starts_on=dt.date(2026, 12, 12),
            ends_on=dt.date(2026, 12, 12),
        )
    tiers = list(Tier.objects.order_by("level"))
    ids = list(member_ids)
    if not ids:
        return
    per_member = purchases / len(ids)
    now = timezone.now()
    written = 0
    for lo in range(0, len(ids), CHUNK):
        chunk = ids[lo : lo + CHUNK]
        rows = Member.objects.filter(pk__in=chunk).values_list("pk", "store_id", "created_at")
        members = [_Member(pk, store_id, joined, tiers[0]) for pk, store_id, joined in rows]
        written += _seed_chunk(members, per_member, tiers, conf, rng, now)
        if stdout and (lo // CHUNK) % 50 == 0:
            stdout.write(
                f"  loyalty {lo + len(chunk):>9,}/{len(ids):,} members, {written:,} purchases"
            )
    if stdout:
        stdout.write(f"  loyalty: {written:,} purchases for {len(ids):,} members")
    _refund_a_few(rng, now)
    _demo_api_key(stdout)
    from loyalty.demo.benefits import seed_benefits

    seed_benefits(member_ids=ids, rng=rng, now=now, stdout=stdout)


def _pick_category(rng):
    return rng.choices([c for c, _w in CATEGORIES], weights=[w for _c, w in CATEGORIES])[0]


def _seed_chunk(members, per_member, tiers, conf, rng, now) -> int:
    cards, purchases, entries, growth, changes = [], [], [], [], []
    rules = list(EarnRule.objects.filter(active=True))
    for m in members:
        changes.append((m.pk, None, tiers[0].pk, TierChange.Reason.REGISTERED, "", m.joined))
        n = min(int(rng.expovariate(1 / per_member)) if per_member else 0, 200)
        span = max((now - m.joined).total_seconds(), 60)
        times = sorted(m.joined + dt.timedelta(seconds=rng.uniform(0, span)) for _ in range(n))
        for k, at in enumerate(times):
            _simulate_purchase(
                m, k, at, tiers, rules, conf, rng, purchases, entries, growth, changes
            )
        _expire_lots(m, now, entries)
        cards.append(
            (
                m.pk,
                m.tier.pk,
                m.tier_since or m.joined,
                m.balance,
                0,
                m.growth,
                m.spent,
                m.count,
                m.first,
                m.last,
            )
        )
    with transaction.atomic():
        insert_rows(
            Card,
            [
                "member",
                "tier",
                "tier_since",
                "points_balance",
                "points_debt",
                "growth_value",
                "total_spent",
                "purchase_count",
                "first_purchase_at",
                "last_purchase_at",
            ],
            cards,
        )
        insert_rows(
            Purchase,
            [
                "member",
                "store",
                "external_ref",
                "channel",
                "category",
                "gross_amount",
                "tier_discount",
                "coupon_discount",
                "points_used",
                "points_value",
                "cash_paid",
                "points_earned",
                "earn_rule",
                "refunded_amount",
                "status",
                "points_balance_after",
                "tier_after",
                "occurred_at",
                "created_at",
            ],
            purchases,
        )
        refs = {p[2] for p in purchases}
        purchase_ids = dict(
            Purchase.objects.filter(external_ref__in=refs).values_list("external_ref", "pk")
        )
        insert_rows(
            PointsEntry,
            [
                "member",
                "kind",
                "delta",
                "balance_after",
                "remaining",
                "expires_at",
                "debt_delta",
                "idempotency_key",
                "reason",
                "rule",
                "purchase",
                "source",
                "created_at",
            ],
            [(*e[:10], purchase_ids.get(e[10]), *e[11:]) for e in entries],
        )
        insert_rows(
            GrowthEntry,
            [
                "member",
                "delta",
                "balance_after",
                "reason",
                "idempotency_key",
                "purchase",
                "created_at",
            ],
            [(*g[:5], purchase_ids.get(g[5]), g[6]) for g in growth],
        )
        insert_rows(
            TierChange, ["member", "from_tier", "to_tier", "reason", "note", "created_at"], changes
        )
    return len(purchases)


def _expire_lots(m: _Member, until, entries):
    for lot in sorted(m.lots, key=lambda lot: lot[5] or until):
        if lot[4] and lot[5] and lot[5] <= until:
            m.balance -= lot[4]
            entries.append(
                [
                    m.pk,
                    "expire",
                    -lot[4],
                    m.balance,
                    0,
                    None,
                    0,
                    f"expire:demo:{lot[7]}",
                    "积分过期",
                    "",
                    None,
                    f"lot:{lot[7]}",
                    lot[5],
                ]
            )
            lot[4] = 0
    m.lots = [lot for lot in m.lots if lot[4]]


def _simulate_purchase(m, k, at, tiers, rules, conf, rng, purchases, entries, growth, changes):
    _expire_lots(m, at, entries)
    category = _pick_category(rng)
    amount = yuan(Decimal(rng.randrange(1500, 30000)) / 100)
    discount = yuan(amount * (1 - m.tier.discount_rate))
    payable = amount - discount
    use = 0
    if m.balance >= 200 and rng.random() < 0.25:
        cap = int(yuan_down(payable * conf.points_cap_percent / 100) * conf.points_per_cash_yuan)
        use = min(m.balance, cap, rng.choice([100, 200, 300, 500])) // 100 * 100
    value = yuan_down(Decimal(use) / conf.points_per_cash_yuan)
    cash = payable - value
    ref = f"DEMO-{m.pk}-{k}"
    if use:
        left = use
        for lot in sorted(m.lots, key=lambda lot: (lot[5] is None, lot[5] or at, lot[12])):
            take = min(left, lot[4])
            lot[4] -= take
            left -= take
            if not left:
                break
        m.balance -= use
        entries.append(
            [
                m.pk,
                "redeem",
                -use,
                m.balance,
                0,
                None,
                0,
                f"purchase:{ref}:redeem",
                "积分抵现",
                "",
                ref,
                "",
                at,
            ]
        )
    day = timezone.localdate(at)
    mult = m.tier.points_multiplier
    for rule in rules:
        if rule.applies(category=category, day=day):
            mult *= rule.multiplier
    earned = math.floor(cash * conf.points_per_yuan * mult)
    if earned:
        m.balance += earned
        lot = [
            m.pk,
            "earn",
            earned,
            m.balance,
            earned,
            expiry_for(at, conf),
            0,
            f"purchase:{ref}:earn",
            "消费",
            f"{m.tier.name} ×{mult.normalize():f}",
            ref,
            "",
            at,
        ]
        entries.append(lot)
        m.lots.append(lot)
    g = math.floor(cash * conf.growth_per_yuan)
    if g:
        m.growth += g
        growth.append((m.pk, g, m.growth, "消费", f"purchase:{ref}:growth", ref, at))
    m.spent += cash
    m.count += 1
    m.first = m.first or at
    m.last = at
    for tier in reversed(tiers):
        if tier.level > m.tier.level and m.spent >= tier.qualify_threshold:
            changes.append((m.pk, m.tier.pk, tier.pk, TierChange.Reason.UPGRADE, "", at))
            m.tier, m.tier_since = tier, at
            break
    purchases.append(
        (
            m.pk,
            m.store_id,
            ref,
            Purchase.Channel.COUNTER,
            category,
            amount,
            discount,
            Decimal("0.00"),
            use,
            value,
            cash,
            earned,
            "",
            Decimal("0.00"),
            Purchase.Status.COMPLETED,
            m.balance,
            m.tier.name,
            at,
            at,
        )
    )


def _refund_a_few(rng, now):
    """A handful of refunds through the real service, so the demo shows them."""
    recent = list(Purchase.objects.filter(status=Purchase.Status.COMPLETED).order_by("-pk")[:200])
    for purchase in rng.sample(recent, min(5, len(recent))):
        half = yuan(purchase.cash_paid / 2)
        if half > 0:
            purchase_refund(purchase=purchase, amount=half, reason="演示：部分退款", now=now)


def _demo_api_key(stdout):
    store = Store.objects.filter(code="SH01").first()
    if store is None or ApiKey.objects.filter(store=store, name="演示 POS").exists():
        return
    _obj, key = ApiKey.issue(store=store, name="演示 POS")
    if stdout:
        stdout.write(f"Demo POS API key for SH01 (shown once): {key}")
