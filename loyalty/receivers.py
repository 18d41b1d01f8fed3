from members.models import Member

from .services import card_create


def create_card(sender, member, **kwargs):
    card_create(member=member)


def welcome(sender, member, **kwargs):
    """Inside the registration transaction: the welcome offer for those who signed up."""
    from .benefits.welcome import WELCOMED_SOURCES, welcome_grant

    if member.source in WELCOMED_SOURCES:
        # The card create_card made just before, in this transaction: held already.
        card = member.card if Member.card.is_cached(member) else None
        welcome_grant(member=member, now=member.created_at, card=card)


def reward_referrer(sender, member, **kwargs):
    """Inside the registration transaction, after the card: link and reward the referrer."""
    if member.referred_by_id:
        from .benefits.engagement import referral_register

        referral_register(invitee=member, now=member.created_at)


def reward_profile(sender, member, fields, **kwargs):
    """Name, gender and birthday all filled in: the profile points, once."""
    if {"name", "gender", "birthday"} & set(fields):
        from .benefits.engagement import profile_reward

        profile_reward(member=member)


def erase(sender, member, actor=None, **kwargs):
    """Inside the erasure transaction: the points, coupons and pickups the member gave up."""
    from .erasure import loyalty_erase

    loyalty_erase(member=member, actor=actor, now=member.erased_at)


def seed_demo(sender, member_ids, purchases, rng, stdout, **kwargs):
    from .demo.members import seed_loyalty

    seed_loyalty(member_ids=member_ids, purchases=purchases, rng=rng, stdout=stdout)
