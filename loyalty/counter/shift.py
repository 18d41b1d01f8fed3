"""The shift report (交班 / 日结) at the counter, /staff/shift/: what a clerk's shift
took and gave, for a Shanghai day (today by default) or a range of days, on screen and
on the 58 or 80 mm receipt printer (/staff/shift/print/?width=58).

Who sees what: a clerk their own figures (whatever store they served at); a manager
their store, everyone's or one staff member's; owners (and superusers) every store or
one, everyone's or one staff member's. Figures are read live from the books, each
source by who did it and where:

- purchases (Purchase: staff, store, occurred_at; imported purchases are not a shift's):
  count, amount before discounts (gross), tier and coupon discounts, points paid (their
  yuan value), paid (net of discounts and points), of which stored value;
- refunds (Refund: actor, the purchase's store, created_at): count, amount, stored value
  returned, points given back and taken back;
- coupons redeemed (CouponEvent "used": actor, store, at), with or without a purchase,
  and those a refund gave back;
- stored value (StoredValueEntry: actor, store, created_at): top-ups by tender and their
  bonus, spent, returned by refunds, cashed out (退卡);
- count cards (CountCardEntry: actor, store, created_at): sold (by the card's tender),
  uses, refunds.

By tender: top-ups and count cards record how they were paid (cash, WeChat Pay, Alipay,
bank card, stored value). A purchase records only its stored-value part: the rest of
what it was paid is one line, "money, tender not recorded" (the POS that took it knows
the split), with the refunds and cash-outs paid back from it.
"""

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django import forms
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, Sum
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from loyalty.counter.access import need
from loyalty.dates import local_day_bounds
from loyalty.models import (
    CountCard,
    CountCardEntry,
    CouponEvent,
    Purchase,
    Refund,
    StoredValueEntry,
    Tender,
)
from loyalty.money import ZERO, yuan
from members.models import Role, Store, User
from members.selectors import staff_profile_of
from members.views import staff_required

MAX_DAYS = 92  # a quarter: a shift report, not the dashboard
WIDTHS = ("58", "80")
ISO_DAY = ["%Y-%m-%d"]  # receipt rolls, in mm
STORED_VALUE = CountCard.STORED_VALUE  # the tender of a count card paid from the balance
UNRECORDED = "unrecorded"  # a purchase's money: its tender is not recorded
SV_KIND = StoredValueEntry.Kind
CC_KIND = CountCardEntry.Kind


def _money(value) -> Decimal:
    """A sum as yuan: SQLite sums decimals as binary floats."""
    return yuan(value or ZERO)


# --- who sees what ------------------------------------------------------------------


@dataclass
class Scope:
    """The figures in view: `store` (None: every store, owners), everyone's or one staff
    member's (`staff` None: everyone, API and WeChat Pay included). A clerk's own figures
    are theirs wherever they served (`by_store` False): `store` is only their own."""

    role: str
    store: Store | None = None
    staff: User | None = None
    by_store: bool = True

    @property
    def every_store(self) -> bool:
        return self.role == Role.OWNER and self.store is None


def staff_label(user: User | None) -> str:
    if user is None:
        return _("No staff member (POS API, WeChat Pay)")
    profile = staff_profile_of(user)
    return (profile.display_name if profile else "") or user.get_username()


class StaffChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return staff_label(obj)


