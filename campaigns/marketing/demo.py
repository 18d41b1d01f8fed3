"""Demo campaigns (seed_demo): a finished A/B broadcast with a holdout whose report
shows a result, and two active journeys.

The broadcast went out 20 days ago (its times shifted back) to a tagged sample of at
most AUDIENCE members, whatever the demo's size: 9折券 (A) against 满 100 减 20 (B),
10 % held out. Some members of each group then bought within the attribution window,
through the real purchase service (using their campaign coupon, mostly), more of
B's than of A's and more of A's than of the holdout's, so the report has a verdict.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from loyalty.coupons import coupons_expire
from loyalty.dates import local_midnight
from loyalty.errors import LoyaltyError
from loyalty.models import Coupon, CouponTemplate
from loyalty.purchases import purchase_record
from members.models import Member, Tag
from members.services import member_tags_add

from ..models import Segment
from ..segments.services import segment_recount
from .journeys import journey_start
from .models import Campaign, CampaignMember, Variant
from .sending import campaign_send, campaign_start

AUDIENCE = 600
SENT_DAYS_AGO = 20
DEMO_TAG = "活动演示人群"
BROADCAST = "演示：9 折券 vs 满 100 减 20"
# Extra buyers within the window, per group (the demo's own purchases come on top).
BUYERS = {"A": 0.12, "B": 0.28, None: 0.02}
COUPON_USE = 0.75
# The journeys' own coupons, without a per-member limit: a journey gives its offer at
# every occurrence (each birthday, each return), and the demo's birthday-drink and new10
# are already the tiers' birthday coupon and the welcome coupon (limit 1: refused).
JOURNEY_COUPONS = [
    {"name": "生日甜点", "code": "birthday-dessert", "kind": "gift", "value": Decimal("18"),
     "gift_name": "任意甜点一份", "valid_days": 10, "per_member_limit": 0},
    {"name": "回归礼满 50 减 15", "code": "welcome-back", "kind": "threshold",
     "value": Decimal("15"), "min_spend": Decimal("50"), "valid_days": 14,
     "per_member_limit": 0},
]  # fmt: skip


def seed_campaigns(sender, member_ids, rng, stdout, **kwargs):
    """demo_seeded receiver (after loyalty's, which made the coupon templates)."""
    codes = {"vip90", "full100-20"}  # loyalty's demo coupons (not when the merchant's own)
    templates = {t.code: t for t in CouponTemplate.objects.filter(code__in=codes)}
    made = []
    if set(templates) == codes and not Campaign.objects.filter(name=BROADCAST).exists():
        made.append(demo_broadcast(member_ids, templates, rng))
    made += demo_journeys()
    if stdout and made:
        stdout.write(f"  campaigns: {', '.join(made)}")


def sample(member_ids) -> list[int]:
    if hasattr(member_ids, "order_by"):  # a queryset: the first AUDIENCE, not a million
        return list(member_ids.order_by("pk")[:AUDIENCE])
    return sorted(member_ids)[:AUDIENCE]


def demo_broadcast(member_ids, templates, rng) -> str:
    ids = sample(member_ids)
    tag, _made = Tag.objects.get_or_create(
        name=DEMO_TAG, defaults={"description": "演示营销活动的目标人群"}
    )
    member_tags_add(members=Member.objects.filter(pk__in=ids), tag=tag, actor=None)
    segment, _made = Segment.objects.get_or_create(
        name=DEMO_TAG,
        defaults={
            "description": "演示用：打了「活动演示人群」标签的会员",
            "rules": {"all": [{"field": "tag", "op": "eq", "value": DEMO_TAG}]},
        },
    )
    segment_recount(segment)
    sent_at = local_midnight(timezone.localdate() - dt.timedelta(days=SENT_DAYS_AGO))
    sent_at += dt.timedelta(hours=10, minutes=30)
    campaign = Campaign.objects.create(
        name=BROADCAST,
        segment=segment,
        channels=["inbox"],
        title="老朋友专享券",
        message="{name}，送你一张{coupon}，有效期至{expires}，来店里坐坐吧。",
        holdout_percent=10,
        attribution_days=14,
        created_at=sent_at - dt.timedelta(days=1),
    )
    Variant.objects.create(campaign=campaign, name="A", coupon_template=templates["vip90"])
    Variant.objects.create(campaign=campaign, name="B", coupon_template=templates["full100-20"])
    campaign_start(campaign, now=sent_at)
    campaign_send(campaign.pk, now=sent_at)
    Campaign.objects.filter(pk=campaign.pk).update(finished_at=sent_at + dt.timedelta(minutes=3))
    bought = demo_purchases(campaign, sent_at, rng)
    coupons_expire()  # B's coupons (14 days) ended before today
    return f"{BROADCAST} ({len(ids)} members, {bought} purchases in the window)"


def demo_purchases(campaign: Campaign, sent_at: dt.datetime, rng) -> int:
    """Buyers within the window, a share per group; most use their campaign coupon."""
    coupons = dict(
        Coupon.objects.filter(issue_key__startswith=f"campaign:{campaign.pk}:").values_list(
            "member_id", "code"
        )
    )
    rows = (
        CampaignMember.objects.filter(campaign=campaign)
        .select_related("variant", "member__store")
        .order_by("pk")
    )
    bought = 0
    for row in rows:
        group = row.variant.name if row.variant else None
        if rng.random() >= BUYERS[group]:
            continue
        at = sent_at + dt.timedelta(days=rng.randint(1, 12), minutes=rng.randint(0, 540))
        # 满 100 减 20 needs 100 yuan: B's buyers spend more.
        low = 100 if group == "B" else 35
        amount = Decimal(rng.randrange(low * 100, (low + 80) * 100)) / 100
        code = coupons.get(row.member_id, "") if rng.random() < COUPON_USE else ""
        for coupon_code in dict.fromkeys([code, ""]):  # without the coupon if it is refused
            try:
                purchase_record(
                    member=row.member,
                    amount=amount,
                    external_ref=f"DEMO-C{campaign.pk}-{row.member_id}",
                    store=row.member.store,
                    category="咖啡",
                    coupon_code=coupon_code,
                    occurred_at=at,
                    now=at,
                )
            except LoyaltyError:
                continue
            bought += 1
            break
    return bought


def demo_journeys() -> list[str]:
    """Two journeys, active: a birthday gift 3 days before, a win-back after 30 days."""
    templates = {}
    for spec in JOURNEY_COUPONS:
        code = spec["code"]
        templates[code], _made = CouponTemplate.objects.get_or_create(code=code, defaults=spec)
    made = []
    specs = [
        (
            {
                "name": "生日前 3 天送券",
                "trigger": Campaign.Trigger.BIRTHDAY,
                "trigger_days": 3,
                "title": "生日快乐",
                "message": "{name}，还有 3 天就是你的生日啦！加赠一份{coupon}，有效期至{expires}。",
            },
            [{"name": "A", "coupon_template": templates["birthday-dessert"]}],
        ),
        (
            {
                "name": "30 天未消费唤回",
                "trigger": Campaign.Trigger.INACTIVE,
                "trigger_days": 30,
                "title": "好久不见",
                "message": "{name}，好久不见！送你{coupon}，有效期至{expires}，回来喝一杯吧。",
            },
            [
                {"name": "A", "coupon_template": templates["welcome-back"]},
                {"name": "B", "points": 100,
                 "message": "{name}，好久不见！送你 100 积分，现有 {points} 积分，回来喝一杯吧。"},
            ],
        ),
    ]  # fmt: skip
    for fields, variants in specs:
        if Campaign.objects.filter(name=fields["name"]).exists():
            continue
        campaign = Campaign.objects.create(
            kind=Campaign.Kind.JOURNEY, channels=["inbox", "wechat"], holdout_percent=10, **fields
        )
        for variant in variants:
            Variant.objects.create(campaign=campaign, **variant)
        journey_start(campaign)
        made.append(fields["name"])
    return made
