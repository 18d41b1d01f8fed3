"""The segment rule language (issue 21): every field and operator, nesting, the
validation messages, and each compiled query checked against a plain Python
evaluation of the same rule (tests/campaigns/segment_oracle.py) over a population of
factory-made members, with time frozen at ordinary and edge Shanghai instants.

The populations are made once per anchor instant (module scope, in a transaction
rolled back at the end) and never written by the tests, so the hypothesis examples
and the parametrized cases all read the same members.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import random
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections, transaction
from django.utils import timezone
from django.utils.translation import override
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from campaigns.management.commands.segment_count import Command as SegmentCount
from campaigns.models import Segment
from campaigns.segments.fields import FIELDS
from campaigns.segments.rules import RuleError, check, compile_rules, members_matching
from loyalty.models import Card, Coupon, CouponTemplate, PointsEntry, Tier
from members.models import Member, Role, Store
from members.services import staff_create
from tests.campaigns import segment_oracle as oracle
from tests.factories import MemberFactory, StoreFactory, TagFactory
from wechat.models import Follower

SH = ZoneInfo("Asia/Shanghai")
US = dt.timedelta(microseconds=1)
DAY = dt.timedelta(days=1)


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


# --- the vocabulary -------------------------------------------------------------------

TIERS = ("普通会员", "银卡", "金卡", "钻石卡")  # the default tiers; 钻石卡: only the erased member
TAGS = ("咖啡控", "VIP", "沉睡", "无人问津")  # 无人问津: only the erased member
STORES = ("SA01", "SB02", "SC03")  # SC03: only the erased member registered there
GUIDES = ("wang", "li", "idle")  # idle: guides only the erased member
COUPONS = ("new10", "bday", "ghost")  # ghost: only the erased member holds one
LIFECYCLES = ("new", "active", "dormant", "churned", "prospect")
RFMS = (
    "champions",
    "important_develop",
    "important_keep",
    "important_win_back",
    "general_value",
    "general_develop",
    "general_keep",
    "general_win_back",
)
GENDERS = ("M", "F")  # not given ("") is not set, not a value
MONEY_POOL = ("0.00", "9.90", "12.50", "99.00", "100.00", "1000.00", "2500.50")

ORDERED = ("eq", "ne", "in", "not_in", "gte", "lte", "between", "is_set", "is_not_set")
CHOICE = ("eq", "ne", "in", "not_in", "is_set", "is_not_set")
YES_NO = ("eq", "ne")
TEXT_VALUES = {
    "tier": TIERS,
    "tag": TAGS,
    "store": STORES,
    "guide": GUIDES,
    "lifecycle": LIFECYCLES,
    "rfm": RFMS,
    "gender": GENDERS,
    "has_coupon": COUPONS,
}
INTS = (
    "rfm_r",
    "rfm_f",
    "rfm_m",
    "days_since_last_purchase",
    "purchase_count",
    "points_balance",
    "points_expiring_days",
    "birthday_month",
    "age",
    "registered_days_ago",
)
MONEY = ("total_spent", "stored_value_balance")
BOOLS = ("wechat_bound", "wechat_subscribed", "marketing_consent")
ALWAYS_SET = {  # documented as set for every member
    "purchase_count",
    "total_spent",
    "points_balance",
    "stored_value_balance",
    "registered_days_ago",
}
OPS = {
    **{name: CHOICE for name in TEXT_VALUES},
    **{name: ORDERED for name in (*INTS, *MONEY)},
    **{name: YES_NO for name in BOOLS},
}


def cond(field, op, value=...) -> dict:
    """A condition; without `value`, one with no value key (is_set, is_not_set)."""
    return {"field": field, "op": op} | ({} if value is ... else {"value": value})


def nested(depth: int, leaf) -> dict:
    tree = leaf
    for _ in range(depth):
        tree = {"all": [tree]}
    return tree


def test_the_fields_are_the_documented_ones():
    """Issue 21's list (stored_value_balance from issue 11, wechat_subscribed from the
    wechat app): a field added without a test here fails this."""
    assert set(FIELDS) == set(OPS)
    assert {name: FIELDS[name].ops for name in FIELDS} == OPS


# --- the population ---------------------------------------------------------------------


class Population:
    """The members made at `anchor` (their facts for the oracle), read at `instants`
    (the anchor first, every one at or after it)."""

    def __init__(self, key, instants, named: dict[str, int], stores: dict[str, Store]):
        self.key, self.instants, self.anchor = key, instants, instants[0]
        self.named = named  # the hand-made members' pks, by label
        self.stores = stores  # by code
        self.facts = oracle.load_facts()

    def __repr__(self):
        return f"<population {self.key}>"

    def at_anchor(self, tree) -> set[int]:
        return self.matching(tree, self.anchor)

    def matching(self, tree, now) -> set[int]:
        with time_machine.travel(now, tick=False):
            return set(members_matching(tree).values_list("pk", flat=True))

    def expected(self, tree, now=None) -> set[int]:
        return oracle.members(tree, self.facts, now or self.anchor)

    def label(self, pk) -> str:
        return next((name for name, p in self.named.items() if p == pk), f"#{pk}")

    def explain(self, tree, now, got: set[int], want: set[int]) -> str:
        lines = [f"rule {json.dumps(tree, ensure_ascii=False)} at {now.isoformat()}"]
        by_pk = {f.pk: f for f in self.facts}
        for pk in sorted(got ^ want):
            side = "compiled only" if pk in got else "oracle only"
            lines.append(f"  {side}: {self.label(pk)} {by_pk[pk]}")
        return "\n".join(lines)

    def assert_agrees(self, tree, now, *, explicit_now=False, store=None):
        with time_machine.travel(now, tick=False):
            query = members_matching(tree, now=now if explicit_now else None, store=None)
            rows = list(query.values_list("pk", flat=True))
        got = set(rows)
        assert len(rows) == len(got), "a member listed twice"
        want = self.expected(tree, now)
        assert got == want, self.explain(tree, now, got, want)
        if store is not None:
            with time_machine.travel(now, tick=False):
                scoped = members_matching(tree, store=store)
                got = set(scoped.values_list("pk", flat=True))
            want = {f.pk for f in self.facts if f.pk in want and f.store == store.code}
            assert got == want, self.explain(tree, now, got, want)


# Anchor instants (Shanghai) and the instants each population is read at: an ordinary
# morning and the midnight that follows; the last seconds of 28 February 2028 and the
# leap day after; 28 February of a common year and the 1 March that follows.
ANCHORS = {
    "june": [
        at(2026, 6, 15, 10),
        at(2026, 6, 15, 23, 59, 59, 999999),
        at(2026, 6, 16),
        at(2026, 6, 16, 0, 0, 30),
        at(2026, 7, 1, 9),
    ],
    "leap": [
        at(2028, 2, 28, 23, 59, 30),
        at(2028, 2, 29),
        at(2028, 2, 29, 0, 0, 20),
        at(2028, 2, 29, 12),
        at(2028, 3, 1, 0, 0, 5),
    ],
    "common_feb": [
        at(2027, 2, 28, 12),
        at(2027, 3, 1),
        at(2027, 3, 1, 0, 0, 30),
    ],
}


def years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a common year
        return dt.date(day.year - years, 3, 1)


def build(anchor: dt.datetime, seed: int) -> tuple[dict[str, int], dict[str, Store]]:
    """Make the members (time frozen at `anchor`): the hand-made ones' pks by label, and
    the stores by code."""
    today = anchor.astimezone(SH).date()
    midnight = at(today.year, today.month, today.day)  # the start of today
    stores = {code: StoreFactory(code=code, name=f"店{code}") for code in STORES}
    guides = {
        name: staff_create(
            username=name, password="test-pass-2026", role=Role.CLERK, store=stores["SA01"]
        )
        for name in GUIDES
    }
    tags = {name: TagFactory(name=name) for name in TAGS}
    templates = {
        code: CouponTemplate.objects.create(name=f"券{code}", code=code, valid_days=30)
        for code in COUPONS
    }
    tiers = {tier.name: tier for tier in Tier.objects.all()}
    assert set(tiers) == set(TIERS)
    counter = iter(range(10**6))
    named: dict[str, int] = {}

    def make(
        label=None,
        *,
        store="SA01",
        guide=None,
        birthday=None,
        gender="",
        tags_=(),
        consent=False,
        created=None,
        card=None,
        openid=None,
        follower=None,
        lots=(),
        coupons=(),
        erased=False,
    ) -> Member:
        member = MemberFactory(
            store=stores[store] if store else None,
            guide=guides[guide] if guide else None,
            birthday=birthday,
            gender=gender,
            tags=[tags[name] for name in tags_],
            marketing_consent=consent,
            created_at=created or anchor - 400 * DAY,
        )
        fields = {"tier": tiers["普通会员"], **(card or {})}
        if isinstance(fields["tier"], str):
            fields["tier"] = tiers[fields["tier"]]
        Card.objects.filter(pk=member.pk).update(**fields)
        if openid:
            Member.objects.filter(pk=member.pk).update(wechat_openid=openid)
            if follower is not None:
                Follower.objects.create(openid=openid, subscribed=follower)
        for remaining, expires_at in lots:
            points = remaining or 10
            PointsEntry.objects.create(
                member=member,
                kind=PointsEntry.Kind.EARN,
                delta=points,
                balance_after=points,
                remaining=remaining,
                expires_at=expires_at,
                idempotency_key=f"segment-test-{member.pk}-{next(counter)}",
                created_at=anchor - 30 * DAY,
            )
        for code, status, valid_from, valid_until in coupons:
            Coupon.objects.create(
                template=templates[code],
                member=member,
                code=Coupon.new_code(),
                status=status,
                valid_from=valid_from,
                valid_until=valid_until,
                issued_at=valid_from,
            )
        if erased:
            Member.objects.filter(pk=member.pk).update(status=Member.Status.ERASED)
        if label:
            named[label] = member.pk
        return member

    usable = ("issued", anchor - 2 * DAY, anchor + 28 * DAY)
    # Everything set, values nobody else has: never in a segment.
    make(
        "erased",
        store="SC03",
        guide="idle",
        birthday=dt.date(1990, 5, 5),
        gender="F",
        tags_=TAGS,
        consent=True,
        card={
            "tier": "钻石卡",
            "lifecycle": "churned",
            "rfm_segment": "champions",
            "rfm_r": 5,
            "rfm_f": 5,
            "rfm_m": 5,
            "last_purchase_at": anchor - 3 * DAY,
            "purchase_count": 99,
            "total_spent": Decimal("99999.99"),
            "points_balance": 7777,
            "stored_principal": Decimal("500.00"),
            "stored_bonus": Decimal("50.00"),
        },
        openid="o-erased",
        follower=True,
        lots=[(70, anchor + 3 * DAY)],
        coupons=[("ghost", *usable)],
        erased=True,
    )
    # Nothing set at all, registered at today's first instant.
    make("blank", store=None, card={"tier": None}, created=midnight)
    make("registered_before_midnight", created=midnight - US)
    # Last purchases at the edges of Shanghai days.
    for label, when in [
        ("bought_at_midnight", midnight),
        ("bought_before_midnight", midnight - US),
        ("bought_30_days_ago_at_midnight", midnight - 30 * DAY),
        ("bought_30_days_ago_late", midnight - 29 * DAY - US),
        ("bought_31_days_ago_late", midnight - 30 * DAY - US),
    ]:
        make(label, card={"last_purchase_at": when, "purchase_count": 1, "total_spent": "9.90"})
    # Birthdays: today, tomorrow, 29 February and its neighbours, born today.
    make("birthday_today", birthday=years_before(today, 30), gender="M")
    make("birthday_tomorrow", birthday=years_before(today + DAY, 30), gender="F")
    make("born_0229_2000", birthday=dt.date(2000, 2, 29))
    make("born_0228_2000", birthday=dt.date(2000, 2, 28))
    make("born_0301_2000", birthday=dt.date(2000, 3, 1))
    make("born_0229_1996", birthday=dt.date(1996, 2, 29))
    make("born_today", birthday=today)
    # Points lots: expiring later today, at the next midnight, dead ones, two live ones.
    make("lot_today", lots=[(50, midnight + DAY - dt.timedelta(seconds=1))])
    make("lot_next_midnight", lots=[(40, midnight + DAY)])
    make(
        "lot_dead",
        lots=[(0, anchor + 10 * DAY), (20, anchor - DAY), (5, anchor), (8, None)],
    )
    make("lot_two", lots=[(30, midnight + 100 * DAY + dt.timedelta(hours=3)),
                          (10, midnight + 5 * DAY + dt.timedelta(hours=23))])  # fmt: skip
    # Coupons: usable, not yet, ended at the anchor, void, starting at the anchor, used.
    make("coupon_holder", coupons=[("new10", *usable), ("bday", "redeemed", *usable[1:])])
    make("coupon_not_yet", coupons=[("new10", "issued", anchor + US, anchor + 30 * DAY)])
    ended = [
        ("new10", "issued", anchor - 30 * DAY, anchor),
        ("bday", "expired", anchor - 30 * DAY, anchor - DAY),
    ]
    make("coupon_ended", coupons=ended)
    make("coupon_void", coupons=[("bday", "void", *usable[1:])])
    make("coupon_from_now", coupons=[("bday", "issued", anchor, anchor + 7 * DAY)])
    # WeChat: follows, unfollowed, no follower row; a follower who is no member.
    make("wx_subscribed", openid="o-sub", follower=True, consent=True)
    make("wx_unsubscribed", openid="o-unsub", follower=False)
    make("wx_no_follower", openid="o-none")
    Follower.objects.create(openid="o-stranger", subscribed=True)
    make("no_store_guided", store=None, guide="li", tags_=["VIP"])
    make(
        "stored_value",
        card={"stored_principal": Decimal("80.00"), "stored_bonus": Decimal("20.00")},
    )

    rng = random.Random(seed)
    for n in range(32):
        has_rfm = rng.random() < 0.6
        bought = rng.random() < 0.7
        openid = f"o-random-{n}" if rng.random() < 0.4 else None
        lots = [
            (
                rng.choice([0, 5, 50, 200]),
                anchor + dt.timedelta(days=rng.randint(-20, 400), seconds=rng.randint(0, 86399)),
            )
            for _ in range(rng.choice([0, 0, 1, 2, 3]))
        ]
        coupons = []
        for _ in range(rng.choice([0, 0, 1, 2])):
            start = anchor - dt.timedelta(days=rng.randint(-3, 60), hours=rng.randint(0, 23))
            end = start + dt.timedelta(days=rng.randint(1, 60))
            status = rng.choice(["issued", "issued", "redeemed", "expired", "void"])
            coupons.append((rng.choice(["new10", "bday"]), status, start, end))
        born = None
        if rng.random() < 0.7:
            born = dt.date(rng.randint(1940, 2015), rng.randint(1, 12), rng.randint(1, 28))
            if rng.random() < 0.1:
                born = dt.date(rng.choice([1960, 1984, 2000, 2012]), 2, 29)
        make(
            store=rng.choice(["SA01", "SA01", "SB02", None]),
            guide=rng.choice(["wang", "li", None, None]),
            birthday=born,
            gender=rng.choice(["", *GENDERS]),
            tags_=rng.sample(TAGS[:3], rng.randint(0, 3)),
            consent=rng.random() < 0.5,
            created=anchor - dt.timedelta(days=rng.randint(0, 900), seconds=rng.randint(0, 86399)),
            card={
                "tier": rng.choice([*TIERS[:3], None]),
                "lifecycle": rng.choice(["new", "active", "dormant", "prospect", ""]),
                "rfm_segment": rng.choice(RFMS[1:]) if has_rfm else "",
                "rfm_r": rng.randint(1, 5) if has_rfm else 0,
                "rfm_f": rng.randint(1, 5) if has_rfm else 0,
                "rfm_m": rng.randint(1, 5) if has_rfm else 0,
                "last_purchase_at": anchor
                - dt.timedelta(
                    days=rng.choice([0, 1, 2, 29, 30, 31, rng.randint(0, 500)]),
                    seconds=rng.randint(0, 86399),
                )
                if bought
                else None,
                "purchase_count": rng.randint(1, 30) if bought else 0,
                "total_spent": Decimal(rng.choice(MONEY_POOL)) if bought else Decimal("0.00"),
                "points_balance": rng.choice([0, 10, 100, 999, rng.randint(0, 3000)]),
                "stored_principal": Decimal(rng.choice(MONEY_POOL[:4])),
                "stored_bonus": Decimal(rng.choice(MONEY_POOL[:3])),
            },
            openid=openid,
            follower=rng.choice([True, False, None]) if openid else None,
            lots=lots,
            coupons=coupons,
        )
    return named, stores


@pytest.fixture(scope="module", params=list(ANCHORS))
def population(request, django_db_setup, django_db_blocker):
    instants = ANCHORS[request.param]
    with django_db_blocker.unblock(), transaction.atomic():
        with time_machine.travel(instants[0], tick=False):
            named, stores = build(instants[0], seed=len(request.param))
        yield Population(request.param, instants, named, stores)
        transaction.set_rollback(True)


def test_the_population_is_varied(population, db):
    """Every field takes several values among the active members at the anchor, not set
    among them where it can be unset: the comparisons below are not vacuous."""
    active = [f for f in population.facts if f.active]
    assert len(active) == len(population.facts) - 1 >= 50
    for name in OPS:
        values = [oracle.value_of(name, f, population.anchor) for f in active]
        shown = {v if not isinstance(v, frozenset) else tuple(sorted(v)) for v in values}
        assert len(shown) >= 2, (name, shown)
        if name not in ALWAYS_SET | set(BOOLS):
            assert any(v is oracle.NOT_SET or v == frozenset() for v in values), name


# --- the compiled rule agrees with the oracle ------------------------------------------

# A bug found by these tests, fixed (see test_everyone_inside_any_is_everyone): inside an
# "any" group, a part that selects everyone by its form (an empty "all", is_set of a field
# that is always set) selected nobody. True makes the random rules steer clear of it again.
EVERYONE_IN_ANY_BUG = False


def everyone_by_form(node) -> bool:
    if "all" in node:
        return all(everyone_by_form(child) for child in node["all"])
    if "any" in node:
        return False
    return node["op"] == "is_set" and node["field"] in ALWAYS_SET


def has_everyone_in_any(node) -> bool:
    if "all" in node:
        return any(has_everyone_in_any(child) for child in node["all"])
    if "any" in node:
        return any(everyone_by_form(c) or has_everyone_in_any(c) for c in node["any"])
    return False


def steer_clear_of_known_bugs(tree):
    if EVERYONE_IN_ANY_BUG:
        assume(not has_everyone_in_any(tree))


def text_values(name):
    return st.sampled_from(TEXT_VALUES[name])


def money_values():
    return st.one_of(
        st.sampled_from(MONEY_POOL),
        st.sampled_from(["50.00", "100", "110.00", "1000.0", " 12.5 ", "0"]),
        st.integers(-10, 6000),
        st.integers(0, 600000).map(lambda fen: fen / 100),  # a float of yuan and fen
        st.decimals(min_value=-1, max_value=10**6, places=2).map(str),
    )


def days_values():
    return st.one_of(
        st.integers(0, 3),
        st.sampled_from([29, 30, 31, 100, 365, 366]),
        st.integers(0, 1000),
        st.integers(0, 36500),  # a hundred years: the most a rule may say (MAX_DAYS)
    )


INT_VALUES = {
    "rfm_r": st.integers(1, 5),
    "rfm_f": st.integers(1, 5),
    "rfm_m": st.integers(1, 5),
    "birthday_month": st.integers(1, 12),
    "age": st.one_of(st.integers(0, 1), st.integers(24, 32), st.integers(0, 150)),
    "days_since_last_purchase": days_values(),
    "registered_days_ago": days_values(),
    "points_expiring_days": days_values(),
    "purchase_count": st.one_of(st.integers(0, 31), st.integers(0, 2_147_483_647)),
    "points_balance": st.one_of(
        st.sampled_from([0, 10, 100, 999]),
        st.integers(-5, 3100),
        st.integers(-2_147_483_647, 2_147_483_647),
    ),
}


def values_of(name):
    if name in TEXT_VALUES:
        return text_values(name)
    if name in INT_VALUES:
        return INT_VALUES[name]
    if name in MONEY:
        return money_values()
    return st.booleans()


def order_key(value):
    return Decimal(str(value).strip())


def condition_for(name, op):
    values = values_of(name)
    if op in ("is_set", "is_not_set"):
        return st.sampled_from(
            [{"field": name, "op": op}, {"field": name, "op": op, "value": None}]
        )
    if op in ("in", "not_in"):
        return st.lists(values, min_size=1, max_size=3).map(
            lambda items: {"field": name, "op": op, "value": items}
        )
    if op == "between":
        return st.tuples(values, values).map(
            lambda pair: {"field": name, "op": op, "value": sorted(pair, key=order_key)}
        )
    return values.map(lambda value: {"field": name, "op": op, "value": value})


conditions = st.sampled_from(sorted((name, op) for name, ops in OPS.items() for op in ops)).flatmap(
    lambda pair: condition_for(*pair)
)


def groups(depth: int):
    child = conditions if depth == 1 else st.one_of(conditions, conditions, groups(depth - 1))
    return st.builds(
        lambda key, items: {key: items},
        st.sampled_from(["all", "any"]),
        st.lists(child, max_size=4 if depth == 1 else 3),
    )


rules = groups(3)  # a top group and groups in it, three levels in all


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(tree=rules, which=st.integers(0, 10), explicit_now=st.booleans(), scope=st.integers(0, 3))
def test_a_compiled_rule_selects_what_the_oracle_does(
    population, db, tree, which, explicit_now, scope
):
    steer_clear_of_known_bugs(tree)
    now = population.instants[which % len(population.instants)]
    selected, everyone = population.expected(tree, now), population.expected({"all": []}, now)
    event({0: "selects nobody", len(everyone): "selects everyone"}.get(len(selected), "some"))
    store = population.stores[STORES[scope - 1]] if scope else None
    population.assert_agrees(tree, now, explicit_now=explicit_now, store=store)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(condition=conditions)
def test_a_single_condition_and_its_negation_split_the_members(population, db, condition):
    """A condition and its negation (ne for eq, not_in for in, is_not_set for is_set)
    split the active members in two: together everyone, in common nobody."""
    negation = {"eq": "ne", "ne": "eq", "in": "not_in", "not_in": "in",
                "is_set": "is_not_set", "is_not_set": "is_set"}  # fmt: skip
    population.assert_agrees({"all": [condition]}, population.anchor)
    if condition["op"] not in negation:
        return
    other = {**condition, "op": negation[condition["op"]]}
    yes = population.at_anchor({"all": [condition]})
    no = population.at_anchor({"all": [other]})
    everyone = population.at_anchor({"all": []})
    assert yes | no == everyone and not yes & no


# --- every field and op, explicitly ---------------------------------------------------

SAMPLES = {  # field: (a value, another value): eq/ne a, in [a, b], between [min, max]
    "tier": ("金卡", "银卡"),
    "tag": ("咖啡控", "VIP"),
    "store": ("SA01", "SB02"),
    "guide": ("wang", "idle"),
    "lifecycle": ("active", "dormant"),
    "rfm": ("important_keep", "general_win_back"),
    "gender": ("F", "M"),
    "has_coupon": ("new10", "bday"),
    "rfm_r": (3, 5),
    "rfm_f": (4, 2),
    "rfm_m": (1, 3),
    "days_since_last_purchase": (30, 1),
    "purchase_count": (1, 10),
    "points_balance": (100, 999),
    "points_expiring_days": (5, 60),
    "birthday_month": (2, 6),
    "age": (26, 30),
    "registered_days_ago": (0, 400),
    "total_spent": ("9.90", 1000),
    "stored_value_balance": ("100", 12.5),
    "wechat_bound": (True, False),
    "wechat_subscribed": (True, False),
    "marketing_consent": (False, True),
}


def sample_condition(name, op):
    a, b = SAMPLES[name]
    if op in ("is_set", "is_not_set"):
        return {"field": name, "op": op}
    if op in ("in", "not_in"):
        return {"field": name, "op": op, "value": [a, b]}
    if op == "between":
        return {"field": name, "op": op, "value": sorted([a, b], key=order_key)}
    return {"field": name, "op": op, "value": a}


FIELD_OPS = [(name, op) for name, ops in OPS.items() for op in ops]


@pytest.mark.parametrize(("name", "op"), FIELD_OPS, ids=[f"{n}-{o}" for n, o in FIELD_OPS])
def test_each_field_and_op(population, db, name, op):
    condition = sample_condition(name, op)
    for now in population.instants:
        population.assert_agrees({"all": [condition]}, now)
        alone_in_any = {"any": [condition, {"any": []}]}
        if not (EVERYONE_IN_ANY_BUG and has_everyone_in_any(alone_in_any)):
            population.assert_agrees(alone_in_any, now)


def test_the_samples_select_some_members_but_not_all(population, db):
    """Not vacuous: most sample conditions pick a proper part of the members."""
    everyone = population.at_anchor({"all": []})
    proper = [
        (name, op)
        for name, op in FIELD_OPS
        if 0 < len(population.at_anchor({"all": [sample_condition(name, op)]})) < len(everyone)
    ]
    assert len(proper) >= 0.8 * len(FIELD_OPS), set(FIELD_OPS) - set(proper)


# --- nesting and the groups' edges ----------------------------------------------------


def test_empty_all_is_everyone_active_and_empty_any_nobody(population, db):
    active = {f.pk for f in population.facts if f.active}
    assert population.at_anchor({"all": []}) == active
    assert population.at_anchor({"any": []}) == set()
    assert population.at_anchor({"all": [{"any": []}]}) == set()
    assert population.at_anchor({"any": [{"any": []}, {"all": [{"any": []}]}]}) == set()
    assert population.at_anchor({"all": [{"all": []}, {"all": [{"all": []}]}]}) == active
    # {"any": [{"all": []}]}: test_everyone_inside_any_is_everyone (a known bug)
    assert population.named["erased"] not in active


@pytest.mark.parametrize(
    "condition",
    [
        {"field": "tier", "op": "eq", "value": "钻石卡"},
        {"field": "tag", "op": "eq", "value": "无人问津"},
        {"field": "store", "op": "in", "value": ["SC03"]},
        {"field": "guide", "op": "eq", "value": "idle"},
        {"field": "has_coupon", "op": "eq", "value": "ghost"},
        {"field": "lifecycle", "op": "eq", "value": "churned"},
        {"field": "purchase_count", "op": "gte", "value": 99},
        {"field": "total_spent", "op": "gte", "value": "99999.99"},
        {"field": "points_balance", "op": "eq", "value": 7777},
        {"field": "stored_value_balance", "op": "eq", "value": "550"},
    ],
    ids=lambda c: f"{c['field']}-{c['op']}",
)
def test_the_erased_member_never_matches(population, db, condition):
    """Only the erased member has these values: nobody matches, and the negation is
    every active member (and still not the erased one)."""
    assert population.at_anchor({"all": [condition]}) == set()
    negated = {**condition, "op": {"eq": "ne", "in": "not_in", "gte": "lte"}[condition["op"]]}
    if negated["op"] == "lte":
        negated["value"] = 98 if condition["field"] == "purchase_count" else "99999.98"
    erased = population.named["erased"]
    assert erased not in population.at_anchor({"all": [negated]})
    assert population.at_anchor({"all": [negated]}) == population.expected({"all": [negated]})
    for op in ("is_set", "is_not_set"):
        if op in OPS[condition["field"]]:
            assert erased not in population.at_anchor(
                {"all": [{"field": condition["field"], "op": op}]}
            )


@pytest.mark.parametrize(
    "tree",
    [
        {"any": [{"all": []}]},
        {"any": [cond("purchase_count", "is_set")]},
        {"any": [cond("registered_days_ago", "is_set"), cond("tier", "eq", "金卡")]},
        {"all": [{"any": [{"all": [cond("total_spent", "is_set")]}, cond("age", "eq", 30)]}]},
    ],
    ids=["empty-all", "is_set-always", "or-tier", "nested"],
)
def test_everyone_inside_any_is_everyone(population, db, tree):
    everyone = population.at_anchor({"all": []})
    assert population.expected(tree) == everyone  # the oracle agrees with the docs
    assert population.at_anchor(tree) == everyone


def test_nested_groups_combine_like_boolean_logic(population, db):
    named = population.named
    tree = {
        "any": [
            {"all": [{"field": "tag", "op": "eq", "value": "VIP"},
                     {"field": "store", "op": "is_not_set"}]},
            {"all": [{"field": "wechat_subscribed", "op": "eq", "value": True},
                     {"any": [{"field": "marketing_consent", "op": "eq", "value": True},
                              {"field": "age", "op": "gte", "value": 100}]}]},
        ]
    }  # fmt: skip
    got = population.at_anchor(tree)
    assert {named["no_store_guided"], named["wx_subscribed"]} <= got
    assert named["wx_unsubscribed"] not in got and named["erased"] not in got
    assert got == population.expected(tree)
    deep = nested(5, tree)  # conditions eight groups deep, the most allowed
    assert population.at_anchor(deep) == got


def test_a_rule_is_one_query(population, db, django_assert_num_queries):
    tree = {
        "any": [
            {"all": [cond("tier", "in", ["金卡", "银卡"]), cond("tag", "ne", "VIP"),
                     cond("has_coupon", "eq", "new10"), cond("points_expiring_days", "lte", 30)]},
            {"all": [cond("wechat_subscribed", "eq", True), cond("age", "between", [20, 40]),
                     cond("stored_value_balance", "gte", "1"), cond("guide", "is_set")]},
        ]
    }  # fmt: skip
    with time_machine.travel(population.anchor, tick=False):
        query = members_matching(tree)  # checking the names reads the choices: not counted
        with django_assert_num_queries(1):
            got = set(query.values_list("pk", flat=True))
    assert got == population.expected(tree)


# --- boundaries, by hand (not the oracle) ---------------------------------------------


def names_matching(population, condition, now=None) -> set[str]:
    pks = population.matching({"all": [condition]}, now or population.anchor)
    return {name for name, pk in population.named.items() if pk in pks}


def test_days_since_last_purchase_counts_shanghai_days(population, db):
    def days(op, value, now=None):
        return names_matching(
            population, {"field": "days_since_last_purchase", "op": op, "value": value}, now
        )

    bought = {name for name in population.named if name.startswith("bought_")}
    assert days("eq", 0) & bought == {"bought_at_midnight"}
    assert days("eq", 1) & bought == {"bought_before_midnight"}
    assert days("eq", 30) & bought == {"bought_30_days_ago_at_midnight", "bought_30_days_ago_late"}
    assert days("between", [30, 30]) & bought == days("eq", 30) & bought
    assert days("gte", 31) & bought == {"bought_31_days_ago_late"}
    assert days("lte", 30) & bought == bought - {"bought_31_days_ago_late"}
    assert days("lte", 0) & bought == {"bought_at_midnight"}
    assert days("gte", 0) & bought == bought
    assert "blank" not in days("gte", 0) | days("lte", 10**4) | days("eq", 0)
    assert "blank" in days("ne", 0)
    assert "blank" in days("not_in", [0, 1])
    assert "blank" in names_matching(
        population, {"field": "days_since_last_purchase", "op": "is_not_set"}
    )
    # At the next midnight, to the microsecond, every purchase is one day older.
    today = population.anchor.astimezone(SH).date()
    next_midnight = at(today.year, today.month, today.day) + DAY
    assert days("eq", 1, next_midnight) & bought == {"bought_at_midnight"}
    assert days("eq", 2, next_midnight) & bought == {"bought_before_midnight"}
    assert days("eq", 0, next_midnight - US) & bought == {"bought_at_midnight"}


def test_registered_days_ago_counts_shanghai_days(population, db):
    def registered(op, value):
        return names_matching(
            population, {"field": "registered_days_ago", "op": op, "value": value}
        )

    assert {"blank"} <= registered("eq", 0)
    assert "registered_before_midnight" not in registered("eq", 0)
    assert "registered_before_midnight" in registered("eq", 1)
    assert "registered_before_midnight" in registered("between", [1, 1])
    assert "blank" in registered("lte", 0) and "blank" not in registered("gte", 1)


AGES = {  # population: [(instant, {member: age})]
    "june": [
        (at(2026, 6, 15, 10), {"born_0229_2000": 26, "born_0228_2000": 26, "born_0301_2000": 26,
                               "born_0229_1996": 30, "birthday_today": 30,
                               "birthday_tomorrow": 29, "born_today": 0}),
        (at(2026, 6, 16), {"birthday_tomorrow": 30, "birthday_today": 30}),
    ],
    "leap": [
        (at(2028, 2, 28, 23, 59, 30), {"born_0229_2000": 27, "born_0228_2000": 28,
                                        "born_0301_2000": 27, "born_0229_1996": 31,
                                        "birthday_today": 30, "birthday_tomorrow": 29,
                                        "born_today": 0}),
        (at(2028, 2, 29), {"born_0229_2000": 28, "born_0301_2000": 27, "born_0229_1996": 32,
                           "birthday_tomorrow": 29}),
        (at(2028, 3, 1, 0, 0, 5), {"born_0229_2000": 28, "born_0301_2000": 28,
                                   "birthday_tomorrow": 30}),
    ],
    "common_feb": [
        (at(2027, 2, 28, 12), {"born_0229_2000": 26, "born_0228_2000": 27, "born_0301_2000": 26,
                               "born_0229_1996": 30, "birthday_today": 30,
                               "birthday_tomorrow": 29, "born_today": 0}),
        (at(2027, 3, 1), {"born_0229_2000": 27, "born_0301_2000": 27, "born_0229_1996": 31,
                          "birthday_tomorrow": 30}),
    ],
}  # fmt: skip


def test_age_is_whole_years_with_29_february_counting_from_1_march(population, db):
    for now, ages in AGES[population.key]:
        for name, age in ages.items():
            for op, value in [("eq", age), ("gte", age), ("lte", age), ("between", [age, age]),
                              ("in", [age, age + 5])]:  # fmt: skip
                got = names_matching(population, {"field": "age", "op": op, "value": value}, now)
                assert name in got, (now, name, op, value)
            for op, value in [("eq", age + 1), ("eq", age - 1), ("gte", age + 1),
                              ("lte", age - 1)]:  # fmt: skip
                if value < 0:
                    continue
                got = names_matching(population, {"field": "age", "op": op, "value": value}, now)
                assert name not in got, (now, name, op, value)


def test_birthday_month(population, db):
    feb = names_matching(population, {"field": "birthday_month", "op": "eq", "value": 2})
    assert {"born_0229_2000", "born_0228_2000", "born_0229_1996"} <= feb
    assert "born_0301_2000" not in feb and "blank" not in feb
    assert "blank" in names_matching(
        population, {"field": "birthday_month", "op": "ne", "value": 2}
    )


def test_points_expiring_days(population, db):
    def expiring(op, value=None, now=None):
        condition = {"field": "points_expiring_days", "op": op}
        if value is not None:
            condition["value"] = value
        return names_matching(population, condition, now)

    lots = {"lot_today", "lot_next_midnight", "lot_dead", "lot_two"}
    assert expiring("eq", 0) & lots == {"lot_today"}  # later today: 0 days
    assert expiring("lte", 0) & lots == {"lot_today"}
    assert expiring("eq", 1) & lots == {"lot_next_midnight"}  # at the next midnight: tomorrow
    assert expiring("lte", 1) & lots == {"lot_today", "lot_next_midnight"}
    assert expiring("eq", 5) & lots == {"lot_two"}  # the first live lot counts
    assert expiring("gte", 5) & lots == {"lot_two"}
    assert "lot_two" not in expiring("gte", 6) | expiring("lte", 4) | expiring("eq", 100)
    assert "lot_two" in expiring("lte", 100) and "lot_two" in expiring("between", [2, 5])
    # No live lot: spent (remaining 0), expired, expiring right now, never expiring.
    assert "lot_dead" in expiring("is_not_set") and "lot_dead" not in expiring("gte", 0)
    assert "lot_dead" in expiring("ne", 0) and "lot_dead" in expiring("not_in", [0, 1, 10])
    # The next midnight: the lot of today has expired, the one of midnight too (not > now).
    today = population.anchor.astimezone(SH).date()
    next_midnight = at(today.year, today.month, today.day) + DAY
    gone = expiring("is_not_set", now=next_midnight)
    assert {"lot_today", "lot_next_midnight"} <= gone
    # Its last microsecond: the lot of today expired at 23:59:59, the next one is 1 day off.
    assert "lot_today" in expiring("is_not_set", now=next_midnight - US)
    assert expiring("eq", 1, next_midnight - US) & lots == {"lot_next_midnight"}


def test_has_coupon_means_a_usable_one_now(population, db):
    def holds(code, now=None):
        return names_matching(population, {"field": "has_coupon", "op": "eq", "value": code}, now)

    coupons = {name for name in population.named if name.startswith("coupon_")}
    assert holds("new10") & coupons == {"coupon_holder"}  # not yet, ended at the anchor: no
    assert holds("bday") & coupons == {"coupon_from_now"}  # redeemed, expired, void: no
    assert holds("ghost") == set()  # the erased member's
    assert "coupon_void" in names_matching(population, {"field": "has_coupon", "op": "is_not_set"})
    later = population.anchor + dt.timedelta(hours=1)
    assert holds("new10", later) & coupons == {"coupon_holder", "coupon_not_yet"}
    assert holds("new10", population.anchor - US) & coupons == {"coupon_holder", "coupon_ended"}


def test_tag_means_has_the_tag(population, db):
    def tag(op, value=None):
        condition = {"field": "tag", "op": op} | ({} if value is None else {"value": value})
        return names_matching(population, condition)

    assert "no_store_guided" in tag("eq", "VIP") and "blank" not in tag("eq", "VIP")
    assert "no_store_guided" not in tag("ne", "VIP") and "blank" in tag("ne", "VIP")
    assert "no_store_guided" in tag("in", ["沉睡", "VIP"])
    assert "no_store_guided" not in tag("not_in", ["沉睡", "VIP"])
    assert "blank" in tag("is_not_set") and "no_store_guided" in tag("is_set")
    assert tag("eq", "无人问津") == set()


def test_wechat_fields(population, db):
    def yes(name, value=True):
        return names_matching(population, {"field": name, "op": "eq", "value": value})

    assert {"wx_subscribed", "wx_unsubscribed", "wx_no_follower"} <= yes("wechat_bound")
    assert "blank" in yes("wechat_bound", False)
    subscribed = yes("wechat_subscribed")
    assert "wx_subscribed" in subscribed
    assert not {"wx_unsubscribed", "wx_no_follower", "blank", "erased"} & subscribed
    assert {"wx_unsubscribed", "wx_no_follower", "blank"} <= names_matching(
        population, {"field": "wechat_subscribed", "op": "ne", "value": True}
    )


def test_stored_value_is_principal_plus_bonus(population, db):
    def balance(op, value):
        return names_matching(
            population, {"field": "stored_value_balance", "op": op, "value": value}
        )

    for value in ["100", 100, 100.0, "100.00", " 100.0 "]:
        assert "stored_value" in balance("eq", value)
    assert "stored_value" not in balance("eq", "80")
    assert "stored_value" in balance("between", ["99.99", "100.01"])
    assert "stored_value" not in balance("gte", "100.01")


def test_unset_text_fields(population, db):
    def names(name, op, value=None):
        condition = {"field": name, "op": op} | ({} if value is None else {"value": value})
        return names_matching(population, condition)

    assert "blank" in names("tier", "is_not_set") and "blank" in names("tier", "ne", "普通会员")
    assert "blank" not in names("tier", "in", list(TIERS))
    assert "blank" in names("store", "not_in", list(STORES))
    assert "blank" in names("guide", "is_not_set") and "no_store_guided" in names(
        "guide", "eq", "li"
    )
    assert "blank" in names("gender", "is_not_set")
    assert "blank" in names("gender", "not_in", ["M", "F"])
    assert "blank" in names("lifecycle", "ne", "active") and "blank" in names("rfm", "is_not_set")
    assert "blank" in names("rfm_r", "is_not_set") and "blank" not in names("rfm_r", "lte", 5)


DAY_CONDITIONS = [
    cond("days_since_last_purchase", "eq", 0),
    cond("days_since_last_purchase", "between", [1, 30]),
    cond("registered_days_ago", "lte", 0),
    cond("points_expiring_days", "gte", 5),
]


@pytest.mark.parametrize("condition", DAY_CONDITIONS, ids=lambda c: f"{c['field']}-{c['op']}")
def test_days_are_shanghai_days_whatever_zone_is_active(population, db, condition):
    """Shanghai days even when a request has activated another zone (UTC here: its date is
    a day behind Shanghai's from midnight to 08:00)."""
    behind = [t for t in population.instants if t.date() != t.astimezone(dt.UTC).date()]
    assert behind  # each population has such an instant
    tree = {"all": [condition]}
    for now in behind:
        with timezone.override("UTC"):
            got = population.matching(tree, now)
        assert got == population.expected(tree, now), population.explain(
            tree, now, got, population.expected(tree, now)
        )


# --- values: normalised, and the ones check() refuses -------------------------------------


def test_check_normalises_money_and_drops_a_set_test_value(db):
    tree = {"all": [
        {"field": "total_spent", "op": "gte", "value": 12.5},
        {"field": "stored_value_balance", "op": "between", "value": [" 3 ", "4.1"]},
        {"field": "tag", "op": "is_set", "value": None},
    ]}  # fmt: skip
    assert check(tree) == {"all": [
        {"field": "total_spent", "op": "gte", "value": "12.50"},
        {"field": "stored_value_balance", "op": "between", "value": ["3.00", "4.10"]},
        {"field": "tag", "op": "is_set"},
    ]}  # fmt: skip


BAD_RULES = [
    # shape
    ([], ['A rule is {"all": [...]} or {"any": [...]}']),
    ("tier", ['A rule is {"all": [...]}']),
    ({"none": []}, ['A rule is {"all": [...]}']),
    ({"all": [], "any": []}, ['A rule is {"all": [...]}']),
    ({"field": "tier", "op": "eq", "value": "金卡"}, ['A rule is {"all": [...]}']),
    ({"all": {"field": "tier"}}, ['"all" takes a list of conditions']),
    ({"all": [3]}, ["Condition 1:", "each condition is an object"]),
    ({"all": [{"all": [], "any": []}]}, ["Condition 1:", 'a group has one key, "all" or "any"']),
    ({"all": [{"any": "x"}]}, ["Condition 1:", '"any" takes a list']),
    ({"all": [cond("tier", "eq", "金卡") | {"note": 1}]}, ["unknown key “note”"]),
    # fields and ops
    ({"all": [cond("colour", "eq", "red")]}, ["Condition 1:", "unknown field “colour”", "tier"]),
    ({"all": [cond(3, "eq", 1)]}, ["unknown field “3”"]),
    ({"all": [{"op": "eq", "value": 1}]}, ["unknown field “None”"]),
    ({"all": [cond("tier", "like", "金")]}, ["field “tier” takes no operator “like”",
                                            "eq, ne, in, not_in, is_set, is_not_set"]),
    ({"all": [cond("tier", "gte", "金卡")]}, ["field “tier” takes no operator “gte”"]),
    ({"all": [cond("wechat_bound", "in", [True])]}, ["“wechat_bound” takes no operator “in”"]),
    ({"all": [cond("marketing_consent", "is_set")]}, ["takes no operator “is_set”"]),
    ({"all": [cond("age", None, 3)]}, ["field “age” takes no operator “None”"]),
    # values: types
    ({"all": [cond("tier", "eq")]}, ["field “tier” needs a value"]),
    ({"all": [cond("tier", "eq", 3)]}, ["field “tier” takes text, not 3"]),
    ({"all": [cond("tag", "in", ["VIP", 3])]}, ["field “tag” takes text, not 3"]),
    ({"all": [cond("age", "eq", "30")]}, ["field “age” takes a whole number, not “30”"]),
    ({"all": [cond("age", "eq", 30.0)]}, ["field “age” takes a whole number, not 30.0"]),
    ({"all": [cond("rfm_r", "eq", True)]}, ["field “rfm_r” takes a whole number, not True"]),
    ({"all": [cond("purchase_count", "in", [1, False])]}, ["takes a whole number, not False"]),
    ({"all": [cond("points_balance", "eq", None)]}, ["takes a whole number, not None"]),
    ({"all": [cond("wechat_bound", "eq", 1)]}, ["field “wechat_bound” takes true or false, not 1"]),
    ({"all": [cond("wechat_subscribed", "eq", "yes")]}, ["takes true or false, not “yes”"]),
    ({"all": [cond("total_spent", "gte", "ab")]}, ["“total_spent” takes an amount", "not “ab”"]),
    ({"all": [cond("total_spent", "gte", True)]}, ["takes an amount in yuan, not True"]),
    ({"all": [cond("total_spent", "eq", "NaN")]}, ["takes an amount in yuan, not “NaN”"]),
    ({"all": [cond("stored_value_balance", "eq", "Infinity")]}, ["an amount in yuan"]),
    ({"all": [cond("stored_value_balance", "eq", [1])]}, ["takes an amount in yuan, not [1]"]),
    ({"all": [cond("total_spent", "lte", None)]}, ["takes an amount in yuan, not None"]),
    ({"all": [cond("tag", "is_set", "VIP")]}, ["“is_set” takes no value"]),
    ({"all": [cond("age", "is_not_set", 0)]}, ["“is_not_set” takes no value"]),
    # values: ranges and known names
    ({"all": [cond("rfm_r", "eq", 6)]}, ["field “rfm_r” takes 1 to 5, not 6"]),
    ({"all": [cond("rfm_m", "in", [1, 0])]}, ["field “rfm_m” takes 1 to 5, not 0"]),
    ({"all": [cond("birthday_month", "eq", 13)]}, ["takes 1 to 12, not 13"]),
    ({"all": [cond("age", "lte", 151)]}, ["field “age” takes 0 to 150, not 151"]),
    ({"all": [cond("age", "gte", -1)]}, ["field “age” takes 0 to 150, not -1"]),
    ({"all": [cond("days_since_last_purchase", "gte", -1)]}, ["takes 0 to 36500, not -1"]),
    ({"all": [cond("points_expiring_days", "lte", -3)]}, ["takes 0 to 36500, not -3"]),
    ({"all": [cond("registered_days_ago", "eq", -1)]}, ["not -1"]),
    ({"all": [cond("purchase_count", "gte", -1)]}, ["“purchase_count” takes 0 to", "not -1"]),
    ({"all": [cond("tier", "eq", "黑卡")]}, ["“黑卡” is not a known value of “tier”"]),
    ({"all": [cond("tag", "eq", "没有的标签")]}, ["“没有的标签” is not a known value of “tag”"]),
    ({"all": [cond("store", "eq", "ZZ99")]}, ["“ZZ99” is not a known value of “store”"]),
    ({"all": [cond("guide", "eq", "nobody")]}, ["“nobody” is not a known value of “guide”"]),
    ({"all": [cond("has_coupon", "eq", "nope")]}, ["“nope” is not a known value of “has_coupon”"]),
    ({"all": [cond("lifecycle", "eq", "sleeping")]}, ["“sleeping” is not a known value"]),
    ({"all": [cond("rfm", "in", ["champions", "vip"])]}, ["“vip” is not a known value of “rfm”"]),
    ({"all": [cond("gender", "eq", "X")]}, ["“X” is not a known value of “gender”"]),
    ({"all": [cond("gender", "eq", "")]}, ["“” is not a known value of “gender”"]),
    ({"all": [cond("tier", "eq", "金卡 ")]}, ["“金卡 ” is not a known value of “tier”"]),
    # lists
    ({"all": [cond("age", "between", [40, 30])]}, ["“between” needs the low value first"]),
    ({"all": [cond("total_spent", "between", ["10", "9.99"])]}, ["needs the low value first"]),
    ({"all": [cond("age", "between", [30])]}, ["“between” takes a list of two values"]),
    ({"all": [cond("age", "between", 30)]}, ["“between” takes a list of two values"]),
    ({"all": [cond("age", "between", [1, 2, 3])]}, ["takes a list of two values"]),
    ({"all": [cond("age", "between", [1, "2"])]}, ["takes a whole number, not “2”"]),
    ({"all": [cond("tier", "in", [])]}, ["“in” takes a non-empty list of values"]),
    ({"all": [cond("tag", "not_in", [])]}, ["“not_in” takes a non-empty list of values"]),
    ({"all": [cond("tag", "in", "VIP")]}, ["“in” takes a non-empty list of values"]),
    ({"all": [cond("age", "eq", [30])]}, ["takes a whole number, not [30]"]),
    # where: the path of the condition
    ({"any": [cond("age", "eq", 1), {"all": [cond("tier", "eq", "金卡"), cond("age", "eq", "x")]}]},
     ["Condition 2.2:", "“age” takes a whole number"]),
    ({"all": [{"any": [{"any": [cond("rfm", "eq", "x")]}]}]}, ["Condition 1.1.1:"]),
    # size
    (nested(9, cond("age", "eq", 30)), ["groups nest at most 8 deep"]),
    (nested(30, {"all": []}), ["groups nest at most 8 deep"]),
    ({"all": [cond("age", "eq", 30)] * 101}, ["Condition 101:", "at most 100 conditions"]),
]  # fmt: skip


@pytest.mark.parametrize(("tree", "says"), BAD_RULES, ids=[str(i) for i in range(len(BAD_RULES))])
def test_a_bad_rule_is_refused_naming_the_problem(population, db, tree, says):
    with override("en"):
        with pytest.raises(RuleError) as refused:
            check(tree)
        message = " ".join(refused.value.messages)
        for part in says:
            assert part in message, message
        with pytest.raises(RuleError):
            compile_rules(tree)
        with pytest.raises(RuleError):
            members_matching(tree)


def test_the_refusal_is_translated(population, db):
    with override("zh-hans"), pytest.raises(RuleError) as refused:
        check({"all": [cond("colour", "eq", 1)]})
    assert "colour" in refused.value.messages[0]


def test_the_limits_themselves_are_allowed(population, db):
    assert check(nested(7, cond("age", "eq", 30)))  # eight groups, the top one included
    assert check({"all": [cond("age", "eq", 30)] * 100})
    for name, low, high in [("rfm_r", 1, 5), ("birthday_month", 1, 12), ("age", 0, 150)]:
        assert check({"all": [cond(name, "between", [low, high])]})
    assert check({"all": [cond("age", "between", [30, 30])]})
    assert check({"all": [cond("points_balance", "lte", -5)]})  # no lower bound
    assert check({"all": [cond("total_spent", "lte", "-1")]})
    got = population.at_anchor(nested(7, cond("age", "gte", 0)))
    assert got == population.expected(nested(7, cond("age", "gte", 0)))


# --- values the checker accepts but the compiler cannot use ------------------------------


@pytest.mark.parametrize(
    "condition",
    [
        cond("days_since_last_purchase", "gte", 10**6),
        cond("registered_days_ago", "lte", 10**6),
        cond("points_expiring_days", "lte", 3 * 10**6),
    ],
    ids=["days_since_last_purchase", "registered_days_ago", "points_expiring_days"],
)
def test_a_huge_day_count_is_refused_or_answered(population, db, condition):
    tree = {"all": [condition]}
    try:
        check(tree)
    except RuleError:
        return  # refused: fine
    assert population.at_anchor(tree) == population.expected(tree)


@pytest.mark.parametrize("value", ["1e30", 1e300, "9" * 40], ids=["1e30", "1e300", "9x40"])
def test_a_huge_amount_is_refused_or_answered(population, db, value):
    tree = {"all": [cond("total_spent", "lte", value)]}
    try:
        check(tree)
    except RuleError:
        return
    assert population.at_anchor(tree) == population.expected(tree)


@pytest.mark.parametrize(
    "condition",
    [
        cond("purchase_count", "gte", 2_147_483_647),
        cond("purchase_count", "lte", 2_147_483_647),
        cond("points_balance", "gte", -2_147_483_647),
        cond("points_balance", "eq", 2_147_483_647),
        cond("total_spent", "lte", "1e12"),
        cond("stored_value_balance", "gte", "-1e12"),
        cond("days_since_last_purchase", "lte", 36500),
        cond("registered_days_ago", "gte", 36500),
    ],
    ids=lambda c: f"{c['field']}-{c['op']}-{c['value']}",
)
def test_large_but_sane_values_are_answered(population, db, condition):
    tree = {"all": [condition]}
    assert population.at_anchor(tree) == population.expected(tree)


@pytest.mark.parametrize(
    "condition",
    [
        cond("purchase_count", "gte", 10**30),
        cond("points_balance", "gte", -(10**19)),
        cond("total_spent", "lte", "1e20"),
        cond("stored_value_balance", "gte", "-1e20"),
        cond("days_since_last_purchase", "lte", 100000),
        cond("points_expiring_days", "lte", 36501),
    ],
    ids=lambda c: f"{c['field']}-{c['op']}-{c['value']}",
)
def test_beyond_the_bounds_is_refused_not_a_crash(db, condition):
    with override("en"), pytest.raises(RuleError) as refused:
        check({"all": [condition]})
    assert condition["field"] in " ".join(refused.value.messages)


# --- manage.py segment_count ------------------------------------------------------------


def segment_count(*args) -> list[str]:
    out = io.StringIO()
    call_command("segment_count", *args, stdout=out)
    return out.getvalue().splitlines()


@pytest.mark.parametrize(
    "tree",
    [
        {"all": []},
        {"any": []},
        {"all": [cond("tier", "in", ["金卡", "银卡"]),
                 cond("days_since_last_purchase", "lte", 30)]},
        {"any": [cond("tag", "eq", "VIP"), {"all": [cond("age", "gte", 30),
                                                     cond("wechat_bound", "eq", False)]}]},
    ],
    ids=["everyone", "nobody", "two", "nested"],
)  # fmt: skip
def test_segment_count_ends_with_the_count(population, db, tree):
    for now in population.instants[:2]:
        with time_machine.travel(now, tick=False):
            lines = segment_count("--rules", json.dumps(tree, ensure_ascii=False))
        want = population.expected(tree, now)
        assert lines[-1] == f"count={len(want)}"
        with time_machine.travel(now, tick=False):
            lines = segment_count("--rules", json.dumps(tree), "--store", "SB02")
        in_store = {f.pk for f in population.facts if f.pk in want and f.store == "SB02"}
        assert lines[-1] == f"count={len(in_store)}"


def test_segment_count_of_a_saved_segment(population, db):
    tree = {"all": [cond("marketing_consent", "eq", True)]}
    Segment.objects.create(name="愿意接收", rules=tree)
    with time_machine.travel(population.anchor, tick=False):
        lines = segment_count("--segment", "愿意接收")
    assert lines[-1] == f"count={len(population.expected(tree))}"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--rules", json.dumps({"all": [cond("colour", "eq", 1)]})], "unknown field “colour”"),
        (["--rules", json.dumps({"all": [cond("age", "between", [9, 1])]})], "low value first"),
        (["--rules", "[]"], 'A rule is {"all": [...]}'),
        (["--rules", "{not json"], "The rule is not JSON"),
        (["--segment", "no such segment"], "No segment named no such segment"),
        (["--rules", '{"all": []}', "--store", "ZZ99"], "No store with code ZZ99"),
    ],
    ids=["unknown-field", "between", "shape", "json", "segment", "store"],
)
def test_segment_count_refuses_a_bad_rule_with_2(population, db, args, says):
    with override("en"), pytest.raises(CommandError) as refused:
        segment_count(*args)
    assert refused.value.returncode == 2
    assert says in str(refused.value)


def test_segment_count_from_the_command_line_exits_2(population, db, monkeypatch, capsys):
    """run_from_argv, as manage.py runs it: the message on stderr and exit status 2. (Its
    closing of the connections is skipped: the population lives in this transaction.)"""
    monkeypatch.setattr(connections, "close_all", lambda: None)
    bad = json.dumps({"all": [cond("rfm_r", "eq", True)]})
    with override("en"), pytest.raises(SystemExit) as exited:
        SegmentCount().run_from_argv(
            ["manage.py", "segment_count", "--skip-checks", "--rules", bad]
        )
    assert exited.value.code == 2
    assert "“rfm_r” takes a whole number, not True" in capsys.readouterr().err
    good = json.dumps({"all": [cond("tag", "is_set")]})
    with time_machine.travel(population.anchor, tick=False):
        SegmentCount().run_from_argv(
            ["manage.py", "segment_count", "--skip-checks", "--rules", good]
        )
    last = capsys.readouterr().out.splitlines()[-1]
    assert last == f"count={len(population.expected({'all': [cond('tag', 'is_set')]}))}"
