"""The owner's stored-value (储值) report, /dashboard/stored-value/: what the business owes.

Stored value is customers' money held in advance: a liability on the books until it is
spent, cashed out or (the bonus) forfeited. The report reads the ledger live (not the
nightly aggregates): outstanding principal and bonus per store (the members' store, as
every dashboard figure), the movements of each day of the range (top-ups, bonus given,
spent, returned by refunds, cashed out, forfeited), and how purchases were paid (stored
value or money). Owners see every store, managers their own (dashboard.store_choice).
"""

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.shortcuts import render
from django.views.decorators.http import require_GET

from loyalty.dates import local_day_bounds
from loyalty.models import Card, Purchase, StoredValueEntry
from loyalty.money import ZERO, yuan
from members.models import Store
from members.replica import from_replica

from .dashboard import date_range, range_presets, store_choice

Kind = StoredValueEntry.Kind
MOVEMENTS = ("top_ups", "bonus_given", "spent", "refunded", "cashed_out", "forfeited")


def _money(value) -> Decimal:
    """A sum as yuan: SQLite sums decimals as binary floats."""
    return yuan(value or ZERO)


def _store_filter(path: str, store_id) -> Q:
    return Q() if store_id == "all" else Q(**{path: store_id})


def outstanding(store_id="all") -> dict:
    """{"stores": [{store, members, principal, bonus, total}], "total": {...}}: the stored
    value held now, per member store (None: members of no store)."""
    rows = (
        Card.objects.filter(Q(stored_principal__gt=0) | Q(stored_bonus__gt=0))
        .filter(_store_filter("member__store_id", store_id))
        .values("member__store_id")
        .annotate(n=Count("pk"), p=Sum("stored_principal"), b=Sum("stored_bonus"))
        .order_by()
    )
    names = dict(Store.objects.values_list("pk", "name"))
    stores, total = [], {"members": 0, "principal": ZERO, "bonus": ZERO}
    for row in rows:
        principal, bonus = _money(row["p"]), _money(row["b"])
        stores.append(
            {
                "store": names.get(row["member__store_id"], ""),
                "members": row["n"],
                "principal": principal,
                "bonus": bonus,
                "total": principal + bonus,
            }
        )
        total["members"] += row["n"]
        total["principal"] += principal
        total["bonus"] += bonus
    stores.sort(key=lambda r: (-r["total"], r["store"]))
    total["total"] = total["principal"] + total["bonus"]
    return {"stores": stores, "total": total}


def movements(first: dt.date, last: dt.date, store_id="all") -> dict:
    """{"days": [{day, top_ups, bonus_given, spent, refunded, cashed_out, forfeited,
    paid_stored_value, paid_money}], "total": {...}} for first..last (Shanghai days)."""
    start, end = local_day_bounds(first)[0], local_day_bounds(last)[1]
    zone = ZoneInfo(settings.TIME_ZONE)
    days: dict[dt.date, dict] = defaultdict(lambda: dict.fromkeys(MOVEMENTS, ZERO))
    entries = (
        StoredValueEntry.objects.filter(created_at__gte=start, created_at__lt=end)
        .filter(_store_filter("member__store_id", store_id))
        .annotate(d=TruncDate("created_at", tzinfo=zone))
        .values("d", "kind")
        .annotate(p=Sum("principal_delta"), b=Sum("bonus_delta"))
        .order_by()
    )
    for row in entries:
        day, principal, bonus = days[row["d"]], _money(row["p"]), _money(row["b"])
        if row["kind"] == Kind.TOP_UP:  # an imported opening balance is no top-up
            day["top_ups"] += principal
            day["bonus_given"] += bonus
        elif row["kind"] == Kind.SPEND:
            day["spent"] -= principal + bonus
        elif row["kind"] == Kind.REFUND:
            day["refunded"] += principal + bonus
        elif row["kind"] == Kind.CASH_OUT:
            day["cashed_out"] -= principal
            day["forfeited"] -= bonus
    paid = (
        Purchase.objects.filter(occurred_at__gte=start, occurred_at__lt=end)
        .filter(_store_filter("member__store_id", store_id))
        .annotate(d=TruncDate("occurred_at", tzinfo=zone))
        .values("d")
        .annotate(cash=Sum("cash_paid"), sv=Sum("stored_value_used"))
        .order_by()
    )
    for row in paid:
        day = days[row["d"]]
        day["paid_stored_value"] = _money(row["sv"])
        day["paid_money"] = _money(row["cash"]) - day["paid_stored_value"]
    keys = (*MOVEMENTS, "paid_stored_value", "paid_money")
    rows = []
    for day in sorted(days, reverse=True):
        rows.append({"day": day, **{k: days[day].get(k, ZERO) for k in keys}})
    total = {k: sum((r[k] for r in rows), ZERO) for k in keys}
    paid_all = total["paid_stored_value"] + total["paid_money"]
    total["stored_value_share"] = (
        (total["paid_stored_value"] * 100 / paid_all).quantize(Decimal("0.1")) if paid_all else None
    )
    return {"days": rows, "total": total}


@require_GET
@login_required
@permission_required("campaigns.view_dailystats", raise_exception=True)
@from_replica  # below the checks: the session, the user, their permissions from the primary
def stored_value_report(request):
    first, last = date_range(request)
    stores, store, store_id = store_choice(request)
    context = {
        "first": first,
        "last": last,
        "stores": stores,
        "store": store,
        "presets": range_presets(),
        "held": outstanding(store_id),
        "moved": movements(first, last, store_id),
    }
    return render(request, "campaigns/dashboard/stored_value.html", context)