class ShiftForm(forms.Form):
    """The range and, for managers and owners, the store and the staff member."""

    # As a date input sends them: 2026-03-10 (not 03/10/2026, which reads two ways).
    start = forms.DateField(label=gettext_lazy("From"), required=False, input_formats=ISO_DAY)
    end = forms.DateField(label=gettext_lazy("To"), required=False, input_formats=ISO_DAY)
    store = forms.ModelChoiceField(
        label=gettext_lazy("Store"),
        queryset=Store.objects.none(),
        required=False,
        empty_label=gettext_lazy("Every store"),
    )
    staff = StaffChoice(
        label=gettext_lazy("Staff member"),
        queryset=User.objects.none(),
        required=False,
        empty_label=gettext_lazy("Everyone"),
    )
    width = forms.ChoiceField(
        label=gettext_lazy("Paper width"),
        choices=[(w, f"{w} mm") for w in WIDTHS],
        required=False,
    )

    def __init__(self, data, *, user: User):
        super().__init__(data)
        self.user = user
        self.role = _role_of(user)
        if self.role == Role.CLERK:
            del self.fields["store"], self.fields["staff"]
            return
        staff = User.objects.filter(staff_profile__isnull=False).select_related("staff_profile")
        if self.role == Role.MANAGER:
            del self.fields["store"]
            staff = staff.filter(staff_profile__store_id=staff_profile_of(user).store_id)
        else:
            self.fields["store"].queryset = Store.objects.order_by("code")
        self.fields["staff"].queryset = staff.order_by("staff_profile__store_id", "username")

    def clean(self):
        data = super().clean()
        today = timezone.localdate()
        start, end = data.get("start"), data.get("end")
        if "start" in self.errors or "end" in self.errors:
            return data
        end = end or (start if start and start > today else today)
        start = start or end
        earliest, latest = dt.date(2000, 1, 1), today + dt.timedelta(days=366)
        if not (earliest <= start <= latest and earliest <= end <= latest):
            raise forms.ValidationError(
                _("Choose days between %(first)s and %(last)s.")
                % {"first": earliest.isoformat(), "last": latest.isoformat()}
            )
        if start > end:
            raise forms.ValidationError(_("The first day is after the last day."))
        if (end - start).days >= MAX_DAYS:
            raise forms.ValidationError(_("Choose at most %(n)d days at once.") % {"n": MAX_DAYS})
        store, staff = data.get("store"), data.get("staff")
        if store and staff and staff.staff_profile.store_id not in (None, store.pk):
            raise forms.ValidationError(
                _("%(staff)s does not work at %(store)s.")
                % {"staff": staff_label(staff), "store": store.name}
            )
        data["start"], data["end"] = start, end
        data["width"] = data.get("width") or WIDTHS[0]
        return data

    def scope(self) -> Scope:
        """The scope of a valid form."""
        profile = staff_profile_of(self.user)
        data = self.cleaned_data
        if self.role == Role.CLERK:
            return Scope(self.role, store=profile.store, staff=self.user, by_store=False)
        if self.role == Role.MANAGER:
            return Scope(self.role, store=profile.store, staff=data.get("staff"))
        store = data.get("store")
        return Scope(self.role, store=store, staff=data.get("staff"), by_store=store is not None)


def _role_of(user: User) -> str:
    if user.is_superuser:
        return Role.OWNER
    profile = staff_profile_of(user)
    if profile is None:
        raise PermissionDenied
    if profile.role != Role.OWNER and profile.store_id is None:
        raise PermissionDenied  # not possible (a constraint), but never every store
    return profile.role


# --- the figures ----------------------------------------------------------------------

# Each source: its model, its time, its store and its staff member.
SOURCES = {
    "purchases": (Purchase, "occurred_at", "store_id", "staff_id"),
    "refunds": (Refund, "created_at", "purchase__store_id", "actor_id"),
    "coupons": (CouponEvent, "at", "store_id", "actor_id"),
    "stored_value": (StoredValueEntry, "created_at", "store_id", "actor_id"),
    "count_cards": (CountCardEntry, "created_at", "store_id", "actor_id"),
}


def _rows(source: str, scope: Scope, start: dt.datetime, end: dt.datetime):
    model, at, store_path, staff_path = SOURCES[source]
    qs = model.objects.filter(**{f"{at}__gte": start, f"{at}__lt": end})
    if scope.by_store:
        qs = qs.filter(**{store_path: scope.store.pk})
    if scope.staff is not None:
        qs = qs.filter(**{staff_path: scope.staff.pk})
    if source == "purchases":
        qs = qs.exclude(channel=Purchase.Channel.IMPORT)  # a past day's, brought in
    elif source == "coupons":
        qs = qs.filter(kind=CouponEvent.Kind.REDEEMED)
    return qs.order_by()


@dataclass
class TenderLine:
    code: str
    label: str
    taken: Decimal = ZERO
    paid_back: Decimal = ZERO
    money: bool = True  # money at the till (stored value is the member's balance)

    @property
    def net(self) -> Decimal:
        return self.taken - self.paid_back


@dataclass
class ShiftReport:
    start: dt.date
    end: dt.date
    purchases: dict = field(default_factory=dict)
    refunds: dict = field(default_factory=dict)
    coupons: dict = field(default_factory=dict)
    stored_value: dict = field(default_factory=dict)
    count_cards: dict = field(default_factory=dict)
    tenders: list[TenderLine] = field(default_factory=list)
    by_staff: list[dict] = field(default_factory=list)
    by_store: list[dict] = field(default_factory=list)

    @property
    def net_paid(self) -> Decimal:
        """Paid for purchases less the refunds."""
        return self.purchases["paid"] - self.refunds["amount"]

    @property
    def money_net(self) -> Decimal:
        """The money the till took less what it paid back, every tender but stored value."""
        return sum((t.net for t in self.tenders if t.money), ZERO)


