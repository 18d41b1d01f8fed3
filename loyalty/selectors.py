"""Reads shared by the counter (staff) and the member centre (member) screens."""

import datetime as dt
from decimal import Decimal

from django.db.models import Min, Sum
from django.utils.translation import gettext as _

from loyalty.tiers import qualifying_metric
from members.models import Member

from .dates import last_valid_day
from .models import Card, LoyaltySettings, PointsEntry, Tier
from .rules import shown_rules

EXPIRING_DAYS = 30


def card_of(member: Member) -> Card:
    """The member's card with its tier (joined already by the counter's lookup)."""
    if Member.card.is_cached(member):  # joined by the lookup (select_related "card__tier")
        try:
            return member.card
        except Card.DoesNotExist:
            return Card(member=member)
    card = Card.objects.select_related("tier").filter(pk=member.pk).first()
    return card or Card(member=member)  # unsaved, all zero: a bulk path skipped it


def tier_progress(card: Card, conf: LoyaltySettings, now) -> dict | None:
    """How far the member is from the next tier, in the tier basis' unit, or None at the top."""
    level = card.tier.level if card.tier else 0
    upcoming = next((tier for tier in shown_rules().tiers if tier.level > level), None)
    if upcoming is None:
        return None
    metric = qualifying_metric(card, conf, now) if card.pk else Decimal(0)
    target = upcoming.qualify_threshold
    percent = 100 if target <= 0 else min(100, int(metric * 100 / target))
    missing = max(target - metric, Decimal(0))
    basis = conf.tier_basis
    if basis == LoyaltySettings.TierBasis.SPEND:
        text = _("Spend ¥%(n)s more to reach %(tier)s.") % {"n": missing, "tier": upcoming.name}
    elif basis == LoyaltySettings.TierBasis.VISITS:
        text = _("%(n)d more purchases to reach %(tier)s.") % {
            "n": int(missing),
            "tier": upcoming.name,
        }
    else:
        text = _("%(n)d more growth points to reach %(tier)s.") % {
            "n": int(missing),
            "tier": upcoming.name,
        }
    return {"tier": upcoming, "percent": percent, "text": text}


def tier_perks(tier: Tier | None) -> list[str]:
    """What a tier brings, said from its own rules (the price rate, the points
    multiplier, the birthday and monthly coupons: what the counter and the jobs apply),
    then the merchant's free text. The coupon names come from the tiers the screens
    keep a few seconds (loyalty.rules.shown_rules), read with their coupons."""
    if tier is None:
        return []
    tier = next((t for t in shown_rules().tiers if t.pk == tier.pk), tier)
    perks = []
    if tier.discount_rate < 1:
        zhe = f"{(tier.discount_rate * 10).normalize():f}"
        off = f"{((1 - tier.discount_rate) * 100).normalize():f}"
        perks.append(_("%(off)s%% off every purchase (%(zhe)s折)") % {"off": off, "zhe": zhe})
    if tier.points_multiplier != 1:
        perks.append(
            _("points ×%(m)s on purchases") % {"m": f"{tier.points_multiplier.normalize():f}"}
        )
    if tier.birthday_coupon_id:
        perks.append(_("a birthday coupon: %(name)s") % {"name": tier.birthday_coupon.name})
    if tier.monthly_coupon_id and tier.monthly_coupon_count:
        perks.append(
            _("%(n)d × %(name)s every month")
            % {"n": tier.monthly_coupon_count, "name": tier.monthly_coupon.name}
        )
    if tier.benefits.strip():
        perks.append(tier.benefits.strip())
    return perks


def expiring_points(member: Member, now, days: int = EXPIRING_DAYS) -> dict:
    """Points expiring within `days`, and the last day the soonest of them can be used."""
    soon = PointsEntry.objects.filter(
        member=member,
        remaining__gt=0,
        expires_at__gt=now,
        expires_at__lte=now + dt.timedelta(days=days),
    ).aggregate(points=Sum("remaining"), first=Min("expires_at"))
    first = soon["first"]
    # expires_at is the first instant after the last valid day.
    last_day = last_valid_day(first) if first else None
    return {"points": soon["points"] or 0, "last_day": last_day}
