"""Reads of the staff screens (the counter and member 360), scoped to what the staff
member may see or serve (members.selectors: members_visible_to, member_served_by).
No writes here.

The 360 timeline is composed from sources: loyalty's own below, and those the apps
above register in TIMELINE_SOURCES (campaigns adds the member's messages), so loyalty
never imports them.
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.count_cards import count_cards_of
from loyalty.counter.audit_sentences import audit_sentence
from loyalty.counter.forms import new_token
from loyalty.coupons import ANY_STORE, usable_coupons
from loyalty.dates import last_valid_day
from loyalty.display import valid_through
from loyalty.models import (
    CODE_ALPHABET,
    Card,
    CheckIn,
    Coupon,
    CouponEvent,
    CouponTemplate,
    EarnRule,
    Lifecycle,
    LoyaltySettings,
    PointsEntry,
    Purchase,
    Redemption,
    StoredValueEntry,
    TierChange,
    normalize_code,
    split_categories,
)
from loyalty.money import yuan_down
from loyalty.rules import shown_rules
from loyalty.selectors import card_of, expiring_points, tier_progress
from members.dynamic_code import code_digits, looks_dynamic, member_for_code
from members.models import AuditEntry, Member, User
from members.selectors import member_search, member_served_by

LAST_PURCHASES = 5
TIMELINE_SIZE = 40


# --- the counter's one search box ---------------------------------------------------


@dataclass
class Lookup:
    """What the search box found: members, or a coupon, or a reward's pickup."""

    kind: str = ""  # phone | member_no | last4 | name | coupon | pickup | dynamic
    members: list[Member] = field(default_factory=list)
    coupon: Coupon | None = None
    redemption: Redemption | None = None
    dynamic_code: str = ""  # the member centre's dynamic code that found the member

    @property
    def found(self) -> bool:
        return bool(self.members or self.coupon or self.redemption)


def _code_shaped(text: str, length: int) -> bool:
    return len(text) == length and all(ch in CODE_ALPHABET for ch in text)


# What the counter's result list and card show (loyalty/staff/_lookup.html, _card*.html,
# tier_progress): the lookup reads these columns of member, store, card and tier, not the
# ~190 of all four, whose SELECT took longer to build than to run. A column left out
# here and shown after all would cost a query per member (test_counter_queries).
COUNTER_COLUMNS = (
    "member_no", "phone", "name", "created_at", "guide",
    "store__code", "store__name",
    "card__tier", "card__points_balance", "card__points_debt",
    "card__growth_value", "card__total_spent", "card__purchase_count",
    "card__stored_principal", "card__stored_bonus", "card__last_purchase_at",
    "card__lifecycle", "card__rfm_segment", "card__rfm_r", "card__rfm_f", "card__rfm_m",
    "card__tier__level", "card__tier__name",
)  # fmt: skip


def counter_lookup(user: User, q: str) -> Lookup:
    """Phone (full or last 4), member number (typed or the card's QR), the member
    centre's dynamic code, or a coupon or pickup code. Each is one indexed lookup. An
    exact key (the full phone, the member number, the dynamic code, a coupon or pickup
    code) finds a member of any store this counter serves
    (members.selectors.member_served_by: the chain, unless a store is a franchise);
    the last 4 digits and names only this store's members."""
    q = (q or "").strip()
    if not q:
        return Lookup()
    if looks_dynamic(q):  # the member centre's dynamic code: an exact key too
        found = member_for_code(q)
        if found is None:
            return Lookup(kind="dynamic")
        _kind, members = member_search(
            user, found.member_no, related=("card__tier",), only=COUNTER_COLUMNS
        )
        return Lookup(kind="dynamic", members=members, dynamic_code=code_digits(q))
    code = normalize_code(q)
    if _code_shaped(code, Coupon.CODE_LENGTH) and not code.isdigit():
        coupon = (
            Coupon.objects.select_related("template", "member__store").filter(code=code).first()
        )
        if coupon is not None and not member_served_by(user, coupon.member):
            coupon = None
        return Lookup(kind="coupon", coupon=coupon)
    if _code_shaped(code, Redemption.PICKUP_CODE_LENGTH) and not code.isdigit():
        redemption = (
            Redemption.objects.select_related("reward", "member__store")
            .filter(pickup_code=code)
            .first()
        )
        if redemption is not None and not member_served_by(user, redemption.member):
            redemption = None
        return Lookup(kind="pickup", redemption=redemption)
    # One member found shows their card: join it (and its tier) to the search.
    kind, members = member_search(user, q, related=("card__tier",), only=COUNTER_COLUMNS)
    return Lookup(kind=kind, members=members)


