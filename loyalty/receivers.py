"""What loyalty does when members or the kernel announce something: connected in
LoyaltyConfig.ready(), run inside the transaction of their cause."""

from members.models import Member

from .benefits.engagement import (
    profile_reward,
    referral_first_purchase,
    referral_refund,
    referral_register,
)
from .benefits.welcome import WELCOMED_SOURCES, welcome_grant
from .demo.members import seed_loyalty
from .erasure import loyalty_erase
from .ledger import card_create


def create_card(sender, member, **kwargs):
    card_create(member=member)


def welcome(sender, member, **kwargs):
    """Inside the registration transaction: the welcome offer for those who signed up."""
    if member.source in WELCOMED_SOURCES:
        # The card create_card made just before, in this transaction: held already.
        card = member.card if Member.card.is_cached(member) else None
        welcome_grant(member=member, now=member.created_at, card=card)


def reward_referrer(sender, member, **kwargs):
    """Inside the registration transaction, after the card: link and reward the referrer."""
    if member.referred_by_id:
        referral_register(invitee=member, now=member.created_at)


def reward_profile(sender, member, fields, **kwargs):
    """Name, gender and birthday all filled in: the profile points, once."""
    if {"name", "gender", "birthday"} & set(fields):
        profile_reward(member=member)


def reward_first_purchase(sender, card, member, purchase, now, conf, **kwargs):
    """Inside the member's first purchase (signals.first_purchase): the referral's rewards."""
    if member.referred_by_id:
        referral_first_purchase(card=card, invitee=member, purchase=purchase, now=now, conf=conf)


def take_back_referral(sender, card, purchase, actor, now, **kwargs):
    """Inside a full refund (signals.purchase_refunded): a first purchase's referral rewards."""
    referral_refund(card=card, purchase=purchase, actor=actor, now=now)


def erase(sender, member, actor=None, **kwargs):
    """Inside the erasure transaction: the points, coupons and pickups the member gave up."""
    loyalty_erase(member=member, actor=actor, now=member.erased_at)


def seed_demo(sender, member_ids, purchases, rng, stdout, **kwargs):
    seed_loyalty(member_ids=member_ids, purchases=purchases, rng=rng, stdout=stdout)
