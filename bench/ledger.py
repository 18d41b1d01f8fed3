"""Benchmark "ledger": `check_ledger` over the whole points ledger, vs. a bare GROUP BY.

The seeded members get ROWS_PER_MEMBER ledger rows each (10 million at a million
members), written with one INSERT ... SELECT per batch of members, so they cost
seconds, not hours. Each member's rows are lots of +10 and spends of -10 that keep
the invariant check_ledger verifies: card.points_balance == SUM(delta) ==
SUM(remaining). Then a few members get drift planted (one kind each) and the
benchmark requires check_ledger to report exactly them, with exit status 1.

The baseline is the aggregation check_ledger cannot do without, timed on the same
table in the same run: SELECT member_id, SUM(delta) ... GROUP BY member_id.
"""

import random
import re
from datetime import timedelta

from bench.common import (
    BenchError,
    Goal,
    Result,
    Timing,
    Workspace,
    django_setup,
    in_card_batches,
    insert_select_sql,
    manage_output,
    numbers_sql,
    say,
    step,
    timed,
)

SEEDED = True  # uses the seeded demo members (bench/__main__.py)
TITLE = "check_ledger (whole ledger) vs bare GROUP BY"
ROWS_PER_MEMBER = 10  # at a million members: ten million rows
EARNS = 8  # rows 1..EARNS are lots of +POINTS, the rest spend -POINTS from the oldest lots
POINTS = 10
MEMBERS_PER_BATCH = 50_000
GOAL_SECONDS = 60.0
BASELINE_SQL = "SELECT member_id, SUM(delta) FROM loyalty_pointsentry GROUP BY member_id"


def run(ctx) -> Result:
    ws: Workspace = ctx.ws
    django_setup(ws)
    with step(f"Seeding {ROWS_PER_MEMBER} ledger rows per member (INSERT ... SELECT)"):
        rows = seed_ledger(ws)
    drifted = plant_drift()
    say(f"    {rows:,} ledger rows; drift planted for {len(drifted)} members")
    baseline = timed("bare GROUP BY", bare_group_by, runs=2)
    check, output = run_check_ledger(ws)
    verify_report(output, drifted)
    inner = re.search(r"\(([\d.]+)s\)", output)
    return Result(
        name="ledger",
        title=f"{TITLE} ({ctx.members:,} members, {rows:,} ledger rows, {ws.db})",
        subject=check,
        baseline=baseline,
        goals=[
            Goal(f"seconds <= {GOAL_SECONDS:g}", check.seconds, check.seconds <= GOAL_SECONDS),
        ],
        notes=[
            "check_ledger timed as a command (Django start-up included); it says it took "
            f"{inner[1] if inner else '?'}s itself",
            f"it reported exactly the {len(drifted)} planted members, exit status 1",
            f"baseline: {BASELINE_SQL}",
        ],
    )


# --- seeding -------------------------------------------------------------------------


def seed_ledger(ws: Workspace) -> int:
    """ROWS_PER_MEMBER consistent rows for every card, in batches of members; returns the
    table's row count. The cards' balances grow by what the rows add up to."""
    from django.db import connection
    from django.utils import timezone

    now = timezone.now()
    sql, params = _insert_sql(now)
    balance = POINTS * (2 * EARNS - ROWS_PER_MEMBER)

    def write(cursor, lo, hi):
        cursor.execute(sql, [*params, lo, hi])
        cursor.execute(
            "UPDATE loyalty_card SET points_balance = points_balance + %s "
            "WHERE member_id BETWEEN %s AND %s",
            [balance, lo, hi],
        )

    in_card_batches(write, MEMBERS_PER_BATCH)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Production's autovacuum would have done this after a load this size.
            cursor.execute("VACUUM ANALYZE loyalty_pointsentry")
            cursor.execute("ANALYZE loyalty_card")
        cursor.execute("SELECT COUNT(*) FROM loyalty_pointsentry")
        return cursor.fetchone()[0]


