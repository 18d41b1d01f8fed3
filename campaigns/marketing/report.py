"""A campaign's report, per variant and for the holdout (definitions in
docs/campaigns.md):

- members: those assigned to it (the holdout: assigned, sent nothing);
- delivered / failed per channel, opened (the member-centre inbox, read);
- coupons issued and redeemed (the campaign's own, by their issue key);
- purchasers and revenue: purchases within the attribution window after each
  member's assignment (cash paid less refunds of those purchases);
- cost: the discounts of the campaign's coupons used, plus its points at their cash
  value (LoyaltySettings.points_per_cash_yuan);
- conversion = purchasers / members with its 95 % interval; lift over the holdout
  and its p-value (stats.py); ROI = the revenue above what the holdout's rate would
  have brought, over the cost.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Count, Exists, OuterRef, Q, Sum

from loyalty.models import Coupon, LoyaltySettings, PointsEntry, Purchase, Refund

from ..models import Message
from .models import Campaign, CampaignMember, Variant
from .stats import compare, proportion, verdict

ZERO = Decimal("0.00")


def group_members(campaign: Campaign, variant: Variant | None):
    rows = CampaignMember.objects.filter(campaign=campaign)
    return rows.filter(variant=variant) if variant else rows.filter(variant__isnull=True)


def group_figures(campaign: Campaign, variant: Variant | None) -> dict:
    members = group_members(campaign, variant)
    window = dt.timedelta(days=campaign.attribution_days)
    reached = CampaignMember.objects.filter(
        pk__in=members.values("pk"), member_id=OuterRef("member_id")
    )
    purchases = Purchase.objects.filter(
        Exists(
            reached.filter(assigned_at__lte=OuterRef("occurred_at")).filter(
                assigned_at__gt=OuterRef("occurred_at") - window
            )
        )
    )
    bought = purchases.aggregate(
        purchasers=Count("member_id", distinct=True), revenue=Sum("cash_paid")
    )
    refunded = Refund.objects.filter(purchase__in=purchases.values("pk")).aggregate(
        total=Sum("amount")
    )["total"]
    prefix = f"campaign:{campaign.pk}:"
    coupons = Coupon.objects.filter(
        issue_key__startswith=prefix, member_id__in=members.values("member_id")
    )
    coupon_counts = coupons.aggregate(
        issued=Count("pk"),
        redeemed=Count("pk", filter=Q(status=Coupon.Status.REDEEMED)),
        discount=Sum("discount", filter=Q(status=Coupon.Status.REDEEMED)),
    )
    points = (
        PointsEntry.objects.filter(
            idempotency_key__startswith=prefix, member_id__in=members.values("member_id")
        ).aggregate(total=Sum("delta"))["total"]
        or 0
    )
    per_yuan = LoyaltySettings.current().points_per_cash_yuan
    cost = (coupon_counts["discount"] or ZERO) + (Decimal(points) / per_yuan).quantize(ZERO)
    messages = (
        Message.objects.filter(campaign_member__in=members.values("pk"))
        .values_list("channel", "status")
        .annotate(n=Count("pk"))
    )
    delivered: dict[str, int] = {}
    failed = 0
    for channel, status, n in messages:
        if status == Message.Status.SENT:
            delivered[channel] = delivered.get(channel, 0) + n
        elif status == Message.Status.FAILED:
            failed += n
    opened = Message.objects.filter(
        campaign_member__in=members.values("pk"), channel="inbox", read_at__isnull=False
    ).count()
    count = members.count()
    revenue = (bought["revenue"] or ZERO) - (refunded or ZERO)
    return {
        "name": variant.name if variant else "holdout",
        "members": count,
        "delivered": delivered,
        "failed": failed,
        "opened": opened,
        "coupons_issued": coupon_counts["issued"],
        "coupons_redeemed": coupon_counts["redeemed"],
        "purchasers": bought["purchasers"],
        "revenue": revenue,
        "cost": cost,
        "outcomes": dict(
            members.values_list("outcome").annotate(n=Count("pk")).values_list("outcome", "n")
        ),
    }


def campaign_report(campaign: Campaign) -> dict:
    """Every figure of the report, money as Decimal (as_json turns it into strings)."""
    variants = list(campaign.variants.order_by("name"))
    holdout = group_figures(campaign, None)
    control = proportion(holdout["purchasers"], holdout["members"])
    holdout["conversion"] = control
    rows = []
    for variant in variants:
        row = group_figures(campaign, variant)
        row["conversion"] = proportion(row["purchasers"], row["members"])
        row["vs_holdout"] = compare(row["conversion"], control)
        rows.append(row)
    cost = sum((r["cost"] for r in rows), ZERO)
    per_member = holdout["revenue"] / holdout["members"] if holdout["members"] else None
    incremental = None
    if per_member is not None:
        incremental = sum((r["revenue"] - per_member * r["members"] for r in rows), ZERO)
    roi = (
        (incremental / cost).quantize(Decimal("0.01")) if incremental is not None and cost else None
    )
    return {
        "campaign": campaign,
        "audience": holdout["members"] + sum(r["members"] for r in rows),
        "holdout": holdout,
        "variants": rows,
        "cost": cost,
        "incremental_revenue": incremental.quantize(ZERO) if incremental is not None else None,
        "roi": roi,
        "verdicts": verdicts(rows, holdout),
    }


def verdicts(rows: list[dict], holdout: dict) -> list[str]:
    said = [verdict(r["name"], r["conversion"], "对照组", holdout["conversion"], r["vs_holdout"])
            for r in rows]  # fmt: skip
    if len(rows) >= 2:
        best, second = sorted(rows, key=lambda r: -(r["conversion"].rate or 0))[:2]
        said.insert(0, verdict(best["name"], best["conversion"], second["name"],
                               second["conversion"], compare(best["conversion"],
                                                             second["conversion"])))  # fmt: skip
    return said


def money(value) -> str | None:
    return None if value is None else str(Decimal(value).quantize(ZERO))


def rounded(value, places=4):
    return None if value is None else round(value, places)


def as_json(report: dict) -> dict:
    """The shape `manage.py campaign_report ID --json` prints (issue #22)."""
    holdout = report["holdout"]
    return {
        "campaign": report["campaign"].pk,
        "audience": report["audience"],
        "holdout": {
            "members": holdout["members"],
            "purchasers": holdout["purchasers"],
            "revenue": money(holdout["revenue"]),
            "conversion": rounded(holdout["conversion"].rate),
        },
        "variants": [
            {
                "name": r["name"],
                "members": r["members"],
                "delivered": sum(r["delivered"].values()),
                "delivered_by_channel": r["delivered"],
                "coupons_issued": r["coupons_issued"],
                "coupons_redeemed": r["coupons_redeemed"],
                "purchasers": r["purchasers"],
                "revenue": money(r["revenue"]),
                "cost": money(r["cost"]),
                "conversion": rounded(r["conversion"].rate),
                "conversion_ci": [rounded(r["conversion"].low), rounded(r["conversion"].high)],
                "lift_vs_holdout": rounded(r["vs_holdout"].lift),
                "p_value_vs_holdout": rounded(r["vs_holdout"].p_value),
                "enough_to_tell": r["vs_holdout"].enough,
            }
            for r in report["variants"]
        ],
        "cost": money(report["cost"]),
        "incremental_revenue": money(report["incremental_revenue"]),
        "roi": money(report["roi"]),
        "verdicts": report["verdicts"],
    }
