"""Benchmark "segments": counting a segment rule over every member, and the admin
member list with two filters, at scale.

The seeded cards are given varied figures first, set-based (tiers, last purchases
over a year, purchase counts, spend; a tag on a tenth of the members; balances are
left alone, so the ledger checks of later benchmarks still hold), then the nightly
lifecycle_and_rfm job stages and scores them.

1. `segment_count` (the command, in this process: call_command) for a 3-condition rule
   and for a nested 8-condition rule, each the best of 3 quiet runs, beside the floor
   `SELECT COUNT(*) FROM loyalty_card` timed the same way. Goal: <= 2 s each.
2. The admin member list (/admin/members/member/) filtered by tier and lifecycle stage,
   newest first, as the owner, under wrk (one connection per worker: time per page);
   beside /bench/hello. Goal: p99 <= 300 ms (the issue asks p95; wrk reports p90 and
   p99, and p99 <= 300 ms is the stricter).
"""

import json
from dataclasses import replace
from io import StringIO

from bench.common import (
    BenchError,
    Goal,
    Result,
    Workspace,
    django_setup,
    get,
    gunicorn,
    run_wrk,
    say,
    staff_login,
    step,
    timed,
    write_wrk_script,
)
from bench.lookup import verify_hello

SEEDED = True  # uses the seeded demo members (bench/__main__.py)
TITLE = "segment_count (3 and 8 conditions) vs COUNT(*) of the cards; member list filtered"
OWNER = "owner"
GOAL_SECONDS = 2.0
GOAL_P99_MS = 300.0
WORKERS = 2
MARKER = "result_list"
BENCH_TAG = "咖啡控"

THREE = {
    "all": [
        {"field": "lifecycle", "op": "in", "value": ["active", "new"]},
        {"field": "total_spent", "op": "gte", "value": 500},
        {"field": "days_since_last_purchase", "op": "lte", "value": 60},
    ]
}
EIGHT = {
    "all": [
        {"field": "tier", "op": "ne", "value": "普通会员"},
        {
            "any": [
                {"field": "rfm", "op": "in", "value": ["champions", "important_keep"]},
                {"all": [
                    {"field": "purchase_count", "op": "gte", "value": 5},
                    {"field": "points_balance", "op": "between", "value": [100, 5000]},
                ]},
                {"field": "tag", "op": "eq", "value": BENCH_TAG},
            ]
        },
        {"field": "registered_days_ago", "op": "gte", "value": 30},
        {"field": "stored_value_balance", "op": "lte", "value": 1000},
        {"field": "birthday_month", "op": "is_not_set"},
    ]
}  # fmt: skip


def run(ctx) -> Result:
    ws: Workspace = ctx.ws
    django_setup(ws)
    with step("Giving the cards varied figures, a tag, then lifecycle_and_rfm"):
        prepared = prepare()
    say(f"    {prepared}")
    baseline = timed("SELECT COUNT(*) cards", count_cards, runs=3)
    floor_ms = count_ms()  # the Timing keeps 2 decimals of a second: too coarse here
    counts = {}
    three = timed("segment_count 3 conditions", lambda: counts.update(three=command(THREE)), 3)
    eight = timed("segment_count 8 nested", lambda: counts.update(eight=command(EIGHT)), 3)
    page, hello, path = member_list(ws, ctx)
    from django.db import connections

    connections.close_all()  # see bench/jobs.py: the next benchmark's server reads fresh
    return Result(
        name="segments",
        title=f"{TITLE} ({ctx.members:,} members, {ws.db})",
        subject=eight,
        baseline=baseline,
        goals=[
            Goal(
                f"3 conditions seconds <= {GOAL_SECONDS:g}",
                three.seconds,
                three.seconds <= GOAL_SECONDS,
            ),
            Goal(
                f"8 conditions seconds <= {GOAL_SECONDS:g}",
                eight.seconds,
                eight.seconds <= GOAL_SECONDS,
            ),
            Goal(f"member list p99 ms <= {GOAL_P99_MS:g}", page.p99_ms, page.p99_ms <= GOAL_P99_MS),
        ],  # fmt: skip
        notes=[
            f"COUNT(*) of the cards: {floor_ms:.1f} ms (best of 5); 3 conditions "
            f"{three.seconds:.2f}s = {three.seconds * 1000 / floor_ms:.0f} x it, "
            f"count={counts['three']}; 8 conditions {eight.seconds:.2f}s = "
            f"{eight.seconds * 1000 / floor_ms:.0f} x it, count={counts['eight']}",
            f"member list {path}: {page.rps:.1f} pages/s, p50 {page.p50_ms:.1f} ms, "
            f"p90 {page.p90_ms:.1f} ms, p99 {page.p99_ms:.1f} ms; hello p99 "
            f"{hello.p99_ms:.1f} ms (ratio {page.rps / max(hello.rps, 1e-6):.3f})",
        ],
    )