# --- the member card at the counter ---------------------------------------------------


def usable_coupons_of(member: Member, now, store_id=ANY_STORE) -> list[Coupon]:
    """The member's usable coupons (the first 20, soonest to expire first), each with
    `here`: usable at the store `store_id` (a template limited to other stores: not;
    ANY_STORE: every coupon is) and `where`, the stores it is limited to."""
    coupons = list(usable_coupons(member.pk, now=now).prefetch_related("template__stores")[:20])
    for coupon in coupons:
        coupon.last_day = last_valid_day(coupon.valid_until)
        coupon.valid_through = valid_through(coupon.valid_until)  # 有效期至 2026-12-31
        limits = coupon.template.store_limits
        coupon.here = store_id is ANY_STORE or not limits or store_id in limits
        coupon.where = "、".join(limits.values())
    return coupons


def points_cash_value(points: int, conf: LoyaltySettings) -> Decimal:
    return yuan_down(Decimal(points) / conf.points_per_cash_yuan)


# The lifecycle stage's badge (Bootstrap classes) on the counter card and the 360 page:
# the subtle shades, so it never looks like the tier's solid badge beside it.
LIFECYCLE_BADGE = {
    Lifecycle.NEW: "bg-info-subtle text-info-emphasis border border-info-subtle",
    Lifecycle.ACTIVE: "bg-success-subtle text-success-emphasis border border-success-subtle",
    Lifecycle.DORMANT: "bg-warning-subtle text-warning-emphasis border border-warning-subtle",
    Lifecycle.CHURNED: "bg-danger-subtle text-danger-emphasis border border-danger-subtle",
    Lifecycle.PROSPECT: "bg-light text-secondary border",
}


@dataclass(frozen=True)
class Badge:
    label: str
    css: str  # Bootstrap classes
    title: str  # the tooltip: what the badge is
    kind: str  # a CSS and test hook: lifecycle | rfm


def stage_badges(card: Card) -> list[Badge]:
    """The card's lifecycle stage and RFM segment (the nightly lifecycle_and_rfm job's),
    as small badges beside the tier; none before the job has run. No query: the card is
    loaded already."""
    if card._state.adding:  # an unsaved card (a bulk path skipped it): not scored yet
        return []
    badges = []
    if card.lifecycle:
        css = LIFECYCLE_BADGE.get(card.lifecycle, "bg-light text-secondary border")
        badges.append(Badge(card.get_lifecycle_display(), css, _("lifecycle stage"), "lifecycle"))
    if card.rfm_segment:
        scores = {"r": card.rfm_r, "f": card.rfm_f, "m": card.rfm_m}
        title = _("RFM segment (R %(r)s · F %(f)s · M %(m)s)") % scores
        badges.append(
            Badge(card.get_rfm_segment_display(), "bg-light text-body border", title, "rfm")
        )
    return badges


def member_card_core(member: Member, now=None) -> dict:
    """Who the member is and what they hold: the part of the card the counter shows at
    once (the lookup joins the card and tier; settings and the next tier are two more)."""
    now = now or timezone.now()
    conf = shown_rules().conf
    card = card_of(member)
    return {
        "member": member,
        "card": card,
        "conf": conf,
        "cash_value": points_cash_value(card.points_balance, conf),
        "progress": tier_progress(card, conf, now),
        "badges": stage_badges(card),
    }


def member_card_extras(member: Member, now=None, store_id=ANY_STORE) -> dict:
    """The rest of the card: expiring points, coupons, today's check-in, tags, guide and
    the last purchases (the counter loads them right after the card, by htmx). Coupons
    limited to other stores than `store_id` (the clerk's) are listed apart, as such."""
    now = now or timezone.now()
    today = timezone.localdate(now, timezone.get_default_timezone())
    coupons = usable_coupons_of(member, now, store_id)
    return {
        "extras": True,
        "expiring": expiring_points(member, now),
        "coupons": [c for c in coupons if c.here],
        "coupons_elsewhere": [c for c in coupons if not c.here],
        "checkin": CheckIn.objects.filter(member=member, day=today).first(),
        "tags": list(member.tags.all()),
        "guide": (
            User.objects.select_related("staff_profile").filter(pk=member.guide_id).first()
            if member.guide_id
            else None
        ),
        "last_purchases": list(
            Purchase.objects.filter(member=member)
            .select_related("store")
            .order_by("-occurred_at", "-id")[:LAST_PURCHASES]
        ),
        # Usable count cards (次卡), each with a "use one" button; the render's token
        # makes a double click one use (the key is token and card).
        "count_cards": [c for c in count_cards_of(member, now) if c["status"] == "active"],
        "use_token": new_token(),
    }