def _insert_sql(now) -> tuple[str, list]:
    """INSERT ... SELECT of ROWS_PER_MEMBER rows per card with member_id BETWEEN %s AND %s.

    Row n of a member: n <= EARNS is a lot of +POINTS, later rows spend -POINTS, which
    empties the oldest lots (the first ROWS_PER_MEMBER - EARNS of them). Columns this
    does not name (added later by someone else) get their model default.
    """
    from django.db import connection

    from loyalty.models import PointsEntry

    spends = ROWS_PER_MEMBER - EARNS
    if connection.vendor == "sqlite":
        key = "printf('seed-%%08d-%%02d', c.member_id, k.n)"
    else:
        key = "'seed-' || lpad(c.member_id::text, 8, '0') || '-' || lpad(k.n::text, 2, '0')"
    ops = connection.ops
    expires = ops.adapt_datetimefield_value(now + timedelta(days=365))
    created = ops.adapt_datetimefield_value(now - timedelta(days=30))
    chosen = {
        "member_id": ("c.member_id", []),
        "kind": (f"CASE WHEN k.n <= {EARNS} THEN 'earn' ELSE 'redeem' END", []),
        "delta": (f"CASE WHEN k.n <= {EARNS} THEN {POINTS} ELSE -{POINTS} END", []),
        "balance_after": (
            f"CASE WHEN k.n <= {EARNS} THEN {POINTS} * k.n ELSE {POINTS} * ({2 * EARNS} - k.n) END",
            [],
        ),
        "remaining": (
            f"CASE WHEN k.n > {spends} AND k.n <= {EARNS} THEN {POINTS} ELSE 0 END",
            [],
        ),
        "expires_at": (f"CASE WHEN k.n <= {EARNS} THEN %s ELSE NULL END", [expires]),
        "idempotency_key": (key, []),
        "reason": ("%s", ["bench seed"]),
        "created_at": ("%s", [created]),
    }
    source = (
        f"loyalty_card c CROSS JOIN ({numbers_sql(ROWS_PER_MEMBER)}) k "
        "WHERE c.member_id BETWEEN %s AND %s ORDER BY c.member_id, k.n"
    )
    return insert_select_sql(PointsEntry, chosen, source)


def plant_drift() -> dict[str, str]:
    """One member per kind of drift check_ledger must catch: {member_no: what was done}."""
    from django.db import connection, transaction
    from django.db.models import F, Max

    from loyalty.models import Card, PointsEntry
    from members.models import Member

    def balance_up(pk):
        Card.objects.filter(pk=pk).update(points_balance=F("points_balance") + 7)

    def lot_down(pk):
        lot = PointsEntry.objects.filter(member_id=pk, remaining__gte=3).aggregate(m=Max("pk"))
        PointsEntry.objects.filter(pk=lot["m"]).update(remaining=F("remaining") - 3)

    def stray_entry(pk):
        PointsEntry.objects.create(
            member_id=pk,
            kind=PointsEntry.Kind.ADJUST,
            delta=5,
            balance_after=0,
            idempotency_key=f"bench-drift-{pk}",
            reason="bench: planted drift",
        )

    def debt(pk):
        Card.objects.filter(pk=pk).update(points_debt=4)

    def no_card(pk):
        # Raw SQL: nothing may cascade, the ledger rows must stay behind.
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM loyalty_card WHERE member_id = %s", [pk])

    kinds = {
        "card balance raised by 7": balance_up,
        "one lot's remaining lowered by 3": lot_down,
        "an entry of +5 without a lot, card untouched": stray_entry,
        "points owed on the card, none in the ledger": debt,
        "card deleted, ledger rows left": no_card,
    }
    ids = list(Card.objects.order_by("pk").values_list("pk", flat=True))
    if len(ids) < len(kinds):
        raise BenchError(f"need at least {len(kinds)} members for the drift test")
    chosen = sorted(random.Random(2028).sample(ids, len(kinds)))
    with transaction.atomic():
        for pk, plant in zip(chosen, kinds.values(), strict=True):
            plant(pk)
    numbers = dict(Member.objects.filter(pk__in=chosen).values_list("pk", "member_no"))
    return {numbers[pk]: what for pk, what in zip(chosen, kinds, strict=True)}


# --- measuring ------------------------------------------------------------------------


def bare_group_by() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(BASELINE_SQL)
        cursor.fetchall()


def run_check_ledger(ws: Workspace) -> tuple[Timing, str]:
    found = {}

    def check():
        found["done"] = manage_output(ws, "check_ledger", timeout=900)

    timing = timed("check_ledger", check)
    done = found["done"]
    if done.returncode != 1:
        raise BenchError(
            f"check_ledger exited {done.returncode}, not 1, with drift planted:\n"
            f"{done.stdout}\n{done.stderr}"
        )
    return timing, done.stdout + done.stderr


def verify_report(output: str, drifted: dict[str, str]) -> None:
    """check_ledger must name every planted member and no other."""
    reported = set(re.findall(r"^\s+(\S+): ", output, re.M))
    count = re.search(r"Ledger drift for (\d+) member", output)
    if reported != set(drifted) or not count or int(count[1]) != len(drifted):
        missed = {no: drifted[no] for no in set(drifted) - reported}
        extra = sorted(reported - set(drifted))
        raise BenchError(
            f"check_ledger did not report exactly the planted drift: missed {missed}, "
            f"extra {extra[:10]}\n{output[-2000:]}"
        )
