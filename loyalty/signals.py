"""Events loyalty sends upwards (campaigns turns them into messages). Sent on commit."""

from django.dispatch import Signal

# kwargs: purchase_id, member_id
purchase_recorded = Signal()
# kwargs: member_id, entry_id
points_changed = Signal()
# kwargs: member_id, from_tier_id, to_tier_id, reason
tier_changed = Signal()
# kwargs: items, a list of (member_id, last valid day, points) — from notify_expiring_points
points_expiring = Signal()
# kwargs: items, a list of (member_id, tier_id, downgrade day, "inactive" | "review")
tier_downgrade_warning = Signal()
# kwargs: coupon_id, member_id, source — sent on commit of coupon_issue
coupon_issued = Signal()
# kwargs: items, a list of (member_id, from_tier_id, to_tier_id); note — review_tiers, on commit
tiers_downgraded = Signal()
