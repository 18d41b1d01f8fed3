"""Events members sends upwards; loyalty, campaigns and wechat connect to them.

Sent inside the service's transaction: a receiver that writes (loyalty's Card)
commits or rolls back with the member. Slow work belongs in on_commit hooks.
"""

from django.dispatch import Signal

# kwargs: member, actor (a staff user or None)
member_registered = Signal()
# kwargs: member, actor
member_erased = Signal()
# kwargs: member (as saved), actor, fields (names of the changed fields)
member_updated = Signal()
# Sent by seed_demo after members are in, so loyalty and campaigns can add their
# demo data. kwargs: member_ids (a queryset of the new members' ids), purchases
# (how many to make), rng (random.Random), stdout (for progress lines).
demo_seeded = Signal()