def _purchases(qs) -> dict:
    s = qs.aggregate(
        n=Count("pk"), gross=Sum("gross_amount"), tier=Sum("tier_discount"),
        coupon=Sum("coupon_discount"), points=Sum("points_used"), points_value=Sum("points_value"),
        paid=Sum("cash_paid"), sv=Sum("stored_value_used"), earned=Sum("points_earned"),
    )  # fmt: skip
    paid, sv = _money(s["paid"]), _money(s["sv"])
    return {
        "n": s["n"], "gross": _money(s["gross"]), "tier_discount": _money(s["tier"]),
        "coupon_discount": _money(s["coupon"]), "points_used": s["points"] or 0,
        "points_value": _money(s["points_value"]), "paid": paid, "stored_value": sv,
        "money": paid - sv, "points_earned": s["earned"] or 0,
    }  # fmt: skip


def _refunds(qs) -> dict:
    s = qs.aggregate(
        n=Count("pk"), amount=Sum("amount"), sv=Sum("stored_value_returned"),
        returned=Sum("points_returned"), clawed=Sum("points_clawed_back"), debt=Sum("points_debt"),
    )  # fmt: skip
    amount, sv = _money(s["amount"]), _money(s["sv"])
    return {
        "n": s["n"], "amount": amount, "stored_value": sv, "money": amount - sv,
        "points_returned": s["returned"] or 0,
        "points_taken_back": (s["clawed"] or 0) + (s["debt"] or 0),
    }  # fmt: skip


def _coupons(qs, given_back: int) -> dict:
    s = qs.aggregate(n=Count("pk"), alone=Count("pk", filter=Q(purchase__isnull=True)))
    return {"n": s["n"], "with_purchase": s["n"] - s["alone"], "alone": s["alone"],
            "given_back": given_back}  # fmt: skip


def _stored_value(qs, tenders: dict[str, TenderLine]) -> dict:
    out = dict.fromkeys(("top_up", "bonus", "spent", "returned", "cashed_out", "forfeited"), ZERO)
    out.update(n_top_ups=0, n_cash_outs=0)
    rows = qs.values("kind", "tender").annotate(
        n=Count("pk"), p=Sum("principal_delta"), b=Sum("bonus_delta")
    )
    for row in rows:
        p, b = _money(row["p"]), _money(row["b"])
        if row["kind"] == SV_KIND.TOP_UP:
            out["n_top_ups"] += row["n"]
            out["top_up"] += p
            out["bonus"] += b
            tenders[row["tender"] or UNRECORDED].taken += p
        elif row["kind"] == SV_KIND.SPEND:
            out["spent"] -= p + b
            tenders[STORED_VALUE].taken -= p + b
        elif row["kind"] == SV_KIND.REFUND:
            out["returned"] += p + b
            tenders[STORED_VALUE].paid_back += p + b
        elif row["kind"] == SV_KIND.CASH_OUT:
            out["n_cash_outs"] += row["n"]
            out["cashed_out"] -= p
            out["forfeited"] -= b
            tenders[UNRECORDED].paid_back -= p  # paid back in money
    return out


def _count_cards(qs, tenders: dict[str, TenderLine]) -> dict:
    out = {"n_sold": 0, "sold": ZERO, "uses": 0, "n_refunds": 0, "refunded": ZERO}
    rows = qs.values("kind", "card__tender").annotate(
        n=Count("pk"), d=Sum("delta"), a=Sum("amount")
    )
    for row in rows:
        amount, line = _money(row["a"]), tenders[row["card__tender"] or UNRECORDED]
        if row["kind"] == CC_KIND.SALE:
            out["n_sold"] += row["n"]
            out["sold"] += amount
            if line.code != STORED_VALUE:  # its stored value is in the ledger's spend
                line.taken += amount
        elif row["kind"] == CC_KIND.USE:
            out["uses"] -= row["d"] or 0
        elif row["kind"] == CC_KIND.REFUND:
            out["n_refunds"] += row["n"]
            out["refunded"] += amount
            if line.code != STORED_VALUE:  # returned to the balance: the ledger's refund
                line.paid_back += amount
    return out


def _tender_lines() -> dict[str, TenderLine]:
    lines = {code: TenderLine(code, str(label)) for code, label in Tender.choices}
    lines[STORED_VALUE] = TenderLine(STORED_VALUE, _("Stored value"), money=False)
    lines[UNRECORDED] = TenderLine(UNRECORDED, _("Purchases: money, tender not recorded"))
    return lines


