"""Events loyalty sends upwards (campaigns turns them into messages).

Sent inside the transaction of their cause, with the objects they are about (the
ids too, for receivers that keep only those): a receiver's writes commit or roll
back with the change, and it needs no read to learn what happened. Receivers must
be quick and must not send anything themselves (campaigns only writes the outbox).
The nightly jobs' batch events (points_expiring, tier_downgrade_warning,
tiers_downgraded, count_cards_expired, coupons_expiring) carry plain tuples.
"""

from django.dispatch import Signal

# kwargs: purchase_id, member_id, purchase
purchase_recorded = Signal()
# kwargs: member_id, entry (a StoredValueEntry: a top-up or a cash-out), card, offer (the
# top-up offer or None). The offer's coupon and points are given by a receiver.
stored_value_changed = Signal()
# kwargs: member_id, card (a CountCard, as it is after the change), entry (its
# CountCardEntry: a sale, a use, an expiry found at a use, or a refund), stored_value_entry
# (the StoredValueEntry of a sale or a refund paid through stored value, else None).
count_card_changed = Signal()
# kwargs: items, a list of (member_id, count card id, card name, uses forfeited) — from
# count_cards_expire, a batch at a time, inside the batch's transaction.
count_cards_expired = Signal()
# kwargs: items, a list of (member_id, count card id, card name, uses left, last valid day)
# — from the notify_expiring_count_cards job, a batch at a time.
count_cards_expiring = Signal()
# Sent by the kernel (purchases.py) for the benefits above it, inside the transaction,
# on the member's locked card before its figures are saved: a receiver may add to the
# card (ledger.lot_add) and the sender saves it. Receivers must not catch errors of
# their own writes: an error rolls the purchase or refund back.
# kwargs: card, member, purchase, now, conf — the member's first purchase.
first_purchase = Signal()
# kwargs: card, purchase, actor, now — the purchase was refunded in full.
purchase_refunded = Signal()
# kwargs: member_id, refund (the Refund: points clawed back and returned, stored value
# returned), purchase — every refund, full or partial, inside its transaction.
refund_recorded = Signal()
# kwargs: member_id, entry_id, entry
points_changed = Signal()
# kwargs: member_id, from_tier_id, to_tier_id, reason, from_tier, to_tier, change_id (the
# TierChange row)
tier_changed = Signal()
# kwargs: items, a list of (member_id, last valid day, points) — from notify_expiring_points
points_expiring = Signal()
# kwargs: items, a list of (member_id, coupon id, coupon name, last valid day) — from the
# notify_expiring_coupons job, a batch at a time.
coupons_expiring = Signal()
# kwargs: items, a list of (member_id, tier_id, downgrade day, "inactive" | "review")
tier_downgrade_warning = Signal()
# kwargs: coupon_id, member_id, source, coupon
coupon_issued = Signal()
# kwargs: items, a list of (member_id, from_tier_id, to_tier_id); note — review_tiers, on commit
tiers_downgraded = Signal()
# kwargs: member, points (the welcome points given now, 0 if none), coupon (or None).
# Sent once per welcomed registration, gift or not: the welcome notice tells the gift,
# so the welcome's own points and coupon events send no notice of their own.
welcomed = Signal()
