"""/staff/my-customers/: a guide's (导购) own customers at the counter.

The members whose guide (Member.guide, who recruited them) is the staff member logged
in, among the members they may see (their store's): name, masked phone, tier, points,
points expiring soon, last purchase and birthday, newest buyers first, or sorted by
who has lapsed longest, the next birthday, the soonest expiring points or the most
points; filtered to birthdays this month or points expiring within N days (the lots
the card's "expiring" figure counts, loyalty.selectors.expiring_points). A page of
rows is one query; staff who may see the staff list (managers, owners) open any
guide's list of the members they see.

The list is a Jinja template (config/platform/jinja2.py), placed into the staff page.
"""

import datetime as dt

from django import forms
from django.core.paginator import Paginator
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, ExtractDay, ExtractMonth, Mod
from django.shortcuts import render
from django.template import engines
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from loyalty.dates import last_valid_day
from loyalty.models import PointsEntry
from loyalty.selectors import EXPIRING_DAYS
from members.models import Member, User
from members.selectors import ALL_STORES, members_visible_to, store_scope
from members.views import staff_required

PER_PAGE = 25
LIST = "loyalty/staff/my_customers.html"  # Jinja: templates/jinja2/
PAGE = "loyalty/staff/my_customers_page.html"  # the staff page around it

SORTS = {
    "recent": _("Last purchase, newest first"),
    "lapsed": _("Last purchase, oldest first"),
    "birthday": _("Next birthday"),
    "expiring": _("Points expiring soonest"),
    "points": _("Most points"),
}


