"""The guides' (导购) report, /dashboard/guides/: what each guide's customers did in a range.

A guide is the staff member who recruited a member (Member.guide). For each guide and
member store (a member counts in the store where they registered, as every dashboard
figure), over the Shanghai days first..last:

- recruited: their members registered in the range; customers: all their members
  registered up to the end of the range;
- purchases, and revenue = cash paid for those purchases less the refunds made in the
  range (the dashboard's member spend, campaigns.dashboard.figures), by all the guide's
  members, whenever recruited;
- coupons redeemed in the range by those members;
- repurchase rate: of those members who bought in the range, the share who bought two
  times or more in it.

Read live from the ledgers, one GROUP BY query per figure: the cost grows with the
purchases of the range, never with a loop over members. Owners see every store (or
one), managers their own (dashboard.store_choice); staff of the stores in view are
listed even when their customers did nothing in the range.
"""

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from loyalty.dates import local_day_bounds
from loyalty.imports.exports import csv_stream
from loyalty.models import Coupon, Purchase, Refund
from loyalty.money import ZERO, yuan
from members.models import Member, StaffProfile, Store, User
from members.replica import from_replica

from .dashboard import date_range, range_presets, store_choice

COUNTS = ("recruited", "customers", "buyers", "repeaters", "purchases", "coupons")
MONEY = ("paid", "refunded")

DEFINITIONS = {
    "guide": gettext_lazy(
        "A guide is the staff member who recruited the member; a member counts in the store "
        "where they registered."
    ),
    "recruited": gettext_lazy("Members the guide recruited in the period."),
    "customers": gettext_lazy("All members the guide recruited up to the end day."),
    "purchases": gettext_lazy(
        "Purchases in the period by all the guide's members, refunded ones included."
    ),
    "revenue": gettext_lazy("Cash paid for those purchases less the refunds made in the period."),
    "coupons": gettext_lazy("Coupons the guide's members used in the period."),
    "repurchase": gettext_lazy(
        "Of the guide's members who bought in the period, the share who bought 2 or more times."
    ),
}


def _scope(path: str, store_id) -> Q:
    return Q() if store_id == "all" else Q(**{path: store_id})


def _rate(numerator: int, denominator: int) -> Decimal | None:
    """A percentage with one decimal, or None when nobody bought."""
    if not denominator:
        return None
    return (Decimal(numerator) * 100 / denominator).quantize(Decimal("0.1"))


def _new_row() -> dict:
    return {**dict.fromkeys(COUNTS, 0), **dict.fromkeys(MONEY, ZERO)}


def _finish(row: dict) -> dict:
    row["revenue"] = row["paid"] - row["refunded"]
    row["repurchase_rate"] = _rate(row["repeaters"], row["buyers"])
    return row


def _grouped(queryset, guide: str, store: str, **sums):
    """(guide id, store id, figures) per group of `queryset`."""
    rows = queryset.values(guide, store).annotate(**sums).order_by()
    for item in rows:
        yield item[guide], item[store], item


