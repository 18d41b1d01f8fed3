"""Who gets which variant: a hash of (campaign, member) picks one of 10,000 buckets;
the first holdout_percent of them are the holdout (nothing sent), the rest are split
among the variants by weight, in the order of their names. The same campaign and
member always land in the same place, so re-running or resending never moves anyone,
and the shares converge to the percentages (tests/campaigns/test_campaigns.py).
"""

import hashlib

BUCKETS = 10_000


def bucket(campaign_id: int, member_id: int) -> int:
    digest = hashlib.sha256(f"campaign:{campaign_id}:member:{member_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def assign(campaign, variants: list, member_id: int):
    """The member's variant (of `variants`, ordered by name), or None: the holdout."""
    place = bucket(campaign.pk, member_id)
    holdout = campaign.holdout_percent * BUCKETS // 100
    if place < holdout or not variants:
        return None
    span = BUCKETS - holdout
    total = sum(v.weight for v in variants)
    position, upto = place - holdout, 0
    for variant in variants:
        upto += variant.weight
        if position < span * upto // total:
            return variant
    return variants[-1]
