"""The dashboard (/dashboard/): the daily aggregate job, the figures of a date range, the page.

The job (`dashboard_aggregates`, nightly) writes one DailyStats row per Shanghai day
and store from grouped queries over whole days, replacing the day's rows (running it
twice changes nothing). Each run recomputes the last few days (late purchases,
expiries, refunds) and every day not computed yet (StatsDay), so the first run
backfills history and a killed run resumes. The page then reads at most a year of
those rows: its cost does not grow with the number of purchases.

Distinct members over any range, from daily rows: each purchase is stored in `gaps`
by how many days back the member's previous purchase (g1) and the one before (g2)
were. A member bought in [s, e] once per purchase of theirs whose previous one is
before s (g1 > D - s for a purchase on day D); they bought at least twice when one
of their purchases has its previous purchase inside the range but not the one
before (g1 <= D - s < g2): that is their second purchase in the range, counted once.
"""

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, F, Min, Q, Sum
from django.db.models.expressions import Window
from django.db.models.functions import RowNumber, TruncDate
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from loyalty.dates import local_day_bounds
from loyalty.models import (
    Coupon,
    LoyaltySettings,
    PointsEntry,
    Purchase,
    Refund,
    StoredValueEntry,
    Tier,
    TierChange,
)
from loyalty.money import ZERO, yuan
from members.models import Member, Store
from members.replica import from_replica
from members.selectors import sees_all_stores, staff_profile_of

from .models import DailyStats, StatsDay
from .segment_stats import segment_stats

RECOMPUTE_DAYS = 3  # yesterday and the two days before are computed again each night
CHUNK_DAYS = 366  # days computed in one pass: one scan of each table, one transaction
GAP_DAYS = 31  # of those, the purchases read one by one (the gaps) a month at a time
MAX_RANGE_DAYS = 366
EARLIEST_DAY = dt.date(2000, 1, 1)  # no member of this system is older
ISSUED_KINDS = (PointsEntry.Kind.EARN, PointsEntry.Kind.ADJUST, PointsEntry.Kind.IMPORT)
NONE = "-"  # no previous purchase
ALL = "all"  # the key of a day's total row


def _shanghai() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def _day(expr: str):
    return TruncDate(expr, tzinfo=_shanghai())


# --- the job --------------------------------------------------------------------------


def earliest_day() -> dt.date | None:
    """The first day with data: the first registration or purchase (indexed minima)."""
    firsts = [Member.objects.aggregate(m=Min("created_at"))["m"]]
    # (store, occurred_at) is indexed: one cheap MIN per store rather than a table scan.
    for store_id in [*Store.objects.values_list("pk", flat=True), None]:
        firsts.append(
            Purchase.objects.filter(store_id=store_id).aggregate(m=Min("occurred_at"))["m"]
        )
    firsts = [f for f in firsts if f is not None]
    return timezone.localdate(min(firsts), _shanghai()) if firsts else None


def days_to_compute(day: dt.date) -> list[dt.date]:
    """The last RECOMPUTE_DAYS days up to `day`, and every earlier day never computed."""
    first = earliest_day()
    if first is None or first > day:
        return []
    done = set(StatsDay.objects.filter(day__gte=first, day__lte=day).values_list("day", flat=True))
    recent = {day - dt.timedelta(days=n) for n in range(RECOMPUTE_DAYS + 1)}
    days, current = [], first
    while current <= day:
        if current not in done or current in recent:
            days.append(current)
        current += dt.timedelta(days=1)
    return days


def _chunks(days: list[dt.date]):
    """Runs of consecutive days, at most CHUNK_DAYS long."""
    run: list[dt.date] = []
    for day in days:
        if run and (day - run[-1] != dt.timedelta(days=1) or len(run) >= CHUNK_DAYS):
            yield run
            run = []
        run.append(day)
    if run:
        yield run


def dashboard_aggregates(day: dt.date, now=None) -> dict:
    """The registry's job: compute the days due, up to `day` (Shanghai), chunk by chunk."""
    days = days_to_compute(day)
    rows = 0
    for chunk in _chunks(days):
        rows += compute_days(chunk[0], chunk[-1], now=now)
    return {"days": len(days), "rows": rows}


