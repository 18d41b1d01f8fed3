"""A streaming replica that falls behind: its reads go to the primary until it catches up.

The fault stack's PostgreSQL gets a real standby (pg_basebackup -R, streaming). Its
replay is paused, a store is added on the primary, and a process configured with the
standby as DATABASE_REPLICA_URL (REPLICA_MAX_LAG 1 s) reads inside from_replica(): the
router sends the read to the primary, which has the store. Replay resumed, the next read
(after LAG_CHECK_SECONDS) is the replica's again.
"""

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from .conftest import report
from .harness import PYTHON, REPO, Postgres, wait_for

pytestmark = pytest.mark.faults

READ = """
import json, logging, django
django.setup()
from members import replica
from members.models import Store
from members.replica import ReplicaRouter, from_replica
with from_replica():
    chosen = ReplicaRouter().db_for_read(Store)
    found = Store.objects.filter(code="LAGGED").exists()
lag = replica.replica_lag(replica.connections[replica.REPLICA])
print(json.dumps({"chosen": chosen, "found": found, "lag": lag}))
"""


def read_through_router(stack, standby: Postgres) -> dict:
    env = {**stack.env, "DATABASE_REPLICA_URL": standby.url, "REPLICA_MAX_LAG": "1"}
    done = subprocess.run([PYTHON, "-c", READ], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_replica_further_behind_than_allowed_is_left_for_the_primary(pg_stack):
    stack = pg_stack
    root = Path(tempfile.mkdtemp(prefix="huiyuan-standby-"))
    root.chmod(0o755)  # PostgreSQL's own user walks into it (pytest's tmp_path is 0700)
    try:
        standby = Postgres(root, primary=stack.pg)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    try:
        caught_up = read_through_router(stack, standby)
        assert caught_up["chosen"] == "replica" and caught_up["lag"] == 0

        standby.sql("SELECT pg_wal_replay_pause()")
        stack.manage("shell", "-c", "from members.models import Store; "
                     "Store.objects.create(code='LAGGED', name='落后测试店')")  # fmt: skip
        time.sleep(1.5)
        behind = read_through_router(stack, standby)
        assert behind["lag"] > 1
        assert behind["chosen"] == "default" and behind["found"] is True  # the primary's

        standby.sql("SELECT pg_wal_replay_resume()")
        started = time.monotonic()
        wait_for(lambda: standby.sql("SELECT count(*) FROM members_store WHERE code = 'LAGGED'")
                 == [(1,)], 30, "the standby to replay the store")  # fmt: skip
        again = read_through_router(stack, standby)
        assert again["chosen"] == "replica" and again["found"] is True
        caught = time.monotonic() - started
        report("replica lag", {"lag while paused (s)": f"{behind['lag']:.1f}",
                               "caught up in (s)": f"{caught:.2f}"})  # fmt: skip
    finally:
        standby.close()
        shutil.rmtree(root, ignore_errors=True)
        stack.manage("shell", "-c", "from members.models import Store; "
                     "Store.objects.filter(code='LAGGED').delete()", check=False)  # fmt: skip