def shift_report(scope: Scope, first: dt.date, last: dt.date) -> ShiftReport:
    """The figures of `scope` over the Shanghai days first..last."""
    start, end = local_day_bounds(first)[0], local_day_bounds(last)[1]
    report = ShiftReport(first, last)
    report.purchases = _purchases(_rows("purchases", scope, start, end))
    report.refunds = _refunds(_rows("refunds", scope, start, end))
    restored = CouponEvent.objects.filter(kind=CouponEvent.Kind.RESTORED, at__gte=start, at__lt=end)
    if scope.by_store:
        restored = restored.filter(purchase__store_id=scope.store.pk)
    if scope.staff is not None:
        restored = restored.filter(actor_id=scope.staff.pk)
    report.coupons = _coupons(_rows("coupons", scope, start, end), restored.count())
    tenders = _tender_lines()
    tenders[UNRECORDED].taken += report.purchases["money"]
    tenders[UNRECORDED].paid_back += report.refunds["money"]
    report.stored_value = _stored_value(
        _rows("stored_value", scope, start, end).exclude(kind=SV_KIND.IMPORT), tenders
    )
    report.count_cards = _count_cards(_rows("count_cards", scope, start, end), tenders)
    report.tenders = [t for t in tenders.values() if t.taken or t.paid_back]
    if scope.staff is None:
        report.by_staff = _breakdown(scope, start, end, by="staff")
    if scope.every_store:
        report.by_store = _breakdown(scope, start, end, by="store")
    return report


BREAKDOWN = ("purchases", "paid", "refunded", "coupons", "top_up", "uses")


def _breakdown(scope: Scope, start, end, *, by: str) -> list[dict]:
    """Per staff member (or store): purchases, paid, refunded, coupons, top-ups, uses."""
    index = 3 if by == "staff" else 2
    key = {name: spec[index] for name, spec in SOURCES.items()}
    rows: dict = {}

    def add(source, qs, column, value):
        for row in qs.values(key[source]).annotate(v=value):
            line = rows.setdefault(row[key[source]], dict.fromkeys(BREAKDOWN, 0))
            line[column] += row["v"] or 0

    purchases = _rows("purchases", scope, start, end)
    add("purchases", purchases, "purchases", Count("pk"))
    add("purchases", purchases, "paid", Sum("cash_paid"))
    add("refunds", _rows("refunds", scope, start, end), "refunded", Sum("amount"))
    add("coupons", _rows("coupons", scope, start, end), "coupons", Count("pk"))
    stored = _rows("stored_value", scope, start, end).filter(kind=SV_KIND.TOP_UP)
    add("stored_value", stored, "top_up", Sum("principal_delta"))
    uses = _rows("count_cards", scope, start, end).filter(kind=CC_KIND.USE)
    add("count_cards", uses, "uses", Count("pk"))
    if by == "staff":
        people = User.objects.select_related("staff_profile").in_bulk([k for k in rows if k])
        names = {pk: staff_label(user) for pk, user in people.items()}
        names[None] = staff_label(None)
    else:
        names = dict(Store.objects.filter(pk__in=[k for k in rows if k]).values_list("pk", "name"))
        names[None] = _("No store")
    out = []
    for pk, line in rows.items():
        for column in ("paid", "refunded", "top_up"):
            line[column] = _money(line[column])
        out.append({"name": names.get(pk, "?"), "pk": pk, **line})
    out.sort(key=lambda r: (r["pk"] is None, -r["paid"], r["name"]))
    return out


# --- the pages ------------------------------------------------------------------------


def _page(request, template: str):
    need(request.user, "loyalty.view_purchase")
    form = ShiftForm(request.GET, user=request.user)  # nothing asked: today, everyone in view
    context = {"form": form, "report": None, "widths": WIDTHS}
    if form.is_valid():
        scope, data = form.scope(), form.cleaned_data
        report = shift_report(scope, data["start"], data["end"])
        asked = request.GET.copy()
        asked.pop("width", None)
        context.update(
            scope=scope,
            report=report,
            width=data["width"],
            staff_name=staff_label(scope.staff) if scope.staff else _("Everyone"),
            store_name=scope.store.name if scope.store else _("Every store"),
            printed_at=timezone.localtime(),
            asked=asked.urlencode(),  # the same report, on the slip or back on screen
            breakdowns=[
                (_("By staff member"), report.by_staff, "shift-by-staff"),
                (_("By store"), report.by_store, "shift-by-store"),
            ],
        )
    return render(request, template, context)


@require_GET
@staff_required
def shift(request):
    """The shift report on screen: the range, the store and staff choices, the figures."""
    return _page(request, "loyalty/staff/shift.html")


@require_GET
@staff_required
def shift_print(request):
    """The same figures as a slip for the receipt printer, 58 or 80 mm wide."""
    return _page(request, "loyalty/staff/shift_print.html")
