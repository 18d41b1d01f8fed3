"""The fields a segment rule may test, each turned into a Q over Member.

A field knows its value kind (text, int, money, bool), the operators it takes, the
values it accepts (tier names, tag names ... checked against the database), and how
one comparison becomes SQL. "Not set" is a value of its own: a member who never
bought has no days_since_last_purchase, so `gte`, `lte`, `between`, `eq` and `in`
never match them, and `ne` / `not_in` (the negations of `eq` / `in`) always do.

Days are Shanghai calendar days: days_since_last_purchase is today minus the day of
the last purchase; points_expiring_days is the day the member's first live points
lot expires minus today; age is whole years on today's date.

Apps above campaigns add fields of their own (wechat: wechat_subscribed) with
`register` from their AppConfig.ready().
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Exists, F, OuterRef, Q
from django.db.models.lookups import Exact, GreaterThanOrEqual, LessThan, LessThanOrEqual
from django.utils.translation import gettext_lazy as _

from config.platform.scan import Unindexed
from loyalty.coupons import usable_at
from loyalty.dates import local_midnight
from loyalty.models import Coupon, CouponTemplate, Lifecycle, PointsEntry, RfmSegment, Tier
from members.models import Member, Store, Tag, User

TEXT, INT, MONEY, BOOL = "text", "int", "money", "bool"
ORDERED_OPS = ("eq", "ne", "in", "not_in", "gte", "lte", "between", "is_set", "is_not_set")
CHOICE_OPS = ("eq", "ne", "in", "not_in", "is_set", "is_not_set")
BOOL_OPS = ("eq", "ne")
MAX_DAYS = 36_500  # a hundred years: day counts beyond it are refused, not overflowed


@dataclass(frozen=True)
class Context:
    """When the rule is evaluated: `now` (aware) and its Shanghai day."""

    now: dt.datetime
    today: dt.date

    def day_start(self, day: dt.date) -> dt.datetime:
        return local_midnight(day)


Compare = Callable[[str, object, Context], Q]  # (exact|gte|lte|in, value, ctx) -> Q


@dataclass
class Field:
    name: str
    label: object
    kind: str
    compare: Compare  # a comparison among members for whom the field is set
    is_set: Callable[[Context], Q]
    ops: tuple[str, ...] = ORDERED_OPS
    # The values the field takes, as [(value, label)] for the editor, or None (free).
    choices: Callable[[], list[tuple[str, str]]] | None = None
    low: int | None = None  # bounds of an int field
    high: int | None = None
    help: object = ""
    # True when a comparison could match a member for whom the field is not set (a score
    # of 0 is "not set" and `lte 2` would take it): the comparison is then ANDed with
    # is_set. Elsewhere a comparison implies it, and the check would cost a second
    # EXISTS or join per member.
    guard: bool = False


def register(item: Field) -> Field:
    FIELDS[item.name] = item
    return item


# --- building blocks --------------------------------------------------------------------


def column(path: str) -> Compare:
    """A column (or a path across joins): the lookup goes straight to the ORM."""

    def compare(cmp: str, value, ctx: Context) -> Q:
        return Q(**{f"{path}__{cmp}": value})

    return compare


def set_when(**lookups) -> Callable[[Context], Q]:
    return lambda ctx: Q(**lookups)


def set_unless(**lookups) -> Callable[[Context], Q]:
    return lambda ctx: ~Q(**lookups)


def days_ago(path: str) -> Compare:
    """A datetime column read as "days ago" (Shanghai days): N days ago is the day
    today - N, from its midnight to the next."""

    def compare(cmp: str, value, ctx: Context) -> Q:
        if cmp == "in":
            return any_of(compare("exact", v, ctx) for v in value)
        since = ctx.day_start(ctx.today - dt.timedelta(days=value))  # start of that day
        until = ctx.day_start(ctx.today - dt.timedelta(days=value - 1))
        if cmp == "gte":  # at least N days ago: before the end of that day; most members
            # are, so no index walk over them (config/platform/scan.py)
            return Q(LessThan(Unindexed(path), until))
        if cmp == "lte":
            return Q(**{f"{path}__gte": since})
        return Q(**{f"{path}__gte": since, f"{path}__lt": until})

    return compare


def born_before(today: dt.date, years: int) -> dt.date:
    """The first birthday that is *not* yet `years` old today: age >= years exactly
    when the birthday is before it (29 February counts from 1 March)."""
    year = today.year - years
    try:
        return dt.date(year, today.month, today.day) + dt.timedelta(days=1)
    except ValueError:  # today is 29 February, that year has none
        return dt.date(year, 3, 1)


def age_compare(cmp: str, value, ctx: Context) -> Q:
    if cmp == "in":
        return any_of(age_compare("exact", v, ctx) for v in value)
    at_least = Q(birthday__lt=born_before(ctx.today, value))
    at_most = Q(birthday__gte=born_before(ctx.today, value + 1))
    return {"gte": at_least, "lte": at_most}.get(cmp, at_least & at_most)


def live_lots(ctx: Context, **lookups):
    return PointsEntry.objects.filter(
        member_id=OuterRef("pk"), remaining__gt=0, expires_at__gt=ctx.now, **lookups
    )


def expiring_compare(cmp: str, value, ctx: Context) -> Q:
    """Days until the member's first live lot expires (0: today)."""
    if cmp == "in":
        return any_of(expiring_compare("exact", v, ctx) for v in value)
    by_end = ctx.day_start(ctx.today + dt.timedelta(days=value + 1))  # expiring by day N
    before = ctx.day_start(ctx.today + dt.timedelta(days=value))  # expiring before day N
    within = Q(Exists(live_lots(ctx, expires_at__lt=by_end)))
    not_sooner = Q(Exists(live_lots(ctx))) & ~Q(Exists(live_lots(ctx, expires_at__lt=before)))
    return {"lte": within, "gte": not_sooner}.get(cmp, within & not_sooner)


