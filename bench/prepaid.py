"""Benchmark "prepaid": a purchase paid in part from stored value (储值) through the POS
API, vs. the same purchase in cash, on the same gunicorn under the same load.

POST /api/v1/purchases with `"stored_value_to_use": "1.00"`: on top of the cash
purchase (key check, member lookup, card lock, purchase, points lot, growth, counters,
tier check) the balance is checked, split into principal and bonus, a stored-value
entry appended and the card's two figures saved, in the same transaction. The picked
members are topped up beforehand through the service (stored_value_top_up, 3,000 yuan
each, a 充值送 offer's bonus with it), far more than the load spends.

Afterwards each stored-value purchase the server acknowledged must have exactly one
spend entry of 1.00 yuan, and the touched members' ledgers (points and stored value)
must agree with their cards.
"""

import os
import random
from decimal import Decimal

from django.db import connections

from bench.common import (
    RUN_TAG,
    BenchError,
    Goal,
    Result,
    Workspace,
    count_in_log,
    django_setup,
    gunicorn,
    run_wrk,
    say,
    server_log,
    step,
    write_wrk_post_script,
)
from bench.purchase import PURCHASE_BODY, api_key, pick_members

SEEDED = True  # uses the seeded demo members (bench/__main__.py)
TITLE = "purchase paid in part from stored value (POS API) vs the same purchase in cash"
GOAL_RATIO = 0.8  # the goal: stored value may cost a purchase at most a fifth
LOCKED = "database is locked"
TOP_UP = Decimal("3000")  # with the bonus, under the 5,000 cap above a demo top-up
SPEND = "1.00"
STORED_BODY = PURCHASE_BODY[:-1] + f', "stored_value_to_use": "{SPEND}"}}'


def run(ctx) -> Result:
    ws: Workspace = ctx.ws
    django_setup(ws)
    connections.close_all()  # a fresh connection: see the note in bench/jobs.py
    members = pick_members(ctx.members)  # (member_no, member id)
    key = api_key(ws)
    with step(f"Topping up {len(members):,} members' stored value (the service, one each)"):
        top_up(members)
    keys = [no for no, _pk in members]
    stored_script = write_wrk_post_script(
        ws.root / "prepaid-stored.lua",
        url_path="/api/v1/purchases",
        keys=keys,
        template=STORED_BODY,
        expected=201,
    )
    cash_script = write_wrk_post_script(
        ws.root / "prepaid-cash.lua",
        url_path="/api/v1/purchases",
        keys=keys,
        template=PURCHASE_BODY,
        expected=201,
    )
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    with gunicorn(ws) as base:
        verify(base, headers, members[0])
        # Which runs first is a choice (PREPAID_BENCH_ORDER=cash-first): on a big database
        # the first run also warms the page cache for the second.
        order = os.environ.get("PREPAID_BENCH_ORDER", "stored-first")
        say(f"    wrk {ctx.load.duration} x2: stored-value and cash purchases ({order})")
        if order == "cash-first":
            cash = run_wrk(base, cash_script, "cash", ctx.load, headers, allow_errors=True)
        stored = run_wrk(base, stored_script, "stored-value", ctx.load, headers, allow_errors=True)
        if order != "cash-first":
            cash = run_wrk(base, cash_script, "cash", ctx.load, headers, allow_errors=True)
        locked = count_in_log(server_log(ws, base), LOCKED)
    notes = [f"{len(members):,} members topped up with {TOP_UP} yuan each; {SPEND} yuan "
             "of stored value per purchase"]  # fmt: skip
    notes += check_stored(stored, members, ctx.load.connections)
    ratio = stored.rps / cash.rps if cash.rps else 0.0
    errors = stored.errors + stored.errors_elsewhere
    return Result(
        name="prepaid",
        title=f"{TITLE} ({ctx.members:,} members, {ws.db})",
        subject=stored,
        baseline=cash,
        goals=[
            Goal(f"ratio >= {GOAL_RATIO}", ratio, ratio >= GOAL_RATIO),
            Goal("errors == 0", errors, errors == 0),
            Goal(f'"{LOCKED}" == 0', locked, locked == 0),
        ],
        notes=notes,
    )


def top_up(members: list[tuple[str, int]]) -> None:
    from loyalty.models import TopUpOffer
    from loyalty.stored_value import stored_value_top_up
    from members.models import Member

    offer, _ = TopUpOffer.objects.get_or_create(
        code="bench-3000", defaults={"name": "bench 充3000送100", "pay_amount": TOP_UP,
                                     "bonus": Decimal("100")},
    )  # fmt: skip
    for member in Member.objects.filter(pk__in=[pk for _no, pk in members]):
        stored_value_top_up(member=member, amount=TOP_UP, external_ref=f"bench-top-up-{RUN_TAG}-"
                            f"{member.pk}", offer_code=offer.code)  # fmt: skip


def verify(base: str, headers: dict, member: tuple[str, int]) -> None:
    """One purchase by hand: 201, the stored value used and the balance after in the answer."""
    import requests

    body = {"external_ref": f"prepaid-verify-{RUN_TAG}", "member_no": member[0],
            "amount": "38.50", "stored_value_to_use": SPEND}  # fmt: skip
    answer = requests.post(f"{base}/api/v1/purchases", json=body, headers=headers, timeout=30)
    if answer.status_code != 201:
        raise BenchError(f"stored-value purchase: HTTP {answer.status_code} {answer.text[:300]}")
    if answer.json().get("stored_value_used") != SPEND:
        raise BenchError(f"stored value not used as asked: {answer.text[:300]}")


def check_stored(stored, members: list[tuple[str, int]], connections: int) -> list[str]:
    """One spend entry of SPEND per stored-value purchase; the ledgers add up."""
    from loyalty.ledger import ledger_problems
    from loyalty.models import Purchase, StoredValueEntry

    prefix = f"stored-value-{RUN_TAG}-"
    purchases = Purchase.objects.filter(external_ref__startswith=prefix)
    count = purchases.count()
    spends = StoredValueEntry.objects.filter(
        kind=StoredValueEntry.Kind.SPEND, purchase__external_ref__startswith=prefix
    )
    wrong = purchases.exclude(stored_value_used=Decimal(SPEND)).count()
    in_flight = connections * (1 + stored.attempts)
    if not stored.ok_total <= count <= stored.ok_total + in_flight:
        raise BenchError(f"{stored.ok_total} stored-value purchases acknowledged, {count} stored")
    if spends.count() != count or wrong:
        raise BenchError(f"{count} purchases, {spends.count()} spends, {wrong} not {SPEND} yuan")
    sample = random.Random(2030).sample(members, min(2000, len(members)))
    problems = ledger_problems([pk for _no, pk in sample])
    if problems:
        raise BenchError(f"ledger drift after the load: {problems[:5]}")
    return [
        f"stored: {count:,} stored-value purchases, each with one {SPEND} yuan spend, for "
        f"{stored.ok_total:,} acknowledged (warm-up included); ledgers of {len(sample):,} "
        "sampled members agree (points and stored value)",
    ]