def recompute_after_import(sender, job, counts, **kwargs) -> None:
    """loyalty.imports' import_finished: members and purchases were written on days in
    the past (registration dates, order dates): the days from the first one the file
    wrote (the job's notes; every day after a resumed run) are forgotten, and the job
    computes them again, in the background (a task: the import's report does not wait;
    a million members' eight years take about half a minute), recorded as a JobRun."""
    from loyalty.jobs import JOBS
    from members.queue import enqueue

    if "dashboard_aggregates" not in JOBS:
        return
    first = (job.notes or {}).get("first_day") if job is not None else None
    forgotten = StatsDay.objects.all()
    if first:
        forgotten = forgotten.filter(day__gte=dt.date.fromisoformat(first))
    forgotten.delete()
    name = f"dashboard-after-import-{job.pk}" if job is not None else "dashboard-after-import"
    # Lost while the broker is down, the night's dashboard_aggregates computes the days
    # forgotten here (it fills every day never computed).
    enqueue("loyalty.jobs.run_job", "dashboard_aggregates", task_name=name)


class _Row(dict):
    """A DailyStats row being built: field -> value, missing fields count as zero."""

    def add(self, field: str, value) -> None:
        if value:
            self[field] = self.get(field, 0) + value


def compute_days(first: dt.date, last: dt.date, now=None) -> int:
    """(Re)compute DailyStats of the days first..last (inclusive): one pass per table."""
    now = now or timezone.now()
    start, end = local_day_bounds(first)[0], local_day_bounds(last)[1]
    rows: dict[tuple[dt.date, int | None], _Row] = defaultdict(_Row)

    def each(queryset, time_field: str, store_path: str, group=(), **sums):
        grouped = (
            queryset.filter(**{f"{time_field}__gte": start, f"{time_field}__lt": end})
            .annotate(d=_day(time_field))
            .values("d", store_path, *group)
            .annotate(**sums)
            .order_by()
        )
        for item in grouped:
            yield rows[(item["d"], item[store_path])], item

    for row, item in each(Member.objects, "created_at", "store_id", n=Count("id")):
        row.add("new_members", item["n"])
    for row, item in each(Member.objects, "erased_at", "store_id", n=Count("id")):
        row.add("erased_members", item["n"])
    for row, item in each(
        Purchase.objects,
        "occurred_at",
        "member__store_id",
        n=Count("id"),
        gross=Sum("gross_amount"),
        spend=Sum("cash_paid"),
        tier=Sum("tier_discount"),
    ):
        row.add("purchases", item["n"])
        row.add("gross", item["gross"])
        row.add("spend", item["spend"])
        row.add("tier_discount", item["tier"])
    for row, item in each(
        Refund.objects, "created_at", "purchase__member__store_id", amount=Sum("amount")
    ):
        row.add("refunds", item["amount"])
    for row, item in each(
        PointsEntry.objects,
        "created_at",
        "member__store_id",
        group=["kind"],
        gained=Sum("delta", filter=Q(delta__gt=0)),
        lost=Sum("delta", filter=Q(delta__lt=0)),
        net=Sum("delta"),
    ):
        if item["kind"] in ISSUED_KINDS:
            row.add("points_issued", item["gained"] or 0)
        if item["kind"] == PointsEntry.Kind.REDEEM:
            row.add("points_redeemed", -(item["lost"] or 0))
        if item["kind"] == PointsEntry.Kind.EXPIRE:
            row.add("points_expired", -(item["lost"] or 0))
        row.add("points_net", item["net"])
    for row, item in each(
        StoredValueEntry.objects,
        "created_at",
        "member__store_id",
        p=Sum("principal_delta"),
        b=Sum("bonus_delta"),
    ):
        row.add("stored_value_net", yuan((item["p"] or ZERO) + (item["b"] or ZERO)))
    for row, item in each(Coupon.objects, "issued_at", "member__store_id", n=Count("id")):
        row.add("coupons_issued", item["n"])
    for row, item in each(
        Coupon.objects.filter(status=Coupon.Status.REDEEMED),
        "redeemed_at",
        "member__store_id",
        n=Count("id"),
        value=Sum("discount"),
    ):
        row.add("coupons_redeemed", item["n"])
        row.add("coupon_value", item["value"])
    for row, item in each(
        TierChange.objects,
        "created_at",
        "member__store_id",
        group=["reason", "from_tier_id", "to_tier_id"],
        n=Count("id"),
    ):
        row.add("upgrades", item["n"] if item["reason"] == TierChange.Reason.UPGRADE else 0)
        row.add("downgrades", item["n"] if item["reason"] == TierChange.Reason.DOWNGRADE else 0)
        net = row.setdefault("tier_net", {})
        for tier_id, sign in ((item["from_tier_id"], -1), (item["to_tier_id"], 1)):
            if tier_id is not None:
                net[str(tier_id)] = net.get(str(tier_id), 0) + sign * item["n"]
    # The gaps read each purchase of the days (not a sum): a month at a time in memory.
    for day in range((last - first).days // GAP_DAYS + 1):
        since = first + dt.timedelta(days=day * GAP_DAYS)
        until = min(since + dt.timedelta(days=GAP_DAYS - 1), last)
        window = local_day_bounds(since)[0], local_day_bounds(until)[1]
        for (day_of, store_id), gaps in _purchase_gaps(*window).items():
            rows[(day_of, store_id)]["gaps"] = gaps
    return _replace(first, last, {**rows, **_totals(rows)}, now)


def _merge(into: dict, counts: dict) -> None:
    for key, n in counts.items():
        into[key] = into.get(key, 0) + n


def _totals(rows: dict) -> dict:
    """One row per day over all stores: members are in exactly one store each, so even
    the distinct-buyer histograms simply add up."""
    totals: dict = defaultdict(_Row)
    for (day, _store_id), values in rows.items():
        total = totals[(day, ALL)]
        for field, value in values.items():
            if field == "tier_net":
                _merge(total.setdefault("tier_net", {}), value)
            elif field == "gaps":
                gaps = total.setdefault("gaps", {"1": {}, "2": {}})
                _merge(gaps["1"], value.get("1", {}))
                _merge(gaps["2"], value.get("2", {}))
            else:
                total.add(field, value)
    return totals


def _purchase_gaps(start, end) -> dict:
    """{(day, store): {"1": {g1: n}, "2": {g2: n}}} for the purchases in [start, end)."""
    tz = _shanghai()
    bought = list(
        Purchase.objects.filter(occurred_at__gte=start, occurred_at__lt=end)
        .order_by("occurred_at", "id")
        .values_list("member_id", "occurred_at", "member__store_id")
    )
    # Each member's last two purchase days before the range (latest first).
    history: dict[int, list[dt.date]] = defaultdict(list)
    ids = sorted({member_id for member_id, _at, _store in bought})
    for lo in range(0, len(ids), 2000):
        earlier = (
            Purchase.objects.filter(member_id__in=ids[lo : lo + 2000], occurred_at__lt=start)
            .annotate(
                rank=Window(
                    RowNumber(),
                    partition_by=[F("member_id")],
                    order_by=[F("occurred_at").desc(), F("id").desc()],
                )
            )
            .filter(rank__lte=2)
            .order_by("member_id", "rank")
            .values_list("member_id", "occurred_at")
        )
        for member_id, at in earlier:
            history[member_id].append(timezone.localdate(at, tz))
    gaps: dict = defaultdict(lambda: {"1": defaultdict(int), "2": defaultdict(int)})
    for member_id, at, store_id in bought:
        day = timezone.localdate(at, tz)
        last = history[member_id]
        hist = gaps[(day, store_id)]
        hist["1"][str((day - last[0]).days) if last else NONE] += 1
        hist["2"][str((day - last[1]).days) if len(last) > 1 else NONE] += 1
        history[member_id] = [day, *last[:1]]
    return {key: {k: dict(v) for k, v in hist.items()} for key, hist in gaps.items()}


@transaction.atomic
def _replace(first: dt.date, last: dt.date, rows: dict, now) -> int:
    DailyStats.objects.filter(day__gte=first, day__lte=last).delete()
    DailyStats.objects.bulk_create(
        [DailyStats(day=day, store_id=None if store_id == ALL else store_id,
                    all_stores=store_id == ALL, computed_at=now, **values)
         for (day, store_id), values in rows.items()],
        batch_size=1000,
    )  # fmt: skip
    days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    StatsDay.objects.filter(day__in=days).delete()
    StatsDay.objects.bulk_create([StatsDay(day=day, computed_at=now) for day in days])
    return len(rows)


# --- the figures of a range -------------------------------------------------------------

SUMMED = [
    "new_members", "erased_members", "purchases", "gross", "spend", "refunds",
    "tier_discount", "coupon_value", "points_issued", "points_redeemed", "points_expired",
    "coupons_issued", "coupons_redeemed", "upgrades", "downgrades",
]  # fmt: skip


SERIES = ["new_members", "purchases", "spend", "points_issued", "points_redeemed",
          "points_expired"]  # fmt: skip


def _at_most(hist: dict, t: int) -> int:
    """Purchases in a gap histogram whose gap is at most t days (a missing one: never)."""
    return sum(n for gap, n in hist.items() if gap != NONE and int(gap) <= t)


def _buyers(gaps_by_day: dict, first: dt.date, last: dt.date) -> tuple[int, int]:
    """(members with 1+ purchases, members with 2+) in first..last, from the gap histograms."""
    buyers = repeaters = 0
    day = first
    while day <= last:
        for hist in gaps_by_day.get(day, ()):
            t = (day - first).days
            within1, within2 = _at_most(hist.get("1", {}), t), _at_most(hist.get("2", {}), t)
            buyers += sum(hist.get("1", {}).values()) - within1
            repeaters += within1 - within2
        day += dt.timedelta(days=1)
    return buyers, repeaters


def _ratio(numerator, denominator) -> Decimal | None:
    if not denominator:
        return None
    return Decimal(numerator) / Decimal(denominator)


@dataclass
class Figures:
    first: dt.date
    last: dt.date
    totals: dict
    series: dict
    members_total: int
    active: int
    active_days: int  # the settings' lifecycle_active_days: "active" is a purchase within them
    buyers: int
    repeaters: int
    tiers: list
    liability_points: int
    liability_yuan: Decimal
    stored_value_owed: Decimal  # principal and bonus held at the end of the range
    member_spend: Decimal
    points_value: Decimal
    benefit_cost: Decimal
    computed_at: dt.datetime | None

    @property
    def active_rate(self):
        return _ratio(self.active, self.members_total)

    @property
    def repurchase_rate(self):
        return _ratio(self.repeaters, self.buyers)

    @property
    def spend_per_buyer(self):
        return yuan(self.member_spend / self.buyers) if self.buyers else None

    @property
    def coupon_rate(self):
        return _ratio(self.totals["coupons_redeemed"], self.totals["coupons_issued"])

    @property
    def benefit_cost_rate(self):
        return _ratio(self.benefit_cost, self.member_spend)

    @property
    def roi(self):
        return _ratio(self.member_spend, self.benefit_cost)


def figures(
    *,
    first: dt.date,
    last: dt.date,
    store_id: int | None | str = "all",
    conf: LoyaltySettings | None = None,
) -> Figures:
    """Every number of the dashboard for first..last and one store (or "all"), from
    DailyStats only: the rows of the range (and the settings' lifecycle_active_days
    before its end, for the active members) and the sums of all rows up to its end (the
    stocks). The rows keep each purchase's exact gap to the previous one, so any window
    is counted from them: changing the setting needs no recomputation."""
    if store_id == ALL:
        scoped = DailyStats.objects.filter(all_stores=True)
    else:
        scoped = DailyStats.objects.filter(store_id=store_id, all_stores=False)
    conf = conf or LoyaltySettings.current()
    active_days = conf.lifecycle_active_days
    since = min(first, last - dt.timedelta(days=active_days - 1))
    rows = list(
        scoped.filter(day__gte=since, day__lte=last).values("day", "gaps", *SUMMED).order_by("day")
    )
    totals = dict.fromkeys(SUMMED, 0)
    series = {name: defaultdict(int) for name in SERIES}
    gaps_by_day = defaultdict(list)
    for row in rows:
        if row["gaps"]:
            gaps_by_day[row["day"]].append(row["gaps"])
        if row["day"] < first:
            continue
        for name in SUMMED:
            totals[name] += row[name]
        for name in SERIES:
            series[name][row["day"]] += row[name]
    buyers, repeaters = _buyers(gaps_by_day, first, last)
    active, _twice = _buyers(gaps_by_day, last - dt.timedelta(days=active_days - 1), last)
    stock = scoped.filter(day__lte=last).aggregate(
        members=Sum(F("new_members") - F("erased_members")),
        points=Sum("points_net"),
        stored_value=Sum("stored_value_net"),
    )
    per_tier: dict[str, int] = defaultdict(int)
    for net in scoped.filter(day__lte=last).values_list("tier_net", flat=True):
        for tier_id, n in (json.loads(net) if isinstance(net, str) else net).items():
            per_tier[tier_id] += n
    tiers = [(tier, per_tier.get(str(tier.pk), 0)) for tier in Tier.objects.order_by("level")]
    points_value = yuan(Decimal(totals["points_redeemed"]) / conf.points_per_cash_yuan)
    member_spend = (totals["spend"] or ZERO) - (totals["refunds"] or ZERO)
    liability = stock["points"] or 0
    days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    return Figures(
        first=first,
        last=last,
        totals=totals,
        series={
            "days": [d.isoformat() for d in days],
            **{name: [float(values.get(d, 0)) for d in days] for name, values in series.items()},
        },
        members_total=stock["members"] or 0,
        active=active,
        active_days=active_days,
        buyers=buyers,
        repeaters=repeaters,
        tiers=tiers,
        liability_points=liability,
        liability_yuan=yuan(Decimal(liability) / conf.points_per_cash_yuan),
        stored_value_owed=yuan(stock["stored_value"] or ZERO),
        member_spend=member_spend,
        points_value=points_value,
        benefit_cost=(totals["tier_discount"] or ZERO)
        + (totals["coupon_value"] or ZERO)
        + points_value,
        computed_at=StatsDay.objects.order_by("-computed_at")
        .values_list("computed_at", flat=True)
        .first(),
    )


# --- the page -----------------------------------------------------------------------------

DEFINITIONS = {
    "new_members": gettext_lazy("Members who registered in the period (per day in the chart)."),
    "members_total": gettext_lazy("All members registered up to the end day, less erased ones."),
    # %(days)s: the settings' lifecycle_active_days (tiles() fills it in).
    "active": gettext_lazy(
        "Members with a purchase in the %(days)s days up to the end day; "
        "rate = active / total members."
    ),
    "repurchase": gettext_lazy(
        "Members with 2 or more purchases in the period / members with 1 or more."
    ),
    "spend_per_buyer": gettext_lazy(
        "Member spend (cash paid less refunds) in the period / members who bought in it."
    ),
    "tiers": gettext_lazy(
        "Members per tier at the end day; upgrades and downgrades in the period."
    ),
    "points": gettext_lazy(
        "Issued: earned, adjusted up, imported. Redeemed: spent on purchases and rewards. "
        "Expired: lapsed lots."
    ),
    "liability": gettext_lazy(
        "Points members hold at the end day, at the points-to-cash rate: what they could still "
        "take off bills; and their stored value (paid in and bonus): prepaid money owed."
    ),
    "purchases": gettext_lazy("Purchases by members in the period, refunded ones included."),
    "coupon_rate": gettext_lazy("Coupons used in the period / coupons issued in the period."),
    "benefit_cost_rate": gettext_lazy(
        "(Tier discounts + value of points redeemed + value of coupons used) / member spend."
    ),
    "roi": gettext_lazy("Member spend / benefit cost (the same three parts)."),
    "store": gettext_lazy("A member counts in the store where they registered, wherever they buy."),
}


def date_range(request) -> tuple[dt.date, dt.date]:
    today = timezone.localdate(timezone.now(), _shanghai())
    try:
        last = dt.date.fromisoformat(request.GET.get("to", "")) if request.GET.get("to") else today
        first = (
            dt.date.fromisoformat(request.GET["from"])
            if request.GET.get("from")
            else last - dt.timedelta(days=29)
        )
    except (ValueError, OverflowError):  # not a date; ?to=0001-01-01 less 29 days
        first, last = today - dt.timedelta(days=29), today
    # Nor below: no day before EARLIEST_DAY.
    last = min(max(last, EARLIEST_DAY), today)
    first = min(max(first, last - dt.timedelta(days=MAX_RANGE_DAYS - 1)), last)
    return first, last


def store_choice(request):
    """Owners: every store or one (?store=ID); managers: their own store, always."""
    if sees_all_stores(request.user):
        stores = list(Store.objects.order_by("code"))
        wanted = request.GET.get("store", "")
        chosen = next((s for s in stores if str(s.pk) == wanted), None)
        return stores, chosen, chosen.pk if chosen else "all"
    profile = staff_profile_of(request.user)
    if profile is None or profile.store_id is None:
        raise PermissionDenied
    return [], profile.store, profile.store_id


@require_GET
@login_required
@permission_required("campaigns.view_dailystats", raise_exception=True)
@from_replica  # below the checks: the session, the user, their permissions from the primary
def dashboard(request):
    first, last = date_range(request)
    stores, store, store_id = store_choice(request)
    conf = LoyaltySettings.current()
    data = figures(first=first, last=last, store_id=store_id, conf=conf)
    chart = {
        **data.series,
        "tiers": {
            "labels": [t.name for t, _n in data.tiers],
            "values": [n for _t, n in data.tiers],
        },
    }
    context = {
        "f": data,
        "tiles": tiles(data),
        "first": first,
        "last": last,
        "stores": stores,
        "store": store,
        "chart": chart,
        "defs": DEFINITIONS,
        "presets": range_presets(),
        # Stages and segments are last night's, whatever the range: one store or all.
        "segments": segment_stats(
            store_id=None if store_id == ALL else store_id, show_store=bool(stores), conf=conf
        ),
    }
    return render(request, "campaigns/dashboard/dashboard.html", context)


def _pct(rate) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def _money(amount) -> str:
    return "—" if amount is None else f"¥{amount:,.2f}"


def tiles(f: Figures) -> list[list[dict]]:
    """The figures as two rows of tiles: label, the number, a detail line, the definition."""
    t = f.totals

    def tile(key, label, main, sub="", definition=None):
        return {"id": key, "label": label, "main": main, "sub": sub,
                "definition": definition or DEFINITIONS[key]}  # fmt: skip

    return [
        [
            tile("new_members", _("New members"), f"{t['new_members']:,}"),
            tile("members_total", _("Total members"), f"{f.members_total:,}"),
            tile("active", _("Active members"), f"{f.active:,}",
                 _("active rate %(rate)s") % {"rate": _pct(f.active_rate)},
                 DEFINITIONS["active"] % {"days": f.active_days}),
            tile("repurchase", _("Repurchase rate"), _pct(f.repurchase_rate),
                 f"{f.repeaters:,} / {f.buyers:,}"),
            tile("spend_per_buyer", _("Spend per buying member"), _money(f.spend_per_buyer),
                 _("member spend %(spend)s") % {"spend": _money(f.member_spend)}),
            tile("tiers", _("Tier upgrades / downgrades"),
                 f"{t['upgrades']:,} / {t['downgrades']:,}"),
        ],
        [
            tile("purchases", _("Purchases"), f"{t['purchases']:,}",
                 _("before discounts %(gross)s") % {"gross": _money(t["gross"])}),
            tile("points", _("Points issued"), f"{t['points_issued']:,}",
                 _("redeemed %(r)s · expired %(e)s")
                 % {"r": f"{t['points_redeemed']:,}", "e": f"{t['points_expired']:,}"}),
            tile("liability", _("Points outstanding"), _money(f.liability_yuan),
                 _("%(n)s points") % {"n": f"{f.liability_points:,}"}
                 + " · " + _("stored value %(owed)s") % {"owed": _money(f.stored_value_owed)}),
            tile("coupon_rate", _("Coupon redemption rate"), _pct(f.coupon_rate),
                 f"{t['coupons_redeemed']:,} / {t['coupons_issued']:,}"),
            tile("benefit_cost_rate", _("Benefit cost rate"), _pct(f.benefit_cost_rate),
                 _("benefit cost %(cost)s") % {"cost": _money(f.benefit_cost)}),
            tile("roi", _("Member ROI"), "—" if f.roi is None else f"{f.roi:.1f}×"),
        ],
    ]  # fmt: skip


def range_presets() -> list[tuple[str, dt.date, dt.date]]:
    today = timezone.localdate(timezone.now(), _shanghai())
    month = today.replace(day=1)
    last_month_end = month - dt.timedelta(days=1)
    return [
        (_("Last 7 days"), today - dt.timedelta(days=6), today),
        (_("Last 30 days"), today - dt.timedelta(days=29), today),
        (_("Last 90 days"), today - dt.timedelta(days=89), today),
        (_("This month"), month, today),
        (_("Last month"), last_month_end.replace(day=1), last_month_end),
        (_("Last 12 months"), today - dt.timedelta(days=364), today),
    ]


@require_POST
@login_required
def refresh(request):
    """Owners: compute today and the days due now, instead of waiting for the night."""
    if not request.user.has_perm("campaigns.change_dailystats"):
        raise PermissionDenied
    from loyalty.jobs import run_job

    run = run_job("dashboard_aggregates")
    messages.success(
        request, _("Dashboard figures recomputed (%(n)d days).") % {"n": run.counts.get("days", 0)}
    )
    # Back to the same range and store: only a query string, never another address.
    query = request.POST.get("query", "")
    query = query if query.replace("&", "").replace("=", "").replace("-", "").isalnum() else ""
    return redirect(reverse("dashboard:home") + (f"?{query}" if query else ""))
