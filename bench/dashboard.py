"""Benchmark "dashboard": the owner's /dashboard/ (all stores) for the last 30 and the
last 365 days, time per page, vs. /bench/hello on the same gunicorn.

The runner seeds no purchases, so a year of them is written first in bulk
(bulk_create: PURCHASES_PER_MEMBER per member on average, at most MAX_PURCHASES,
random members, stores, amounts and times over the past 365 days; no ledger rows,
which the dashboard's purchase figures do not need). Then the nightly
`manage.py run_job dashboard_aggregates` fills DailyStats (its time is noted, it is
the first night's backfill). The page reads those daily rows only, so its cost should
not grow with the number of purchases.

wrk requests both ranges at random with the owner's session cookie (a real login);
a page counts only when it is a 200 carrying the figures block. Goal: p99 per page
<= 300 ms; the ratio to hello is printed too.
"""

import datetime as dt
import random
import time
from dataclasses import replace

from django.db import connections

from bench.common import (
    BenchError,
    Figure,
    Goal,
    Result,
    Workspace,
    django_setup,
    get,
    gunicorn,
    manage_output,
    run_wrk,
    say,
    staff_login,
    step,
    write_wrk_script,
)
from bench.lookup import verify_hello

SEEDED = True  # uses the seeded demo members (bench/__main__.py)
TITLE = "owner dashboard (all stores, 30 and 365 days) vs hello world"
OWNER = "owner"
MARKER = 'id="dash-figures"'
PURCHASES_PER_MEMBER = 3
MAX_PURCHASES = 600_000
GOAL_P99_MS = 300.0
WORKERS = 2
BATCH = 5000


def run(ctx) -> Result:
    ws: Workspace = ctx.ws
    django_setup(ws)
    connections.close_all()  # a fresh connection: see the note in bench/jobs.py
    with step("Writing a year of purchases in bulk"):
        written = seed_purchases(min(ctx.members * PURCHASES_PER_MEMBER, MAX_PURCHASES))
    say(f"    {written:,} purchases")
    with step("manage.py run_job dashboard_aggregates"):
        started = time.monotonic()
        done = manage_output(ws, "run_job", "dashboard_aggregates", timeout=1800)
        job_seconds = time.monotonic() - started
        if done.returncode != 0:
            raise BenchError(f"run_job dashboard_aggregates failed:\n{done.stdout}\n{done.stderr}")
        say(f"    {done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ''}")
    month, year = page_paths()
    check_figures()
    month_script = write_wrk_script(ws.root / "dashboard-30.lua", [month], MARKER)
    year_script = write_wrk_script(ws.root / "dashboard-365.lua", [year], MARKER)
    hello_script = write_wrk_script(ws.root / "hello.lua", ["/bench/hello"], "hello")
    # One connection per worker: the latency is the time per page, not a queue behind
    # other pages (16 connections on 2 workers would multiply it by 8).
    load = replace(ctx.load, connections=WORKERS, threads=WORKERS)
    with gunicorn(ws, workers=WORKERS) as base:
        verify_hello(base)
        cookie = staff_login(base, OWNER, ctx.password)
        headers = {"Cookie": cookie}
        for path in (month, year):
            page = get(base, path, headers)
            if page.status_code != 200 or MARKER not in page.text:
                raise BenchError(f"GET {path} as {OWNER}: HTTP {page.status_code}")
        say(f"    wrk {ctx.load.duration} x3: dashboard 365 days, 30 days, then hello")
        dash = run_wrk(base, year_script, "dashboard-365d", load, headers)
        dash30 = run_wrk(base, month_script, "dashboard-30d", load, headers)
        hello = run_wrk(base, hello_script, "hello", load)
    return Result(
        name="dashboard",
        title=f"{TITLE} ({ctx.members:,} members, {written:,} purchases, {ws.db})",
        subject=dash,
        baseline=hello,
        goals=goals(dash, dash30),
        notes=[
            f"as {OWNER}, every store; {WORKERS} gunicorn workers, {WORKERS} connections "
            f"(time per page, no queueing); 365 days: {year}",
            f"30 days ({month}): {dash30.rps:.1f} pages/s, p50 {dash30.p50_ms:.1f} ms, "
            f"p99 {dash30.p99_ms:.1f} ms",
            f"run_job dashboard_aggregates (first night, backfill): {job_seconds:.1f}s "
            "as a command",
        ],
    )


def page_paths() -> tuple[str, str]:
    from django.utils import timezone

    today = timezone.localdate()
    year = (today - dt.timedelta(days=364)).isoformat()
    return "/dashboard/", f"/dashboard/?from={year}&to={today.isoformat()}"


def check_figures() -> None:
    """The pages will show data: the 30-day range has purchases (from DailyStats)."""
    from django.utils import timezone

    from campaigns.dashboard import figures

    today = timezone.localdate()
    data = figures(first=today - dt.timedelta(days=29), last=today, store_id="all")
    if not data.buyers:
        raise BenchError(f"the dashboard has no buyers in the last 30 days: {data.totals}")


def seed_purchases(count: int) -> int:
    """`count` completed counter purchases over the past year, in batches (bulk_create)."""
    from decimal import Decimal

    from django.db import transaction
    from django.utils import timezone

    from loyalty.models import Purchase
    from members.models import Member, Store

    rng = random.Random(2030)
    now = timezone.now()
    ids = list(Member.objects.values_list("pk", flat=True))
    stores = list(Store.objects.values_list("pk", flat=True))
    if not ids or not stores:
        raise BenchError("no members or stores to buy")
    written = 0
    for lo in range(0, count, BATCH):
        rows = []
        for n in range(lo, min(lo + BATCH, count)):
            fen = rng.randint(1500, 60000)
            amount = Decimal(fen) / 100
            at = now - dt.timedelta(seconds=rng.uniform(60, 365 * 86400))
            rows.append(
                Purchase(
                    member_id=rng.choice(ids),
                    store_id=rng.choice(stores),
                    external_ref=f"bench-dash-{n}",
                    category="咖啡",
                    gross_amount=amount,
                    cash_paid=amount,
                    points_earned=fen // 100,
                    occurred_at=at,
                )
            )
        with transaction.atomic():
            Purchase.objects.bulk_create(rows)
        written += len(rows)
    return written


def goals(dash: Figure, dash30: Figure) -> list[Goal]:
    return [
        Goal(f"365d p99 <= {GOAL_P99_MS:g} ms", dash.p99_ms, dash.p99_ms <= GOAL_P99_MS),
        Goal(f"30d p99 <= {GOAL_P99_MS:g} ms", dash30.p99_ms, dash30.p99_ms <= GOAL_P99_MS),
    ]
