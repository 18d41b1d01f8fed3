"""Demo segments (seed_demo): a few a coffee chain would keep, one with a rule tag."""

from django.utils import timezone

from members.models import Tag

from ..models import Segment
from .services import segments_refresh

DEMO_SEGMENTS = [
    ("沉睡的大客户", "半年没来、累计消费 300 元以上：发券唤回",
     {"all": [{"field": "lifecycle", "op": "in", "value": ["dormant", "churned"]},
              {"field": "total_spent", "op": "gte", "value": 300}]}, None),
    ("积分即将过期", "30 天内有积分到期：提醒来店兑换",
     {"all": [{"field": "points_expiring_days", "op": "lte", "value": 30}]}, None),
    ("新客待转化", "注册不久、最多消费过一次：第二杯半价",
     {"all": [{"field": "lifecycle", "op": "eq", "value": "new"},
              {"field": "purchase_count", "op": "lte", "value": 1}]}, None),
    ("重要价值客户", "RFM 三项都高：专属礼遇",
     {"all": [{"field": "rfm", "op": "eq", "value": "champions"}]}, "高价值客户"),
    ("高价值但久未到店", "消费多、来得勤，但近期没来：店长回访",
     {"any": [{"field": "rfm", "op": "eq", "value": "important_keep"},
              {"all": [{"field": "rfm_m", "op": "gte", "value": 4},
                       {"field": "days_since_last_purchase", "op": "gte", "value": 60}]}]},
     None),
]  # fmt: skip


def seed_segments(sender, stdout, **kwargs):
    """demo_seeded receiver (after loyalty's, which staged and scored the cards)."""
    for name, description, rules, tag_name in DEMO_SEGMENTS:
        tag = None
        if tag_name:
            tag, _made = Tag.objects.get_or_create(
                name=tag_name, defaults={"kind": Tag.Kind.RULE, "description": description}
            )
        Segment.objects.get_or_create(
            name=name, defaults={"description": description, "rules": rules, "tag": tag}
        )
    counts = segments_refresh(timezone.localdate())
    stdout.write(f"  segments: {Segment.objects.count()} ({counts})")
