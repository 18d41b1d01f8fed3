"""A plain Python evaluation of segment rules, the oracle the compiled queries are
checked against (tests/campaigns/test_segment_rules.py).

Written from the documented semantics (issue 21, the docstrings of
campaigns/segments/rules.py and fields.py), never from the compiler: nothing here
imports campaigns.segments. The members' facts are read once into plain objects
(`load_facts`); `matches` then decides a rule for one member at an instant:

- days are Shanghai calendar days: days since the last purchase (registration) is
  today minus the Shanghai day of that instant; points_expiring_days is the Shanghai
  day the member's first live lot (remaining > 0, expires_at > now) expires minus
  today; age is whole years on today's date (born 29 February: a year older on
  1 March in other years);
- "not set" is a value of its own: eq, in, gte, lte and between never match it,
  ne and not_in (the negations of eq and in) always do; is_set / is_not_set test it.
  Not set: no tier / store / guide / birthday / last purchase / live lot, an empty
  lifecycle, RFM segment or gender, an RFM score of 0, no tag, no usable coupon;
- tag and has_coupon hold a set (the member's tag names, the template codes of the
  usable coupons: status issued, valid_from <= now < valid_until): eq is
  "has that one", in "has one of them";
- purchase_count, total_spent, points_balance, stored_value_balance (principal +
  bonus) and registered_days_ago are always set; so are the yes/no fields
  (wechat_bound: an openid; wechat_subscribed: a Follower row of that openid with
  subscribed; marketing_consent);
- money values are yuan, to the fen;
- {"all": []} is everyone, {"any": []} nobody; only active members are ever in.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from loyalty.models import Card, Coupon, PointsEntry
from members.models import Member, Store, User
from wechat.models import Follower

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOT_SET = object()
SETS = {"tag", "has_coupon"}  # fields whose value is a set of names


@dataclass(frozen=True)
class Facts:
    """One member as stored: raw columns and rows, nothing derived from `now`."""

    pk: int
    active: bool
    store: str | None
    guide: str | None
    birthday: dt.date | None
    gender: str
    created_at: dt.datetime
    wechat_openid: str | None
    follows: bool  # a Follower row of the openid says subscribed
    marketing_consent: bool
    tags: frozenset[str]
    tier: str | None
    lifecycle: str
    rfm: str
    rfm_r: int
    rfm_f: int
    rfm_m: int
    last_purchase_at: dt.datetime | None
    purchase_count: int
    total_spent: Decimal
    points_balance: int
    stored_principal: Decimal
    stored_bonus: Decimal
    lots: tuple[tuple[int, dt.datetime | None], ...]  # (remaining, expires_at) of every entry
    coupons: tuple[tuple[str, str, dt.datetime, dt.datetime], ...]  # code, status, from, until


def load_facts() -> list[Facts]:
    """Every member (erased too), a handful of queries in all."""
    followers = dict(Follower.objects.values_list("openid", "subscribed"))
    tags = defaultdict(set)
    for member_id, name in Member.tags.through.objects.values_list("member_id", "tag__name"):
        tags[member_id].add(name)
    lots = defaultdict(list)
    for member_id, remaining, expires_at in PointsEntry.objects.values_list(
        "member_id", "remaining", "expires_at"
    ):
        lots[member_id].append((remaining, expires_at))
    coupons = defaultdict(list)
    for member_id, *coupon in Coupon.objects.values_list(
        "member_id", "template__code", "status", "valid_from", "valid_until"
    ):
        coupons[member_id].append(tuple(coupon))
    cards = {card.pk: card for card in Card.objects.select_related("tier")}
    users = dict(User.objects.values_list("pk", "username"))
    stores = dict(Store.objects.values_list("pk", "code"))
    facts = []
    for member in Member.objects.order_by("pk"):
        card = cards[member.pk]
        facts.append(
            Facts(
                pk=member.pk,
                active=member.status == "active",
                store=stores.get(member.store_id),
                guide=users.get(member.guide_id),
                birthday=member.birthday,
                gender=member.gender,
                created_at=member.created_at,
                wechat_openid=member.wechat_openid,
                follows=member.wechat_openid is not None
                and followers.get(member.wechat_openid) is True,
                marketing_consent=member.marketing_consent,
                tags=frozenset(tags[member.pk]),
                tier=card.tier.name if card.tier is not None else None,
                lifecycle=card.lifecycle,
                rfm=card.rfm_segment,
                rfm_r=card.rfm_r,
                rfm_f=card.rfm_f,
                rfm_m=card.rfm_m,
                last_purchase_at=card.last_purchase_at,
                purchase_count=card.purchase_count,
                total_spent=Decimal(card.total_spent),
                points_balance=card.points_balance,
                stored_principal=Decimal(card.stored_principal),
                stored_bonus=Decimal(card.stored_bonus),
                lots=tuple(lots[member.pk]),
                coupons=tuple(coupons[member.pk]),
            )
        )
    return facts


# --- values at an instant ----------------------------------------------------------------


def shanghai_day(instant: dt.datetime) -> dt.date:
    return instant.astimezone(SHANGHAI).date()


def age_on(birthday: dt.date, today: dt.date) -> int:
    """Whole years: one more once (month, day) of the birthday has come this year. Born on
    29 February: (2, 29) comes after (2, 28), so in a common year on 1 March."""
    return today.year - birthday.year - ((today.month, today.day) < (birthday.month, birthday.day))


def either(value, unset_when):
    return NOT_SET if value == unset_when else value


def value_of(name: str, member: Facts, now: dt.datetime):
    """The member's value of the field at `now`: NOT_SET, a set (tag, has_coupon), a
    bool, an int, a Decimal or text."""
    today = shanghai_day(now)
    if name == "tier":
        return either(member.tier, None)
    if name == "tag":
        return member.tags
    if name == "store":
        return either(member.store, None)
    if name == "guide":
        return either(member.guide, None)
    if name == "lifecycle":
        return either(member.lifecycle, "")
    if name == "rfm":
        return either(member.rfm, "")
    if name in ("rfm_r", "rfm_f", "rfm_m"):
        return either(getattr(member, name), 0)
    if name == "days_since_last_purchase":
        if member.last_purchase_at is None:
            return NOT_SET
        return (today - shanghai_day(member.last_purchase_at)).days
    if name == "purchase_count":
        return member.purchase_count
    if name == "total_spent":
        return member.total_spent
    if name == "points_balance":
        return member.points_balance
    if name == "stored_value_balance":
        return member.stored_principal + member.stored_bonus
    if name == "points_expiring_days":
        live = [
            expires_at
            for remaining, expires_at in member.lots
            if remaining > 0 and expires_at is not None and expires_at > now
        ]
        return (shanghai_day(min(live)) - today).days if live else NOT_SET
    if name == "birthday_month":
        return member.birthday.month if member.birthday else NOT_SET
    if name == "gender":
        return either(member.gender, "")
    if name == "age":
        return age_on(member.birthday, today) if member.birthday else NOT_SET
    if name == "registered_days_ago":
        return (today - shanghai_day(member.created_at)).days
    if name == "wechat_bound":
        return member.wechat_openid is not None
    if name == "wechat_subscribed":
        return member.follows
    if name == "marketing_consent":
        return member.marketing_consent
    if name == "has_coupon":
        return frozenset(
            code
            for code, status, valid_from, valid_until in member.coupons
            if status == "issued" and valid_from <= now < valid_until
        )
    raise KeyError(name)


MONEY_FIELDS = {"total_spent", "stored_value_balance"}


def normal(name: str, value):
    """A rule's value as the member's values are kept (money: yuan to the fen)."""
    if name in MONEY_FIELDS:
        return Decimal(str(value).strip()).quantize(Decimal("0.01"))
    return value


# --- deciding ----------------------------------------------------------------------------


def holds(condition: dict, member: Facts, now: dt.datetime) -> bool:
    name, op = condition["field"], condition["op"]
    if op == "ne":
        return not holds({**condition, "op": "eq"}, member, now)
    if op == "not_in":
        return not holds({**condition, "op": "in"}, member, now)
    value = value_of(name, member, now)
    is_set = bool(value) if name in SETS else value is not NOT_SET
    if op == "is_set":
        return is_set
    if op == "is_not_set":
        return not is_set
    if not is_set:
        return False
    wanted = condition["value"]
    wanted = [normal(name, v) for v in wanted] if isinstance(wanted, list) else normal(name, wanted)
    if name in SETS:
        if op == "eq":
            return wanted in value
        if op == "in":
            return bool(value & set(wanted))
        raise AssertionError(f"{name} takes no {op}")
    if op == "eq":
        return value == wanted
    if op == "in":
        return value in wanted
    if op == "gte":
        return value >= wanted
    if op == "lte":
        return value <= wanted
    if op == "between":
        low, high = wanted
        return low <= value <= high
    raise AssertionError(f"unknown op {op}")


def matches(tree: dict, member: Facts, now: dt.datetime) -> bool:
    if "all" in tree:
        return all(matches(child, member, now) for child in tree["all"])
    if "any" in tree:
        return any(matches(child, member, now) for child in tree["any"])
    return holds(tree, member, now)


def members(tree: dict, population: list[Facts], now: dt.datetime) -> set[int]:
    """The pks of the active members the rule selects at `now`."""
    return {member.pk for member in population if member.active and matches(tree, member, now)}