class MyCustomersForm(forms.Form):
    """The list's choices; a value that does not clean falls back to its default."""

    guide = forms.TypedChoiceField(coerce=int, required=False)
    sort = forms.ChoiceField(choices=list(SORTS.items()), required=False)
    birthday = forms.BooleanField(required=False)
    expiring = forms.BooleanField(required=False)
    days = forms.IntegerField(min_value=1, max_value=366, required=False)

    def __init__(self, *args, guides: list[tuple[int, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["guide"].choices = guides


def guide_picker(user: User) -> list[tuple[int, str]]:
    """Whose lists `user` may open: their own, and for staff who see the staff list
    (managers: their store's staff; owners: everyone's) any active staff member's."""
    profile = getattr(user, "staff_profile", None)
    own = [(user.pk, (profile and profile.display_name) or user.get_username())]
    if not user.has_perm("members.view_staffprofile"):
        return own
    staff = User.objects.filter(is_active=True, staff_profile__isnull=False).exclude(pk=user.pk)
    scope = store_scope(user)
    if scope is not ALL_STORES:
        staff = staff.filter(staff_profile__store_id=scope)
    rows = staff.values_list("pk", "username", "staff_profile__display_name")
    return own + sorted(((pk, name or username) for pk, username, name in rows), key=lambda c: c[1])


def guide_members(user: User, guide_id: int) -> QuerySet[Member]:
    """The members `guide_id` recruited, among those `user` may see (member_guide_set)."""
    return members_visible_to(user).filter(guide_id=guide_id)


def expiring_lots(now: dt.datetime, days: int) -> QuerySet[PointsEntry]:
    """A member's lots with points left that expire within `days` (as the card counts
    them); points_open_lots serves the lookup."""
    return PointsEntry.objects.filter(
        member=OuterRef("pk"),
        remaining__gt=0,
        expires_at__gt=now,
        expires_at__lte=now + dt.timedelta(days=days),
    )


def customers_of(
    *,
    user: User,
    guide_id: int,
    now: dt.datetime,
    sort: str = "recent",
    birthday_month: int | None = None,
    expiring_days: int = EXPIRING_DAYS,
    expiring_only: bool = False,
) -> QuerySet[Member]:
    """The members of `guide_id` that `user` may see, with their card's figures and the
    points expiring within `expiring_days` (expiring_points, next_expiry), sorted."""
    lots = expiring_lots(now, expiring_days)
    qs = (
        guide_members(user, guide_id)
        .only("member_no", "phone", "name", "birthday", "created_at")
        .annotate(
            tier_name=F("card__tier__name"),
            tier_level=F("card__tier__level"),  # the badge's colour
            points=Coalesce(F("card__points_balance"), 0),
            last_purchase_at=F("card__last_purchase_at"),
            expiring_points=Coalesce(
                Subquery(lots.values("member").annotate(n=Sum("remaining")).values("n")[:1]),
                0,
            ),
            next_expiry=Subquery(lots.order_by("expires_at").values("expires_at")[:1]),
        )
    )
    if birthday_month:
        qs = qs.filter(birthday__month=birthday_month)
    if expiring_only:
        qs = qs.filter(Exists(lots))
    return qs.order_by(*_ordering(sort, _today(now)))


def customer_counts(*, user: User, guide_id: int, now: dt.datetime, days: int) -> dict:
    """{total, birthdays (this Shanghai month), expiring (within `days`)}: one query."""
    return guide_members(user, guide_id).aggregate(
        total=Count("pk"),
        birthdays=Count("pk", filter=Q(birthday__month=_today(now).month)),
        expiring=Count("pk", filter=Exists(expiring_lots(now, days))),
    )


def _today(now: dt.datetime) -> dt.date:
    return timezone.localdate(now, timezone.get_default_timezone())  # Shanghai


def _ordering(sort: str, today: dt.date) -> list:
    last = F("last_purchase_at")
    if sort == "lapsed":
        return [last.asc(nulls_last=True), "pk"]
    if sort == "birthday":
        # Days of the year as month * 100 + day, counted on from today: the next first.
        day = ExtractMonth("birthday") * 100 + ExtractDay("birthday")
        ahead = Mod(day - Value(today.month * 100 + today.day) + 1300, 1300)
        return [ahead.asc(nulls_last=True), "pk"]
    if sort == "expiring":
        return [F("next_expiry").asc(nulls_last=True), "-expiring_points", "pk"]
    if sort == "points":
        return [F("points").desc(), "pk"]
    return [last.desc(nulls_last=True), "-pk"]


def _dress(members, now: dt.datetime) -> None:
    """Shanghai days of what a row shows (a page: at most PER_PAGE members)."""
    today, zone = _today(now), timezone.get_default_timezone()
    for member in members:
        member.last_day = (
            timezone.localdate(member.last_purchase_at, zone) if member.last_purchase_at else None
        )
        member.days_ago = (today - member.last_day).days if member.last_day else None
        # expires_at is the first instant after the last valid day.
        member.expiry_day = last_valid_day(member.next_expiry, zone) if member.next_expiry else None
        member.birthday_now = bool(member.birthday and member.birthday.month == today.month)


@require_GET
@staff_required
def my_customers(request):
    now = timezone.now()
    guides = guide_picker(request.user)
    form = MyCustomersForm(request.GET, guides=guides)
    form.is_valid()  # what does not clean keeps its default
    chosen = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
    guide_id = chosen.get("guide", request.user.pk)
    sort, days = chosen.get("sort", "recent"), chosen.get("days", EXPIRING_DAYS)
    shown = customers_of(
        user=request.user,
        guide_id=guide_id,
        now=now,
        sort=sort,
        expiring_days=days,
        birthday_month=_today(now).month if chosen.get("birthday") else None,
        expiring_only=bool(chosen.get("expiring")),
    )
    page = Paginator(shown, PER_PAGE).get_page(request.GET.get("page"))
    _dress(page.object_list, now)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "page": page,
        "guides": guides,
        "guide_id": guide_id,
        "guide_name": dict(guides).get(guide_id, ""),
        "own": guide_id == request.user.pk,
        "sorts": list(SORTS.items()),
        "sort": sort,
        "days": days,
        "birthday": bool(chosen.get("birthday")),
        "expiring": bool(chosen.get("expiring")),
        "counts": customer_counts(user=request.user, guide_id=guide_id, now=now, days=days),
        "query": query.urlencode(),
    }
    # Rendered by the autoescaping Jinja engine: safe to place as it is.
    html = engines["jinja2"].get_template(LIST).render(context, request)
    return render(request, PAGE, {"list_html": mark_safe(html)})  # noqa: S308
