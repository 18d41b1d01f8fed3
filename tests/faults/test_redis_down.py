"""Redis (cache, sessions and django-q2's broker) killed while the shop is open.

The promise: the clerk stays logged in (sessions fall back to the database), the counter
finds members and the POS records purchases (the cache is an optimisation, not a
dependency), a task queued while the broker is down is not lost (its row is the truth;
the requeue_waiting sweep queues it again) and nothing is done twice when Redis returns.
"""

import time

import pytest

from .conftest import report
from .harness import Load, member_numbers, wait_for

pytestmark = pytest.mark.faults


def enqueue(stack, *args: str) -> str:
    """members.queue.enqueue from another process, as a view would call it: True/False."""
    code = f"from members.queue import enqueue; print(enqueue({', '.join(map(repr, args))}))"
    return stack.manage("shell", "-c", code).stdout.strip().splitlines()[-1]


def job_runs(stack, job: str) -> list[tuple]:
    return stack.pg.sql("SELECT id, status FROM loyalty_jobrun WHERE job = %s ORDER BY id", (job,))


def test_redis_down_the_counter_works_and_queued_work_is_not_lost(pg_stack):
    stack = pg_stack
    stack.start_cluster()
    numbers = member_numbers(stack)
    assert enqueue(stack, "loyalty.jobs.run_job", "expire_points") == "True"
    wait_for(lambda: job_runs(stack, "expire_points"), 30, "the cluster to run a task")

    stack.redis.stop()
    load = Load()
    load.add("purchase", lambda n: (f"redis-{n}", stack.purchase(f"redis-{n}", numbers[n % 50])))
    load.add("lookup", lambda n: ("", stack.lookup(numbers[n % 50])))
    with load:
        time.sleep(4)
        queued_while_down = enqueue(stack, "loyalty.jobs.run_job", "expire_coupons")
    assert queued_while_down == "False"  # refused, logged; not a 500 in the caller
    statuses = {(a.kind, a.status) for a in load.answers}
    assert statuses <= {("purchase", 201), ("lookup", 200)}, statuses  # 302 = logged out
    assert all(a.seconds < 2 for a in load.answers), max(a.seconds for a in load.answers)
    acknowledged = [a.key for a in load.of("purchase")]
    rows = stack.pg.sql(
        "SELECT count(*) FROM loyalty_purchase WHERE external_ref = ANY(%s)", (acknowledged,)
    )
    assert rows[0][0] == len(acknowledged)
    cluster_alive = stack.cluster.proc.poll() is None

    stack.redis.start()
    back = time.monotonic()
    assert enqueue(stack, "loyalty.jobs.run_job", "expire_coupons") == "True"
    wait_for(lambda: job_runs(stack, "expire_coupons"), 60, "the cluster to run after Redis")
    resumed = time.monotonic() - back
    still_logged_in = stack.lookup(numbers[0])
    assert still_logged_in.status_code == 200
    report("Redis killed for 4 s", {
        "requests": len(load.answers),
        "purchases acknowledged and stored": len(acknowledged),
        "slowest answer s": round(max(a.seconds for a in load.answers), 2),
        "cluster survived": cluster_alive,
        "cluster ran a task after s": round(resumed, 1),
    })  # fmt: skip