def has(queryset_of: Callable[[Context], object], key: str, named) -> Compare:
    """A related row exists whose `key` is one of the rows `named(cmp, value)` picks (a
    tag by name, a coupon by its template's code): the names are read in a subquery
    that runs once, not joined per member."""

    def compare(cmp: str, value, ctx: Context) -> Q:
        return Q(Exists(queryset_of(ctx).filter(**{f"{key}__in": named(cmp, value)})))

    return compare


def keyed(path: str, named) -> Compare:
    """A foreign key among the rows `named(cmp, value)` picks (a tier by name, a store
    by code, a guide by username): no join to the named table."""

    def compare(cmp: str, value, ctx: Context) -> Q:
        return Q(**{f"{path}__in": named(cmp, value)})

    return compare


def by(model, column_name: str):
    return lambda cmp, value: model.objects.filter(**{f"{column_name}__{cmp}": value}).values("pk")


def expression(build: Callable[[], object]) -> Compare:
    """A computed number (stored value = principal + bonus)."""
    lookups = {"exact": Exact, "gte": GreaterThanOrEqual, "lte": LessThanOrEqual}

    def compare(cmp: str, value, ctx: Context) -> Q:
        if cmp == "in":
            return any_of(compare("exact", v, ctx) for v in value)
        return Q(lookups[cmp](build(), value))

    return compare


def any_of(parts) -> Q:
    result = Q(pk__in=[])
    for part in parts:
        result |= part
    return result


def always(ctx: Context) -> Q:
    return Q()


def boolean(build: Callable[[Context], Q]) -> Compare:
    """A yes/no field: `build` is the "yes"; compare only sees exact."""
    return lambda cmp, value, ctx: build(ctx) if value else ~build(ctx)


# --- the choices offered by the editor (and checked on save) ----------------------------


def tier_choices():
    return [(name, name) for name in Tier.objects.order_by("level").values_list("name", flat=True)]


def tag_choices():
    return [(name, name) for name in Tag.objects.order_by("name").values_list("name", flat=True)]


def store_choices():
    return [(code, f"{name} ({code})") for code, name in Store.objects.values_list("code", "name")]


def guide_choices():
    """Staff who recruited someone, and every staff account with a profile."""
    users = User.objects.filter(Q(staff_profile__isnull=False) | Q(is_staff=True)).order_by(
        "username"
    )
    return [(name, name) for name in users.values_list("username", flat=True)]


def coupon_choices():
    rows = CouponTemplate.objects.exclude(code__isnull=True).order_by("name")
    return [(code, f"{name} ({code})") for code, name in rows.values_list("code", "name")]


