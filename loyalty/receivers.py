"""What loyalty does when members or the kernel announce something: connected in
LoyaltyConfig.ready(), run inside the transaction of their cause."""

import contextlib

from members.models import Member

from .benefits.engagement import (
    profile_reward,
    referral_first_purchase,
    referral_refund,
    referral_register,
)
from .benefits.issuing import CouponNotIssued, coupon_issue_on_card
from .benefits.welcome import WELCOMED_SOURCES, welcome_grant
from .demo.members import seed_loyalty
from .erasure import loyalty_erase
from .ledger import card_create, expiry_for, points_award_on_card
from .models import Coupon, LoyaltySettings, StoredValueEntry


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


def top_up_gifts(sender, member_id, entry, card, offer, **kwargs):
    """Inside a top-up (signals.stored_value_changed), on its locked card: the offer's
    coupon and points, once per top-up (keyed by its reference)."""
    if offer is None or entry.kind != StoredValueEntry.Kind.TOP_UP:
        return
    key = f"top_up:{entry.reference}"
    if offer.points:
        points_award_on_card(
            card, points=offer.points, key=f"{key}:points", reason=offer.name,
            source=f"top_up:{entry.reference}", actor=entry.actor, now=entry.created_at,
            expires_at=expiry_for(entry.created_at, LoyaltySettings.current()),
        )  # fmt: skip
    if offer.coupon_id:
        # Out of stock or ended: the money and the bonus still count.
        with contextlib.suppress(CouponNotIssued):
            coupon_issue_on_card(
                card, template=offer.coupon, member=card.member, source=Coupon.Source.TOP_UP,
                actor=entry.actor, key=f"{key}:coupon", note=offer.name, apply_limits=False,
                now=entry.created_at,
            )  # fmt: skip


def erase(sender, member, actor=None, **kwargs):
    """Inside the erasure transaction: the points, coupons and pickups the member gave up."""
    loyalty_erase(member=member, actor=actor, now=member.erased_at)


def seed_demo(sender, member_ids, purchases, rng, stdout, **kwargs):
    seed_loyalty(member_ids=member_ids, purchases=purchases, rng=rng, stdout=stdout)