def prepare() -> dict:
    import datetime as dt

    from django.db import connection, transaction
    from django.utils import timezone

    from loyalty.jobs import run_job
    from loyalty.models import Card, Tier
    from members.models import Tag

    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    tiers = list(Tier.objects.order_by("level").values_list("pk", flat=True))
    if len(tiers) < 2:
        raise BenchError("the demo tiers are missing")
    with transaction.atomic(), connection.cursor() as cursor:
        for digit in range(10):
            tier = tiers[min(digit // 3, len(tiers) - 1)]
            cursor.execute(
                "UPDATE loyalty_card SET tier_id = %s WHERE member_id %% 10 = %s", [tier, digit]
            )
        for bucket in range(12):
            cursor.execute(
                "UPDATE loyalty_card SET last_purchase_at = %s, first_purchase_at = %s, "
                "purchase_count = 1 + member_id %% 17, total_spent = member_id %% 3000 "
                "WHERE member_id %% 12 = %s AND member_id %% 7 <> 0",
                [adapt(now - dt.timedelta(days=30 * bucket + 1)),
                 adapt(now - dt.timedelta(days=400)), bucket],
            )  # fmt: skip
        tag, _made = Tag.objects.get_or_create(name=BENCH_TAG)
        cursor.execute(
            "INSERT INTO members_member_tags (member_id, tag_id) "
            "SELECT id, %s FROM members_member WHERE id %% 10 = 3 "
            "AND id NOT IN (SELECT member_id FROM members_member_tags WHERE tag_id = %s)",
            [tag.pk, tag.pk],
        )
    counts = run_job("lifecycle_and_rfm").counts
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE loyalty_card")
            cursor.execute("ANALYZE members_member")
            cursor.execute("ANALYZE members_member_tags")
    return {"cards": Card.objects.count(), **counts}


def count_cards() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM loyalty_card")
        return cursor.fetchone()[0]


def count_ms() -> float:
    import time

    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        count_cards()
        best = min(best, (time.perf_counter() - started) * 1000)
    return best


def command(rules: dict) -> int:
    from django.core.management import call_command

    out = StringIO()
    call_command("segment_count", "--rules", json.dumps(rules, ensure_ascii=False), stdout=out)
    last = out.getvalue().strip().splitlines()[-1]
    if not last.startswith("count="):
        raise BenchError(f"segment_count printed no count: {out.getvalue()}")
    return int(last.removeprefix("count="))


def member_list(ws: Workspace, ctx):
    from loyalty.models import Tier

    tier = Tier.objects.order_by("level").values_list("pk", flat=True)[1]
    path = f"/admin/members/member/?card__tier__id__exact={tier}&card__lifecycle__exact=active"
    script = write_wrk_script(ws.root / "member-list.lua", [path], MARKER)
    hello_script = write_wrk_script(ws.root / "hello.lua", ["/bench/hello"], "hello")
    load = replace(ctx.load, connections=WORKERS, threads=WORKERS)
    with gunicorn(ws, workers=WORKERS) as base:
        verify_hello(base)
        headers = {"Cookie": staff_login(base, OWNER, ctx.password)}
        page = get(base, path, headers)
        if page.status_code != 200 or MARKER not in page.text:
            raise BenchError(f"GET {path} as {OWNER}: HTTP {page.status_code}")
        say(f"    wrk {ctx.load.duration} x2: member list (tier + lifecycle), then hello")
        listed = run_wrk(base, script, "member list 2 filters", load, headers)
        hello = run_wrk(base, hello_script, "hello", load)
    return listed, hello, path