def labelled(choices) -> Callable[[], list[tuple[str, str]]]:
    return lambda: [(value, str(label)) for value, label in choices]


def usable_coupons(ctx: Context):
    return Coupon.objects.filter(usable_at(ctx.now), member_id=OuterRef("pk"))


def tags_held(ctx: Context):
    return Member.tags.through.objects.filter(member_id=OuterRef("pk"))


# --- the fields -------------------------------------------------------------------------

CHOICE_FIELDS = [
    ("tier", _("Tier"), keyed("card__tier", by(Tier, "name")), {"card__tier__isnull": True},
     tier_choices),
    ("store", _("Store of registration"), keyed("store", by(Store, "code")),
     {"store__isnull": True}, store_choices),
    ("guide", _("Guide (staff username)"), keyed("guide", by(User, "username")),
     {"guide__isnull": True}, guide_choices),
    ("lifecycle", _("Lifecycle stage"), column("card__lifecycle"), {"card__lifecycle": ""},
     labelled(Lifecycle.choices)),
    ("rfm", _("RFM segment"), column("card__rfm_segment"), {"card__rfm_segment": ""},
     labelled(RfmSegment.choices)),
    ("gender", _("Gender"), column("gender"), {"gender": ""},
     labelled([c for c in Member.Gender.choices if c[0]])),
]  # fmt: skip
BUILTIN = [
    *(Field(name, label, TEXT, compare, set_unless(**unset), CHOICE_OPS, choices)
      for name, label, compare, unset, choices in CHOICE_FIELDS),
    Field("tag", _("Tag"), TEXT, has(tags_held, "tag_id", by(Tag, "name")),
        lambda ctx: Q(Exists(tags_held(ctx))), CHOICE_OPS, tag_choices,
        help=_("Has the tag")),
    Field("has_coupon", _("Holds a usable coupon"), TEXT,
        has(usable_coupons, "template_id", by(CouponTemplate, "code")),
        lambda ctx: Q(Exists(usable_coupons(ctx))), CHOICE_OPS, coupon_choices,
        help=_("Coupon template code")),
    *(Field(name, label, INT, column(f"card__{name}"), set_when(**{f"card__{name}__gte": 1}),
            low=1, high=5, guard=True)
      for name, label in [("rfm_r", _("R score")), ("rfm_f", _("F score")),
                   ("rfm_m", _("M score"))]),
    Field("days_since_last_purchase", _("Days since the last purchase"), INT,
        days_ago("card__last_purchase_at"),
        set_when(card__last_purchase_at__isnull=False), low=0, high=MAX_DAYS),
    Field("purchase_count", _("Number of purchases"), INT, column("card__purchase_count"),
        always, low=0),
    Field("total_spent", _("Total spent (yuan)"), MONEY, column("card__total_spent"),
        always),
    Field("points_balance", _("Points balance"), INT, column("card__points_balance"),
        always),
    Field("stored_value_balance", _("Stored value balance (yuan)"), MONEY,
        expression(lambda: F("card__stored_principal") + F("card__stored_bonus")),
        always),
    Field("points_expiring_days", _("Days until points expire"), INT, expiring_compare,
        lambda ctx: Q(Exists(live_lots(ctx))), low=0, high=MAX_DAYS,
        help=_("Days until the first points expire; 'at most 30': some expire "
               "within 30 days")),
    Field("birthday_month", _("Birthday month"), INT, column("birthday__month"),
        set_when(birthday__isnull=False), low=1, high=12),
    Field("age", _("Age"), INT, age_compare, set_when(birthday__isnull=False),
        low=0, high=150),
    Field("registered_days_ago", _("Days since registration"), INT,
        days_ago("created_at"), always, low=0, high=MAX_DAYS),
    Field("wechat_bound", _("WeChat bound"), BOOL,
        boolean(lambda ctx: Q(wechat_openid__isnull=False)), always, BOOL_OPS),
    Field("marketing_consent", _("Accepts marketing messages"), BOOL,
        boolean(lambda ctx: Q(marketing_consent=True)), always, BOOL_OPS),
]  # fmt: skip
# The fields of the rule language; apps above add theirs with register() in ready().
FIELDS: dict[str, Field] = {item.name: item for item in BUILTIN}