def member_card(member: Member, now=None, store_id=ANY_STORE) -> dict:
    """Everything the counter shows of a member, in a fixed number of queries."""
    now = now or timezone.now()
    return {**member_card_core(member, now), **member_card_extras(member, now, store_id)}


def known_categories(conf: LoyaltySettings) -> list[str]:
    """Categories the rules know of (earn rules, coupon templates): the form's suggestions."""
    names = set(EarnRule.objects.exclude(category="").values_list("category", flat=True))
    for text in (
        CouponTemplate.objects.filter(active=True)
        .exclude(categories="")
        .values_list("categories", flat=True)
    ):
        names |= split_categories(text)
    names |= conf.excluded_categories()
    return sorted(names)


def counter_purchase_by_token(member: Member, token: str) -> Purchase | None:
    """The purchase a counter confirmation form (its token) already recorded, if any."""
    if not token or len(token) > 40:
        return None
    return Purchase.objects.filter(external_ref=f"counter:{token}", member=member).first()


def purchase_for_receipt(purchase_id: int):
    """The purchase with what its receipt shows (store, staff, member, coupon, refunds)."""
    purchase = (
        Purchase.objects.select_related("member", "store", "staff__staff_profile")
        .filter(pk=purchase_id)
        .first()
    )
    if purchase is None:
        return None, [], []
    coupons = list(Coupon.objects.filter(purchase=purchase).select_related("template"))
    refunds = list(purchase.refunds.order_by("created_at", "id"))
    return purchase, coupons, refunds


# --- the 360 timeline ------------------------------------------------------------------


@dataclass
class Event:
    """One line of a member's timeline."""

    at: dt.datetime
    kind: str  # a CSS hook: registered, purchase, points, coupon, reward, tier, checkin, ...
    title: str
    detail: str = ""
    amount: str = ""
    url: str = ""


# A source: (member, before, limit) -> list[Event], newest first, all strictly before
# `before`. Apps above loyalty append theirs (campaigns: messages) from their ready().
TimelineSource = Callable[[Member, dt.datetime, int], list[Event]]
TIMELINE_SOURCES: list[TimelineSource] = []


def _purchases(member, before, limit):
    from django.urls import reverse

    rows = (
        Purchase.objects.filter(member=member, occurred_at__lt=before)
        .select_related("store")
        .order_by("-occurred_at", "-id")[:limit]
    )
    events = []
    for p in rows:
        detail = " · ".join(
            filter(
                None,
                [
                    p.store.name if p.store_id else "",
                    p.category,
                    _("paid ¥%(cash)s") % {"cash": p.cash_paid},
                    _("+%(n)d points") % {"n": p.points_earned} if p.points_earned else "",
                    p.get_status_display() if p.status != Purchase.Status.COMPLETED else "",
                ],
            )
        )
        events.append(
            Event(
                p.occurred_at,
                "purchase",
                _("Purchase"),
                detail,
                f"¥{p.gross_amount}",
                reverse("staff:receipt", args=[p.pk]),
            )
        )
    return events


def _points(member, before, limit):
    # Purchase rows are on the timeline already: show the other kinds of points here.
    rows = (
        PointsEntry.objects.filter(member=member, created_at__lt=before, purchase__isnull=True)
        .select_related("actor")
        .order_by("-created_at", "-id")[:limit]
    )
    return [
        Event(
            e.created_at,
            "points",
            e.get_kind_display(),
            " · ".join(filter(None, [e.reason, str(e.actor or "")])),
            f"{e.delta:+d}",
        )
        for e in rows
    ]


