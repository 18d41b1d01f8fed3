"""A member deleted their account (PIPL): what they held in loyalty is forfeited.

The erase page tells them their points, coupons and tier are lost; this makes it so,
inside members' erasure transaction (the member_erased signal), through the same
services the counter and the jobs use, so every change has its ledger row or coupon
event and `check_ledger` still balances. The ledger, purchases and coupons stay, under
the anonymised member, for the merchant's books. Safe to run twice: the second run
finds nothing left to forfeit.
"""

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from loyalty.coupons import coupon_void
from loyalty.errors import CouponNotUsable
from loyalty.ledger import forfeit_reason, points_adjust, points_expire_member
from members.models import Member, User

from .benefits.rewards import RedemptionNotPossible, redemption_cancel
from .models import Card, Coupon, Redemption


@dataclass(frozen=True)
class Forfeited:
    points: int = 0
    debt: int = 0
    coupons: int = 0
    redemptions: int = 0


@transaction.atomic
def loyalty_erase(
    *, member: Member, actor: User | None = None, now: dt.datetime | None = None
) -> Forfeited:
    """Cancel rewards awaiting pickup, void usable coupons, write off points owed and
    forfeit the balance (an "adjust" row, key f"erase:{member.pk}")."""
    now = now or timezone.now()
    # The reasons are records for staff, written in the house language whatever the
    # member's browser asked for (as member_erase names the erased member).
    with translation.override(settings.LANGUAGE_CODE):
        reason = _("The member deleted their account")
        # Locks the card first (held to the end of the erasure) and expires the lots
        # already due, so those count as expired, not as forfeited.
        points_expire_member(member=member, now=now)
        redemptions = _cancel_pickups(member, actor=actor, reason=reason, now=now)
        coupons = _void_coupons(member, actor=actor, reason=reason, now=now)
        card = Card.objects.get(pk=member.pk)  # after the refunds of the cancelled pickups
        debt, points = card.points_debt, 0
        if debt:
            # The ledger knows one way to clear points owed: a new lot repays them
            # (ledger.lot_add). A lot of exactly the debt leaves the balance as it was.
            points_adjust(
                member=member,
                delta=debt,
                reason=_("Points owed written off: %(reason)s") % {"reason": reason},
                actor=actor,
                key=f"erase:{member.pk}:debt",
                now=now,
            )
            card.refresh_from_db(fields=["points_balance", "points_debt"])
        if card.points_balance > 0:
            points = card.points_balance
            points_adjust(
                member=member,
                delta=-points,
                reason=forfeit_reason(),
                actor=actor,
                key=f"erase:{member.pk}",
                now=now,
            )
    return Forfeited(points=points, debt=debt, coupons=coupons, redemptions=redemptions)


def _cancel_pickups(member: Member, *, actor, reason: str, now) -> int:
    """Goods not picked up go back to stock. Their points come back to the card (as
    redemption_cancel does) and are forfeited with the rest of the balance."""
    cancelled = 0
    waiting = Redemption.objects.filter(
        member=member, status=Redemption.Status.AWAITING_PICKUP
    ).select_related("reward")
    for redemption in waiting.order_by("id"):
        try:
            redemption_cancel(redemption=redemption, actor=actor, reason=reason, now=now)
        except RedemptionNotPossible:
            continue  # handed over at a counter meanwhile: nothing to cancel
        cancelled += 1
    return cancelled


def _void_coupons(member: Member, *, actor, reason: str, now) -> int:
    """Coupons still usable (or usable later) are voided, so their code is refused at any
    counter. Those past their last day are left to the expiry job, as for everyone."""
    voided = 0
    usable = Coupon.objects.filter(member=member, status=Coupon.Status.ISSUED, valid_until__gt=now)
    for coupon in usable.order_by("id"):
        try:
            coupon_void(coupon=coupon, actor=actor, reason=reason, now=now)
        except CouponNotUsable:
            continue  # used at a counter meanwhile
        voided += 1
    return voided