def guide_figures(first: dt.date, last: dt.date, store_id="all") -> dict:
    """{"guides": [row per guide and store], "stores": [row per store], "total": row},
    each row with the COUNTS, paid, refunded, revenue and repurchase_rate (percent)."""
    start, end = local_day_bounds(first)[0], local_day_bounds(last)[1]
    rows: dict[tuple, dict] = defaultdict(_new_row)
    guided = Q(guide__isnull=False) & _scope("store_id", store_id)
    for guide, store, item in _grouped(
        Member.objects.filter(guided, created_at__lt=end),
        "guide_id",
        "store_id",
        customers=Count("pk"),
        recruited=Count("pk", filter=Q(created_at__gte=start)),
    ):
        rows[(guide, store)].update(customers=item["customers"], recruited=item["recruited"])

    in_range = Q(occurred_at__gte=start, occurred_at__lt=end)
    # A buyer bought again when another of their purchases is in the range too
    # (purchase_member_time serves the lookup).
    again = Purchase.objects.filter(in_range, member_id=OuterRef("member_id")).exclude(
        pk=OuterRef("pk")
    )
    purchases = Purchase.objects.filter(
        in_range, Q(member__guide__isnull=False) & _scope("member__store_id", store_id)
    )
    for guide, store, item in _grouped(
        purchases,
        "member__guide_id",
        "member__store_id",
        purchases=Count("pk"),
        buyers=Count("member_id", distinct=True),
        repeaters=Count("member_id", distinct=True, filter=Exists(again)),
        paid=Sum("cash_paid"),
    ):
        row = rows[(guide, store)]
        row.update(purchases=item["purchases"], buyers=item["buyers"])
        row.update(repeaters=item["repeaters"], paid=yuan(item["paid"] or ZERO))

    refunds = Refund.objects.filter(
        Q(created_at__gte=start, created_at__lt=end, purchase__member__guide__isnull=False)
        & _scope("purchase__member__store_id", store_id)
    )
    for guide, store, item in _grouped(
        refunds, "purchase__member__guide_id", "purchase__member__store_id", amount=Sum("amount")
    ):
        rows[(guide, store)]["refunded"] = yuan(item["amount"] or ZERO)

    coupons = Coupon.objects.filter(
        Q(status=Coupon.Status.REDEEMED, redeemed_at__gte=start, redeemed_at__lt=end)
        & Q(member__guide__isnull=False)
        & _scope("member__store_id", store_id)
    )
    for guide, store, item in _grouped(
        coupons, "member__guide_id", "member__store_id", n=Count("pk")
    ):
        rows[(guide, store)]["coupons"] = item["n"]

    # The staff of the stores in view, also those whose customers did nothing.
    listed = {guide for guide, _store in rows}
    staff = StaffProfile.objects.filter(
        Q(store__isnull=False, user__is_active=True) & _scope("store_id", store_id)
    ).values_list("user_id", "store_id")
    for user_id, store in staff:
        if user_id not in listed:
            rows.setdefault((user_id, store), _new_row())
    return _summed(rows)


def _summed(rows: dict) -> dict:
    """The rows named, most revenue first, with a row per store and the total (a member has one
    guide and one store, so even the buyers and repeaters simply add up)."""
    names = {
        pk: display or username
        for pk, username, display in User.objects.filter(
            pk__in={guide for guide, _store in rows}
        ).values_list("pk", "username", "staff_profile__display_name")
    }
    stores = dict(Store.objects.values_list("pk", "name"))
    per_store: dict = defaultdict(_new_row)
    total = _new_row()
    guides = []
    for (guide, store), row in rows.items():
        for field in (*COUNTS, *MONEY):
            per_store[store][field] += row[field]
            total[field] += row[field]
        guides.append(
            _finish({**row, "guide_id": guide, "guide": names.get(guide, ""),
                     "store": stores.get(store, "")})
        )  # fmt: skip
    guides.sort(key=lambda r: (-r["revenue"], -r["customers"], r["store"], r["guide"]))
    store_rows = sorted(
        (_finish({**row, "store": stores.get(store, "")}) for store, row in per_store.items()),
        key=lambda r: (-r["revenue"], r["store"]),
    )
    return {"guides": guides, "stores": store_rows, "total": _finish(total)}


def _csv(data: dict, first: dt.date, last: dt.date):
    header = [
        _("Store"), _("Guide"), _("Members recruited"), _("Customers"),
        _("Members who bought"), _("Purchases"), _("Revenue"), _("Coupons redeemed"),
        _("Bought 2+ times"), _("Repurchase rate (%)"),
    ]  # fmt: skip
    rows = (
        [
            r["store"], r["guide"], r["recruited"], r["customers"], r["buyers"], r["purchases"],
            r["revenue"], r["coupons"], r["repeaters"],
            "" if r["repurchase_rate"] is None else r["repurchase_rate"],
        ]
        for r in data["guides"]
    )  # fmt: skip
    response = StreamingHttpResponse(
        csv_stream(rows, header, [0]), content_type="text/csv; charset=utf-8"
    )
    name = f"guides-{first:%Y%m%d}-{last:%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@require_GET
@login_required
@permission_required("campaigns.view_dailystats", raise_exception=True)
@from_replica  # below the checks: the session, the user, their permissions from the primary
def guide_report(request):
    first, last = date_range(request)
    stores, store, store_id = store_choice(request)
    data = guide_figures(first, last, store_id)
    if request.GET.get("format") == "csv":
        return _csv(data, first, last)
    context = {
        "first": first,
        "last": last,
        "stores": stores,
        "store": store,
        "presets": range_presets(),
        "data": data,
        "defs": DEFINITIONS,
    }
    return render(request, "campaigns/dashboard/guides.html", context)