def _stored_value(member, before, limit):
    from django.urls import reverse

    # A purchase's spend is on the purchase's line already: the rest here (top-ups,
    # refunds, cash-outs, a count card paid from stored value).
    rows = (
        StoredValueEntry.objects.filter(member=member, created_at__lt=before)
        .exclude(kind=StoredValueEntry.Kind.SPEND, purchase__isnull=False)
        .select_related("store", "actor")
        .order_by("-created_at", "-id")[:limit]
    )
    return [
        Event(
            e.created_at,
            "stored_value",
            _("Stored value: %(kind)s") % {"kind": e.get_kind_display()},
            " · ".join(
                filter(None, [e.store.name if e.store_id else "", e.reason, str(e.actor or "")])
            ),
            f"{e.principal_delta + e.bonus_delta:+}",
            reverse("staff:stored_value_slip", args=[e.pk]),
        )
        for e in rows
    ]


def _coupons(member, before, limit):
    rows = (
        CouponEvent.objects.filter(coupon__member=member, at__lt=before)
        .select_related("coupon__template", "store", "actor")
        .order_by("-at", "-id")[:limit]
    )
    return [
        Event(
            e.at,
            "coupon",
            _("Coupon %(event)s") % {"event": e.get_kind_display()},
            " · ".join(
                filter(
                    None,
                    [
                        e.coupon.template.name,
                        e.coupon.display_code,
                        e.store.name if e.store_id else "",
                        e.note,
                    ],
                )
            ),
        )
        for e in rows
    ]


def _redemptions(member, before, limit):
    rows = (
        Redemption.objects.filter(member=member, created_at__lt=before)
        .select_related("reward")
        .order_by("-created_at", "-id")[:limit]
    )
    return [
        Event(
            r.created_at,
            "reward",
            _("Reward redeemed"),
            f"{r.reward.name} · {r.get_status_display()} · {r.pickup_code}",
            f"-{r.points}",
        )
        for r in rows
    ]


def _tiers(member, before, limit):
    rows = (
        TierChange.objects.filter(member=member, created_at__lt=before)
        .select_related("from_tier", "to_tier")
        .order_by("-created_at", "-id")[:limit]
    )
    return [
        Event(
            t.created_at,
            "tier",
            t.get_reason_display(),
            f"{t.from_tier or '—'} → {t.to_tier or '—'}" + (f" · {t.note}" if t.note else ""),
        )
        for t in rows
    ]


def _checkins(member, before, limit):
    rows = CheckIn.objects.filter(member=member, created_at__lt=before).order_by(
        "-created_at", "-id"
    )[:limit]
    return [
        Event(
            c.created_at,
            "checkin",
            _("Check-in"),
            _("%(n)d days in a row") % {"n": c.streak},
            f"+{c.points + c.bonus_points}",
        )
        for c in rows
    ]


def _audit(member, before, limit):
    rows = (
        AuditEntry.objects.filter(
            object_type=Member._meta.label_lower, object_id=str(member.pk), at__lt=before
        )
        .select_related("actor")
        .order_by("-at", "-id")[:limit]
    )
    # What was done as a sentence (audit_sentences), never the raw diff.
    return [
        Event(
            entry.at,
            "audit",
            entry.action_label,
            " · ".join(filter(None, [str(entry.actor or ""), audit_sentence(entry)])),
        )
        for entry in rows
    ]


def _registered(member, before, limit):
    if member.created_at >= before:
        return []
    detail = " · ".join(
        filter(None, [member.get_source_display(), member.store.name if member.store else ""])
    )
    return [Event(member.created_at, "registered", _("Registered"), detail)]


LOYALTY_SOURCES: list[TimelineSource] = [
    _registered,
    _purchases,
    _points,
    _stored_value,
    _coupons,
    _redemptions,
    _tiers,
    _checkins,
    _audit,
]


def member_timeline(member: Member, *, before=None, limit: int = TIMELINE_SIZE) -> list[Event]:
    """The newest `limit` events of every source before `before`, newest first.

    One query per source, each on a (member, time) index; the page asks for the next
    ones with the oldest shown as `before`.
    """
    before = before or timezone.now() + dt.timedelta(seconds=1)
    events: list[Event] = []
    for source in [*LOYALTY_SOURCES, *TIMELINE_SOURCES]:
        events.extend(source(member, before, limit))
    events.sort(key=lambda e: e.at, reverse=True)
    return events[:limit]


def guide_choices(member: Member):
    """Staff who may look after the member: the member's store's staff, and the owners."""
    qs = User.objects.filter(is_active=True, staff_profile__isnull=False)
    if member.store_id:
        qs = qs.filter(Q(staff_profile__store_id=member.store_id) | Q(staff_profile__role="owner"))
    return qs.select_related("staff_profile").order_by("username")
