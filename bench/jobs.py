"""Benchmark "jobs": the nightly expire_points + review_tiers + lifecycle_and_rfm at scale,
vs. one UPDATE over the whole member table.

The seeded cards are given a night's worth of work first, set-based: 40% of members on
an upper tier reached 200 days ago with their last purchase spread over the past year
(so about a quarter of them are due a downgrade for inactivity, and the rest get a
review day), purchase counts and spend for RFM, and an expired lot of 50 points for
10% of members. Then the three jobs run once each, in this process, through the same
run_job the scheduler calls (JobRun rows written), and the card table is checked:
balances match the ledger (check_ledger), every downgrade has its TierChange row.

A first night after an import like this is the worst case; a normal night has a
fraction of the work. The baseline is the floor for touching every member once:
`UPDATE members_member SET updated_at = updated_at`, timed on the same database.
"""

import datetime as dt
import time

from bench.common import (
    BenchError,
    CpuWatch,
    Goal,
    Result,
    Timing,
    Workspace,
    django_setup,
    say,
    step,
    timed,
    wait_until_quiet,
)

SEEDED = True  # uses the seeded demo members (bench/__main__.py)
TITLE = "nightly jobs (expire + review tiers + lifecycle/RFM) vs one UPDATE of every member"
GOAL_SECONDS = 60.0
JOBS = ["expire_points", "review_tiers", "lifecycle_and_rfm"]
BASELINE_SQL = "UPDATE members_member SET updated_at = updated_at"


def run(ctx) -> Result:
    ws: Workspace = ctx.ws
    django_setup(ws)
    with step("Giving the cards a night's work (tiers, recency, expired lots)"):
        work = prepare()
    say(f"    {work}")
    baseline = timed("UPDATE every member", bare_update, runs=2)
    subject, counts = run_jobs()
    verify(counts, work)
    # Leave no connection of this process open on the database: the next benchmark's
    # gunicorn did not see rows this process wrote afterwards (a coupon made by
    # bench/coupons.py was "not found" by the server) until it was reopened.
    from django.db import connections

    connections.close_all()
    return Result(
        name="jobs",
        title=f"{TITLE} ({ctx.members:,} members, {ws.db})",
        subject=subject,
        baseline=baseline,
        goals=[
            Goal(f"seconds <= {GOAL_SECONDS:g}", subject.seconds, subject.seconds <= GOAL_SECONDS)
        ],
        notes=[
            "; ".join(f"{job}: {counts[job]}" for job in JOBS),
            f"baseline: {BASELINE_SQL}",
        ],
    )


def prepare() -> dict:
    from django.db import connection, transaction
    from django.utils import timezone

    from loyalty.models import Card, Tier

    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    tiers = list(Tier.objects.order_by("level").values_list("pk", flat=True))
    if len(tiers) < 4:
        raise BenchError("the default four tiers are missing")
    with transaction.atomic(), connection.cursor() as cursor:
        # Upper tiers for members whose id ends in 0-3 (0,1: silver; 2: gold; 3: diamond).
        for digit, tier in ((0, tiers[1]), (1, tiers[1]), (2, tiers[2]), (3, tiers[3])):
            cursor.execute(
                "UPDATE loyalty_card SET tier_id = %s, tier_since = %s, tier_review_on = NULL "
                "WHERE member_id %% 10 = %s",
                [tier, adapt(now - dt.timedelta(days=200)), digit],
            )
        # Last purchases spread over the past year, in twelve buckets; counts and spend.
        for bucket in range(12):
            cursor.execute(
                "UPDATE loyalty_card SET last_purchase_at = %s, first_purchase_at = %s, "
                "purchase_count = 1 + member_id %% 17, total_spent = member_id %% 5000 "
                "WHERE member_id %% 12 = %s",
                [
                    adapt(now - dt.timedelta(days=30 * bucket + 1)),
                    adapt(now - dt.timedelta(days=400)),
                    bucket,
                ],
            )
        # An expired lot of 50 points for members whose id ends in 5.
        cursor.execute(
            "INSERT INTO loyalty_pointsentry (member_id, kind, delta, balance_after, remaining, "
            "expires_at, debt_delta, idempotency_key, reason, rule, source, created_at) "
            "SELECT member_id, 'earn', 50, points_balance + 50, 50, %s, 0, "
            "'bench-lot:' || member_id, '', '', '', %s FROM loyalty_card WHERE member_id %% 10 = 5",
            [adapt(now - dt.timedelta(days=1)), adapt(now - dt.timedelta(days=400))],
        )
        lots = cursor.rowcount
        cursor.execute(
            "UPDATE loyalty_card SET points_balance = points_balance + 50 "
            "WHERE member_id %% 10 = 5",
            [],  # with parameters, so "%%" is unescaped as in the statements above
        )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE loyalty_card")
            cursor.execute("ANALYZE loyalty_pointsentry")
    return {"cards": Card.objects.count(), "expired_lots": lots}


def bare_update() -> None:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(BASELINE_SQL)


def run_jobs() -> tuple[Timing, dict]:
    """The three jobs once each (a second run would find nothing to do: no best-of-N)."""
    from loyalty.jobs import run_job

    counts = {}
    wait_until_quiet()
    with CpuWatch() as watch:
        started = time.monotonic()
        for job in JOBS:
            began = time.monotonic()
            counts[job] = run_job(job).counts
            say(f"    {job}: {counts[job]} ({time.monotonic() - began:.1f}s)")
        took = time.monotonic() - started
    return Timing(label="3 nightly jobs", seconds=round(took, 2), background=watch.share), counts


def verify(counts: dict, work: dict) -> None:
    from loyalty.ledger import ledger_problems
    from loyalty.models import TierChange

    if counts["expire_points"]["lots"] != work["expired_lots"]:
        raise BenchError(f"expected {work['expired_lots']} lots expired: {counts}")
    downgraded = counts["review_tiers"]["downgraded_inactive"]
    if not downgraded:
        raise BenchError("review_tiers downgraded nobody: the bench data is wrong")
    rows = TierChange.objects.filter(reason="downgrade").count()
    if rows < downgraded:
        raise BenchError(f"{downgraded} downgrades but {rows} TierChange rows")
    problems = ledger_problems()
    if problems:
        raise BenchError(f"ledger drift after the jobs: {problems[:5]}")
