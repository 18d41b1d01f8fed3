"""The segment rule language: a JSON tree, checked, explained in words, and compiled
to one Q over Member (so a count or a list is one SQL query).

    {"all": [cond, ...]}  every one holds      {"any": [cond, ...]}  at least one holds
    cond = {"field": F, "op": OP, "value": V}  or a nested group, to any depth (<= 8)

Ops: eq, ne, in, not_in, gte, lte, between ([lo, hi], inclusive), is_set, is_not_set.
`ne` and `not_in` are the negations of `eq` and `in`: they include members for whom
the field is not set. An empty "all" is everyone, an empty "any" nobody. The fields
are in fields.py. Only active members (not erased) are ever in a segment.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from members.models import Member, Store

from .fields import BOOL, FIELDS, INT, MONEY, TEXT, Context, Field

MAX_DEPTH = 8
MAX_CONDITIONS = 100
MAX_INT = 2_147_483_647  # the largest whole number a rule may hold
MAX_YUAN = Decimal("1000000000000")
GROUPS = ("all", "any")
OP_LABELS = {
    "eq": gettext_lazy("is"),
    "ne": gettext_lazy("is not"),
    "in": gettext_lazy("is one of"),
    "not_in": gettext_lazy("is none of"),
    "gte": gettext_lazy("at least"),
    "lte": gettext_lazy("at most"),
    "between": gettext_lazy("between"),
    "is_set": gettext_lazy("is set"),
    "is_not_set": gettext_lazy("is not set"),
}
NOBODY = Q(pk__in=[])


class RuleError(ValidationError):
    """A rule that cannot be used; the message says where and why."""


def where(path: list[int]) -> str:
    return ".".join(str(i + 1) for i in path) or "0"


def fail(path: list[int], message: str):
    if path:
        message = _("Condition %(where)s: %(error)s") % {"where": where(path), "error": message}
    raise RuleError(message, code="rule")


# --- checking -------------------------------------------------------------------------


def check(tree) -> dict:
    """The tree, checked and with its values normalised (money as "12.50"); raises
    RuleError naming the first problem."""
    counter = [0]
    if not isinstance(tree, dict) or len(tree) != 1 or next(iter(tree)) not in GROUPS:
        fail([], _('A rule is {"all": [...]} or {"any": [...]}.'))
    return check_node(tree, [], counter)


def check_node(node, path: list[int], counter: list[int]) -> dict:
    if not isinstance(node, dict):
        fail(path, _("each condition is an object with field, op and value."))
    if len(path) > MAX_DEPTH:
        fail(path, _("groups nest at most %(n)d deep.") % {"n": MAX_DEPTH})
    group = [key for key in GROUPS if key in node]
    if group:
        key = group[0]
        if len(node) != 1:
            fail(path, _('a group has one key, "all" or "any".'))
        if not isinstance(node[key], list):
            fail(path, _('"%(key)s" takes a list of conditions.') % {"key": key})
        return {key: [check_node(child, [*path, i], counter) for i, child in enumerate(node[key])]}
    counter[0] += 1
    if counter[0] > MAX_CONDITIONS:
        fail(path, _("a rule has at most %(n)d conditions.") % {"n": MAX_CONDITIONS})
    return check_condition(node, path)


def check_condition(node: dict, path: list[int]) -> dict:
    unknown = set(node) - {"field", "op", "value"}
    if unknown:
        fail(path, _("unknown key “%(key)s”.") % {"key": sorted(unknown)[0]})
    name, op = node.get("field"), node.get("op")
    field = FIELDS.get(name) if isinstance(name, str) else None
    if field is None:
        known = ", ".join(FIELDS)
        fail(path, _("unknown field “%(field)s” (known: %(known)s).")
             % {"field": name, "known": known})  # fmt: skip
    if op not in field.ops:
        fail(path, _("field “%(field)s” takes no operator “%(op)s” (it takes %(ops)s).")
             % {"field": name, "op": op, "ops": ", ".join(field.ops)})  # fmt: skip
    if op in ("is_set", "is_not_set"):
        if node.get("value") is not None:
            fail(path, _("“%(op)s” takes no value.") % {"op": op})
        return {"field": name, "op": op}
    if "value" not in node:
        fail(path, _("field “%(field)s” needs a value.") % {"field": name})
    value = node["value"]
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            fail(path, _("“%(op)s” takes a non-empty list of values.") % {"op": op})
        value = [check_value(field, item, path) for item in value]
    elif op == "between":
        if not isinstance(value, list) or len(value) != 2:
            fail(path, _("“between” takes a list of two values, [low, high]."))
        value = [check_value(field, item, path) for item in value]
        if Decimal(value[0]) > Decimal(value[1]):
            fail(path, _("“between” needs the low value first."))
    else:
        value = check_value(field, value, path)
    return {"field": name, "op": op, "value": value}


def check_value(field: Field, value, path: list[int]):
    if field.kind == BOOL:
        if not isinstance(value, bool):
            fail(path, _("field “%(field)s” takes true or false, not %(value)s.")
                 % {"field": field.name, "value": shown(value)})  # fmt: skip
        return value
    if field.kind == TEXT:
        if not isinstance(value, str):
            fail(path, _("field “%(field)s” takes text, not %(value)s.")
                 % {"field": field.name, "value": shown(value)})  # fmt: skip
        if field.choices is not None and value not in allowed(field):
            fail(path, _("“%(value)s” is not a known value of “%(field)s”.")
                 % {"field": field.name, "value": value})  # fmt: skip
        return value
    if field.kind == INT:
        if isinstance(value, bool) or not isinstance(value, int):
            fail(path, _("field “%(field)s” takes a whole number, not %(value)s.")
                 % {"field": field.name, "value": shown(value)})  # fmt: skip
        low = field.low if field.low is not None else -MAX_INT
        high = field.high if field.high is not None else MAX_INT
        if not low <= value <= high:
            fail(path, _("field “%(field)s” takes %(low)s to %(high)s, not %(value)s.")
                 % {"field": field.name, "low": low, "high": high,
                    "value": value})  # fmt: skip
        return value
    assert field.kind == MONEY
    try:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise InvalidOperation
        amount = Decimal(str(value).strip())
        if not amount.is_finite() or abs(amount) > MAX_YUAN:
            raise InvalidOperation
        amount = amount.quantize(Decimal("0.01"))
    except InvalidOperation:
        fail(path, _("field “%(field)s” takes an amount in yuan, not %(value)s.")
             % {"field": field.name, "value": shown(value)})  # fmt: skip
    return str(amount)


def shown(value) -> str:
    return repr(value) if not isinstance(value, str) else f"“{value}”"


def allowed(field: Field) -> set:
    return {value for value, _label in field.choices()}


# --- compiling ------------------------------------------------------------------------


def context(now: dt.datetime | None = None) -> Context:
    now = now or timezone.now()
    return Context(now=now, today=timezone.localdate(now, timezone.get_default_timezone()))


def compile_rules(tree, *, now: dt.datetime | None = None) -> Q:
    """The Q that selects the members matching `tree` (checked first)."""
    return compile_node(check(tree), context(now))


def compile_node(node: dict, ctx: Context) -> Q:
    if "all" in node:
        result = Q()
        for child in node["all"]:
            result &= compile_node(child, ctx)
        return result
    if "any" in node:
        parts = [compile_node(child, ctx) for child in node["any"]]
        if any(not part for part in parts):  # an empty Q is everyone: so is the group
            return Q()
        result = NOBODY
        for part in parts:
            result |= part
        return result
    return compile_condition(node, ctx)


def compile_condition(node: dict, ctx: Context) -> Q:
    field, op, value = FIELDS[node["field"]], node["op"], node.get("value")
    if field.kind == MONEY and value is not None:
        value = [Decimal(v) for v in value] if isinstance(value, list) else Decimal(value)
    is_set = field.is_set(ctx)
    if op == "is_set":
        return is_set
    if op == "is_not_set":
        return ~is_set if is_set else NOBODY
    if op in ("ne", "not_in"):
        return ~compile_condition({**node, "op": "eq" if op == "ne" else "in"}, ctx)
    if op == "between":
        found = field.compare("gte", value[0], ctx) & field.compare("lte", value[1], ctx)
    else:
        found = field.compare({"eq": "exact"}.get(op, op), value, ctx)
    return is_set & found if field.guard else found


def members_matching(
    tree, *, now: dt.datetime | None = None, store: Store | None = None
) -> QuerySet[Member]:
    """Active members matching `tree`, within `store` when given (a manager's scope)."""
    queryset = Member.objects.filter(compile_rules(tree, now=now), status=Member.Status.ACTIVE)
    return queryset.filter(store=store) if store is not None else queryset


# --- in words -------------------------------------------------------------------------


def describe(tree, *, top: bool = True) -> str:
    """The rule in words, e.g. 等级 是 金卡 且 (标签 是 咖啡控 或 年龄 至少 30)."""
    if "all" in tree or "any" in tree:
        key = "all" if "all" in tree else "any"
        parts = [describe(child, top=False) for child in tree[key]]
        if not parts:
            return str(_("every member") if key == "all" else _("nobody"))
        joined = (_(" and ") if key == "all" else _(" or ")).join(parts)
        return joined if top or len(parts) == 1 else f"({joined})"
    field = FIELDS.get(tree.get("field"))
    label = str(field.label) if field else str(tree.get("field"))
    op = str(OP_LABELS.get(tree.get("op"), tree.get("op")))
    if tree.get("op") in ("is_set", "is_not_set"):
        return f"{label} {op}"
    value = tree.get("value")
    names = dict(field.choices()) if field and field.choices and field.kind == TEXT else {}
    if isinstance(value, list):
        items = [str(names.get(v, v)) for v in value]
        text = " ~ ".join(items) if tree.get("op") == "between" else "、".join(items)
    elif isinstance(value, bool):
        text = str(_("yes") if value else _("no"))
    else:
        text = str(names.get(value, value))
    return f"{label} {op} {text}"
