"""A qcluster worker killed (SIGKILL) in the middle of each nightly job.

The job is caught mid-work for certain, not by timing: the test holds a row lock on a
card (or coupon) that the job reaches late, so the job has committed its first batches
(where it works in batches) and waits; then its worker is killed and the lock let go.
The promise: the job-run list shows the killed run as interrupted, the next run finishes
the work, a run after that finds nothing left to do (nothing is done twice), and the
points ledger agrees with the cards (check_ledger).
"""

import os
import signal
import time
from pathlib import Path

import psycopg
import pytest

from .conftest import report
from .harness import HOST, wait_for
from .test_redis_down import enqueue

pytestmark = pytest.mark.faults

# job: (SQL making work due, SQL choosing the row to hold, the counts that must be 0
# on the run after the one that finished)
JOBS = {
    "expire_points": (
        "UPDATE loyalty_pointsentry SET expires_at = now() - interval '1 hour' WHERE remaining > 0",
        "SELECT 1 FROM loyalty_card WHERE member_id = (SELECT max(member_id) FROM "
        "loyalty_pointsentry WHERE remaining > 0) FOR UPDATE",
        ("members", "lots", "points"),
    ),
    "review_tiers": (
        "UPDATE loyalty_loyaltysettings SET downgrade_inactive_months = 3; "
        "UPDATE loyalty_card SET last_purchase_at = now() - interval '200 days', "
        "tier_since = now() - interval '200 days' WHERE member_id % 3 = 0",
        "SELECT 1 FROM loyalty_card WHERE member_id = (SELECT max(c.member_id) FROM loyalty_card c "
        "JOIN loyalty_tier t ON t.id = c.tier_id WHERE c.member_id % 3 = 0 AND t.level > "
        "(SELECT min(level) FROM loyalty_tier)) FOR UPDATE",
        ("downgraded_inactive", "downgraded_review"),
    ),
    "expire_coupons": (
        "UPDATE loyalty_coupon SET valid_until = now() - interval '1 hour' WHERE status = 'issued'",
        "LOCK TABLE loyalty_couponevent IN SHARE MODE",
        ("coupons",),
    ),
    "lifecycle_and_rfm": (
        "UPDATE loyalty_card SET lifecycle = 'new', rfm_r = 0, rfm_f = 0, rfm_m = 0, "
        "rfm_segment = ''",
        "SELECT 1 FROM loyalty_card WHERE member_id = (SELECT max(member_id) FROM loyalty_card) "
        "FOR UPDATE",
        ("stage_changed", "scored"),
    ),
}


def runs(stack, job: str) -> list[tuple]:
    return stack.pg.sql(
        "SELECT id, status, pid, counts FROM loyalty_jobrun WHERE job = %s ORDER BY id", (job,)
    )


def waiting_on_a_lock(stack, pid_of_holder: int) -> bool:
    return bool(stack.pg.sql(
        "SELECT 1 FROM pg_stat_activity WHERE datname = 'huiyuan' AND wait_event_type = 'Lock' "
        "AND %s = ANY(pg_blocking_pids(pid))", (pid_of_holder,),
    ))  # fmt: skip


def gone(pid: int) -> bool:
    """Dead, or a zombie its parent has not reaped yet."""
    try:
        return "State:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True


def finished(stack, job: str, after: int):
    done = [r for r in runs(stack, job) if r[0] > after and r[1] in ("ok", "failed")]
    return done[-1] if done else None


@pytest.fixture(scope="module")
def cluster(pg_stack):
    if pg_stack.cluster is None or pg_stack.cluster.proc.poll() is not None:
        pg_stack.start_cluster()
    return pg_stack.cluster


@pytest.mark.parametrize("job", list(JOBS))
def test_a_worker_killed_mid_job(pg_stack, cluster, job):
    stack = pg_stack
    make_due, hold, zero = JOBS[job]
    for statement in make_due.split("; "):
        stack.pg.sql(statement)
    before = max((r[0] for r in runs(stack, job)), default=0)
    with psycopg.connect(f"postgres://postgres@{HOST}:{stack.pg.port}/huiyuan") as holder:
        holder.execute(hold)  # a transaction: the row (or table) stays locked until rollback
        holder_pid = holder.info.backend_pid
        assert enqueue(stack, "loyalty.jobs.run_job", job) == "True"
        wait_for(lambda: waiting_on_a_lock(stack, holder_pid), 60, f"{job} to reach the held row")
        killed = [r for r in runs(stack, job) if r[0] > before]
        assert killed and killed[0][1] == "running" and killed[0][2], killed
        worker = killed[0][2]
        os.kill(worker, signal.SIGKILL)
        wait_for(lambda: gone(worker), 10, "the killed worker to be gone")
        holder.rollback()
    # The killed worker's backend notices its client is gone and rolls back its batch.
    wait_for(lambda: not waiting_on_a_lock(stack, holder_pid), 10, "the lock wait to end")
    started = time.monotonic()
    assert enqueue(stack, "loyalty.jobs.run_job", job) == "True"
    done = wait_for(lambda: finished(stack, job, killed[0][0]), 120, f"{job} to run again")
    took = time.monotonic() - started
    assert done[1] == "ok", done
    statuses = {r[0]: r[1] for r in runs(stack, job)}
    assert statuses[killed[0][0]] == "interrupted", statuses
    assert enqueue(stack, "loyalty.jobs.run_job", job) == "True"
    again = wait_for(lambda: finished(stack, job, done[0]), 120, f"{job} a third time")
    assert again[1] == "ok" and not any(again[3].get(key) for key in zero), again
    stack.manage("check_ledger")
    assert cluster.proc.poll() is None, (
        "the cluster itself stays up (its sentinel replaces workers)"
    )
    report(f"qcluster worker killed in {job}", {
        "finishing run": done[3],
        "run after it": again[3],
        "finishing run s": round(took, 1),
    })  # fmt: skip
