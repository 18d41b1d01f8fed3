"""Events loyalty sends upwards (campaigns turns them into messages). Sent on commit."""

from django.dispatch import Signal

# kwargs: purchase_id, member_id
purchase_recorded = Signal()
# kwargs: member_id, entry_id
points_changed = Signal()
# kwargs: member_id, from_tier_id, to_tier_id, reason
tier_changed = Signal()
