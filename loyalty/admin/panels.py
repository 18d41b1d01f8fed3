"""The loyalty panel of a member's admin page (members.admin.MEMBER_PANELS), added by
LoyaltyConfig.ready()."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from loyalty.models import Card, Coupon, PointsEntry, TierChange


def loyalty_panel(request, member):
    """The member's card, recent points and tier history on their admin page."""
    card = Card.objects.select_related("tier").filter(pk=member.pk).first()
    return {
        "title": _("Card, points and tier"),
        "template": "admin/loyalty/_member_panel.html",
        "card": card,
        "card_url": reverse("admin:loyalty_card_change", args=[member.pk]) if card else None,
        "entries": PointsEntry.objects.filter(member=member)
        .select_related("actor")
        .order_by("-created_at", "-id")[:20],
        "tier_changes": TierChange.objects.filter(member=member)
        .select_related("from_tier", "to_tier", "actor")
        .order_by("-created_at", "-id")[:20],
        "coupons": Coupon.objects.filter(member=member)
        .select_related("template")
        .order_by("-issued_at", "-id")[:20],
        "coupons_url": reverse("admin:loyalty_coupon_changelist") + f"?q={member.member_no}",
        "ledger_url": reverse("admin:loyalty_pointsentry_changelist") + f"?q={member.member_no}",
    }
