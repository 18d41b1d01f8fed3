"""Demo coupons, rewards, redemptions and check-ins, made through the real services.

A bounded sample of members (whatever the demo's size), so the counter, the member
centre and the dashboard have something to show, and every point moved is in
the ledger exactly as in production.
"""

import datetime as dt
import random
from decimal import Decimal

from django.utils import timezone

from loyalty.benefits.engagement import AlreadyCheckedIn, checkin
from loyalty.benefits.issuing import CouponNotIssued, coupon_issue
from loyalty.benefits.rewards import RewardNotAvailable, redemption_fulfil, reward_redeem
from loyalty.coupons import coupon_redeem, coupons_expire
from loyalty.demo.prepaid import seed_count_cards, seed_stored_value
from loyalty.errors import CouponNotUsable, NotEnoughPoints
from loyalty.models import Card, Coupon, CouponTemplate, LoyaltySettings, Reward, Tier

COUPON_MEMBERS = 600
CHECKIN_MEMBERS = 60
REDEEMING_MEMBERS = 80


def _templates() -> list[CouponTemplate]:
    if CouponTemplate.objects.exists():
        return list(CouponTemplate.objects.filter(active=True))
    specs = [
        {
            "name": "新人立减 10 元",
            "code": "new10",
            "kind": "cash",
            "value": Decimal("10"),
            "valid_days": 30,
        },
        {
            "name": "满 100 减 20",
            "code": "full100-20",
            "kind": "threshold",
            "value": Decimal("20"),
            "min_spend": Decimal("100"),
            "valid_days": 14,
            "per_member_limit": 2,
        },
        {
            "name": "会员 9 折券",
            "code": "vip90",
            "kind": "percent",
            "value": Decimal("0.90"),
            "max_discount": Decimal("30"),
            "valid_days": 30,
        },
        {
            "name": "咖啡豆 85 折",
            "code": "beans85",
            "kind": "percent",
            "value": Decimal("0.85"),
            "categories": "咖啡豆",
            "valid_days": 60,
        },
        {
            "name": "生日赠饮",
            "code": "birthday-drink",
            "kind": "gift",
            "value": Decimal("32"),
            "gift_name": "任意中杯饮品",
            "valid_days": 7,
        },
        {
            "name": "周年庆满 200 减 50",
            "code": "anniv200-50",
            "kind": "threshold",
            "value": Decimal("50"),
            "min_spend": Decimal("200"),
            "stock": 500,
            "valid_from": dt.date(2026, 12, 1),
            "valid_until": dt.date(2026, 12, 31),
        },
    ]
    made = [CouponTemplate.objects.create(**spec) for spec in specs]
    by_name = {t.name: t for t in made}
    conf = LoyaltySettings.current()
    conf.checkin_streak_coupon = by_name["新人立减 10 元"]
    conf.welcome_coupon = by_name["新人立减 10 元"]
    conf.member_day = 8
    conf.save()
    # Seed 001: silver 1 x 9折 a month, gold 2, diamond 3; a birthday drink for everyone.
    Tier.objects.update(birthday_coupon=by_name["生日赠饮"])
    for level, count in ((2, 1), (3, 2), (4, 3)):
        Tier.objects.filter(level=level).update(
            monthly_coupon=by_name["会员 9 折券"], monthly_coupon_count=count
        )
    return made


def _rewards(templates) -> list[Reward]:
    if Reward.objects.exists():
        return list(Reward.objects.filter(active=True))
    by_name = {t.name: t for t in templates}
    specs = [
        {"name": "品牌帆布袋", "kind": "goods", "points_cost": 800, "stock": 200},
        {"name": "挂耳咖啡 10 包", "kind": "goods", "points_cost": 1500, "stock": 100},
        {
            "name": "随行杯（积分 + 现金）",
            "kind": "goods",
            "points_cost": 1000,
            "cash_part": Decimal("29.90"),
            "stock": 50,
            "per_member_limit": 1,
        },
        {
            "name": "10 元无门槛券",
            "kind": "coupon",
            "points_cost": 1000,
            "coupon_template": by_name.get("新人立减 10 元"),
        },
    ]
    return [Reward.objects.create(**spec) for spec in specs]


def seed_benefits(*, member_ids, rng: random.Random, now=None, stdout=None) -> None:
    now = now or timezone.now()
    templates = _templates()
    rewards = _rewards(templates)
    ids = list(member_ids)
    if not ids:
        return
    issued = used = expired = 0
    for pk in rng.sample(ids, min(COUPON_MEMBERS, len(ids))):
        member = Card.objects.select_related("member").get(pk=pk).member
        template = rng.choice(templates)
        roll = rng.random()
        # Some were issued long enough ago to have expired by now.
        when = now - dt.timedelta(days=rng.randint(40, 90)) if roll < 0.2 else now
        try:
            coupon, _created = coupon_issue(
                template=template,
                member=member,
                source=rng.choice([Coupon.Source.STAFF, Coupon.Source.CAMPAIGN]),
                now=when,
            )
        except CouponNotIssued:
            continue
        issued += 1
        if roll > 0.75 and template.kind in ("gift", "cash"):
            try:
                coupon_redeem(code=coupon.code, store=member.store, member=member, now=now)
                used += 1
            except CouponNotUsable:
                pass
    expired = coupons_expire(now=now)
    redeemed = _redeem_rewards(ids, rewards, rng, now)
    checked = _checkins(ids, rng, now)
    topped, spent = seed_stored_value(member_ids=ids, rng=rng, now=now)
    cards, uses = seed_count_cards(member_ids=ids, rng=rng, now=now)
    from loyalty.jobs import lifecycle_and_rfm

    lifecycle_and_rfm(timezone.localdate(now), now=now)
    if stdout:
        stdout.write(
            f"  benefits: {issued} coupons ({used} used, {expired} expired), "
            f"{redeemed} reward redemptions, {checked} check-ins, "
            f"{topped} stored-value top-ups ({spent} purchases paid with it), "
            f"{cards} count cards ({uses} uses)"
        )


def _redeem_rewards(ids, rewards, rng, now) -> int:
    goods = [r for r in rewards if r.points_cost]
    rich = list(
        Card.objects.filter(pk__in=ids[:50_000], points_balance__gte=1000)
        .select_related("member")
        .order_by("-points_balance")[:REDEEMING_MEMBERS]
    )
    done = 0
    for card in rich:
        reward = rng.choice(goods)
        try:
            redemption, _created = reward_redeem(
                member=card.member,
                reward=reward,
                key=f"demo:{card.pk}:{reward.pk}",
                now=now - dt.timedelta(days=rng.randint(0, 20)),
            )
        except (NotEnoughPoints, RewardNotAvailable):
            continue
        done += 1
        if redemption.status == "awaiting" and rng.random() < 0.5:
            redemption_fulfil(code=redemption.pickup_code, store=card.member.store, actor=None)
    return done


def _checkins(ids, rng, now) -> int:
    """A few regulars: streaks over the last two weeks, with a missed day here and there."""
    done = 0
    today = timezone.localdate(now)
    for pk in rng.sample(ids, min(CHECKIN_MEMBERS, len(ids))):
        member = Card.objects.select_related("member").get(pk=pk).member
        for back in range(13, -1, -1):
            if rng.random() < 0.15:
                continue  # a missed day breaks the streak
            day = today - dt.timedelta(days=back)
            at = timezone.make_aware(dt.datetime.combine(day, dt.time(8 + rng.randint(0, 12))))
            if at > now:
                continue
            try:
                checkin(member=member, now=at)
                done += 1
            except AlreadyCheckedIn:
                pass
    return done
