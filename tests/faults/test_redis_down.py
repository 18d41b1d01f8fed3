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


def job_runs(stack, job: str, after: int = 0) -> list[tuple]:
    return stack.pg.sql(
        "SELECT id, status FROM loyalty_jobrun WHERE job = %s AND id > %s ORDER BY id", (job, after)
    )


def last_run(stack) -> int:
    return stack.pg.sql("SELECT coalesce(max(id), 0) FROM loyalty_jobrun")[0][0]


ASK_FOR_AN_EXPORT = """
from django.db import transaction
from loyalty.imports import exports
from members.models import Member
with transaction.atomic():  # as the admin's export button: queued when the request commits
    job = exports.export_job_create(queryset=Member.objects.all(), fmt="csv", actor=None,
                                    what="all", full_contact=False)
print(job.pk)
"""


def test_redis_down_the_counter_works_and_queued_work_is_not_lost(pg_stack):
    stack = pg_stack
    if stack.cluster is None or stack.cluster.proc.poll() is not None:
        stack.start_cluster()
    numbers = member_numbers(stack)
    before = last_run(stack)
    assert enqueue(stack, "loyalty.jobs.run_job", "expire_points") == "True"
    wait_for(lambda: job_runs(stack, "expire_points", before), 30, "the cluster to run a task")

    stack.redis.stop()
    try:
        load = Load()
        load.add(
            "purchase", lambda n: (f"redis-{n}", stack.purchase(f"redis-{n}", numbers[n % 50]))
        )
        load.add("lookup", lambda n: ("", stack.lookup(numbers[n % 50])))
        with load:
            time.sleep(4)
            queued_while_down = enqueue(stack, "loyalty.jobs.run_job", "expire_coupons")
            export = int(stack.manage("shell", "-c", ASK_FOR_AN_EXPORT).stdout.split()[-1])
        time.sleep(2)
        cluster_alive = stack.cluster.proc.poll() is None
    finally:
        stack.redis.start()
    assert queued_while_down == "False"  # refused, logged; not a 500 in the caller
    statuses = {(a.kind, a.status) for a in load.answers}
    assert statuses <= {("purchase", 201), ("lookup", 200)}, statuses  # 302 = logged out
    assert all(a.seconds < 2 for a in load.answers), max(a.seconds for a in load.answers)
    acknowledged = [a.key for a in load.of("purchase")]
    rows = stack.pg.sql(
        "SELECT count(*) FROM loyalty_purchase WHERE external_ref = ANY(%s)", (acknowledged,)
    )
    assert rows[0][0] == len(acknowledged)
    assert cluster_alive, "qcluster keeps running while Redis is away"
    export_status = "SELECT status FROM loyalty_exportjob WHERE id = %s"
    assert stack.pg.sql(export_status, (export,)) == [("queued",)]  # its task was lost

    back = time.monotonic()
    mark = last_run(stack)
    assert enqueue(stack, "loyalty.jobs.run_job", "expire_coupons") == "True"
    wait_for(lambda: job_runs(stack, "expire_coupons", mark), 60, "the cluster to run after Redis")
    resumed = time.monotonic() - back
    # The sweep (every minute, for what has waited 2 minutes: the wait is skipped here by
    # dating the export back) queues the lost export again; it is made once.
    stack.pg.sql(
        "UPDATE loyalty_exportjob SET created_at = created_at - interval '5 minutes' WHERE id = %s",
        (export,),
    )
    assert enqueue(stack, "loyalty.jobs.run_job", "requeue_waiting") == "True"
    wait_for(lambda: stack.pg.sql(export_status, (export,)) == [("done",)], 60, "the export")
    assert enqueue(stack, "loyalty.jobs.run_job", "requeue_waiting") == "True"  # again: nothing
    time.sleep(3)
    assert stack.pg.sql(export_status, (export,)) == [("done",)]
    still_logged_in = stack.lookup(numbers[0])
    assert still_logged_in.status_code == 200
    report("Redis killed for 6 s", {
        "requests": len(load.answers),
        "purchases acknowledged and stored": len(acknowledged),
        "slowest answer s": round(max(a.seconds for a in load.answers), 2),
        "cluster ran a task after s": round(resumed, 1),
        "export asked for while down": "made once by the sweep",
    })  # fmt: skip
