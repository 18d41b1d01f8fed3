"""Two qcluster processes, as on two hosts, on one Redis broker: each schedule runs once.

django-q2's scheduler takes the due Schedule rows with SELECT ... FOR UPDATE in a
transaction and moves each to its next run before it lets go, so the second cluster
finds nothing due. Both clusters start with Q_GUARD_CYCLE=30 so each runs its scheduler
at start, at the same moment: the race is on purpose.
"""

import time

import pytest

from .conftest import report
from .harness import PYTHON, Process, wait_for

pytestmark = pytest.mark.faults
DAILY = ["expire_points", "review_tiers", "lifecycle_and_rfm", "expire_coupons",
         "notify_expiring_points", "birthday_benefits"]  # fmt: skip


def test_two_clusters_on_one_broker_run_each_due_schedule_once(pg_stack):
    stack = pg_stack
    stack.manage("setup_schedules")
    since = stack.pg.sql("SELECT now()")[0][0]
    names = [f"huiyuan:{job}" for job in DAILY]
    stack.pg.sql(
        "UPDATE django_q_schedule SET next_run = now() - interval '1 minute' WHERE name = ANY(%s)",
        (names,),
    )
    env = {**stack.env, "Q_GUARD_CYCLE": "30"}
    clusters = [
        Process([PYTHON, "manage.py", "qcluster"], env, stack.root / f"host-{n}.log")
        for n in ("a", "b")
    ]
    for cluster in clusters:
        cluster.start()
    try:

        def all_finished():
            rows = stack.pg.sql(
                "SELECT job, status FROM loyalty_jobrun WHERE started_at >= %s AND job = ANY(%s)",
                (since, DAILY),
            )
            done = {job for job, status in rows if status != "running"}
            return rows if done == set(DAILY) else None

        wait_for(all_finished, 90, "every due schedule to run", every=0.5)
        time.sleep(3)  # a second cluster's copy, if there were one, would start by now
        rows = stack.pg.sql(
            "SELECT job, count(*) FROM loyalty_jobrun WHERE started_at >= %s AND job = ANY(%s) "
            "GROUP BY job",
            (since, DAILY),
        )
        assert dict(rows) == dict.fromkeys(DAILY, 1), rows
        moved = stack.pg.sql(
            "SELECT count(*) FROM django_q_schedule WHERE name = ANY(%s) AND next_run > now()",
            (names,),
        )
        assert moved[0][0] == len(DAILY)
        alive = [c.proc.poll() is None for c in clusters]
        assert all(alive)
    finally:
        for cluster in clusters:
            cluster.stop()
    report("two qclusters, one Redis broker", {
        "schedules due at once": len(DAILY), "runs of each": 1,
    })  # fmt: skip
