"""SQLite, the embedded default: gunicorn workers killed mid-purchase, and the whole
server killed (a power cut for the app) with the write-ahead log not yet checkpointed.

The promise: a killed worker leaves no half purchase (a transaction is all or nothing,
and the writer lock file is released by the kernel with the process), every purchase
answered 201 is stored, a retried external_ref ends as one purchase, and after a crash
the next start recovers the WAL by itself: the database is intact and the ledger agrees.
"""

import os
import signal
import sqlite3
import time

import pytest

from .conftest import BUSY_SECONDS, report
from .harness import Load, member_numbers, wait_for

pytestmark = pytest.mark.faults


def stored(stack, refs) -> dict[str, int]:
    with sqlite3.connect(stack.root / "huiyuan.sqlite3") as db:
        marks = ",".join("?" * len(refs))
        rows = db.execute(
            f"SELECT external_ref, count(*) FROM loyalty_purchase WHERE external_ref IN ({marks}) "  # noqa: S608
            "GROUP BY external_ref",
            list(refs),
        ).fetchall()
    return dict(rows)


def buying(stack, tag: str) -> Load:
    numbers = member_numbers(stack)
    load = Load()
    for terminal in ("a", "b", "c"):

        def post(n, terminal=terminal):
            ref = f"{tag}-{terminal}-{n}"
            return ref, stack.purchase(ref, numbers[n % len(numbers)])

        load.add(f"purchase-{terminal}", post)
    return load


def settle(stack, load: Load) -> dict:
    """No 500; each 201 stored; the POS retries the rest; one purchase per ref."""
    errors = [a for a in load.answers if a.status >= 500 and a.status != 503]
    assert not errors, errors[:3]
    acknowledged = {a.key for a in load.answers if a.status == 201}
    assert set(stored(stack, acknowledged)) == acknowledged
    numbers = member_numbers(stack)
    retried = [a for a in load.answers if a.status not in (200, 201)]
    for answer in retried:
        n = int(answer.key.rsplit("-", 1)[1])
        again = stack.purchase(answer.key, numbers[n % len(numbers)])
        assert again.status_code in (200, 201), (answer.key, again.status_code, again.text)
    everything = stored(stack, {a.key for a in load.answers})
    assert set(everything) == {a.key for a in load.answers}
    assert set(everything.values()) == {1}, {k: v for k, v in everything.items() if v != 1}
    stack.manage("check_ledger")
    return {"acknowledged": len(acknowledged), "no answer, retried": len(retried)}


def test_workers_killed_mid_purchase(sqlite_stack):
    stack = sqlite_stack
    killed = 0
    with buying(stack, "worker") as load:
        for _ in range(4):
            time.sleep(0.7)
            workers = stack.web.children()
            if workers:
                os.kill(workers[0], signal.SIGKILL)  # gunicorn's master starts another
                killed += 1
        time.sleep(2)
    figures = settle(stack, load)
    assert any(a.status == 201 for a in load.answers[-10:]), "serving again after the kills"
    report("SQLite: gunicorn workers killed mid-purchase", {
        "workers killed": killed, "requests": len(load.answers), **figures,
    })  # fmt: skip


def test_the_whole_server_killed_and_started_again(sqlite_stack):
    stack = sqlite_stack
    wal = stack.root / "huiyuan.sqlite3-wal"
    with buying(stack, "crash") as load:
        time.sleep(1.5)
        stack.web.kill_all()  # master and workers at once, mid-write
        wal_bytes = wal.stat().st_size if wal.exists() else 0
        time.sleep(0.5)
    with sqlite3.connect(stack.root / "huiyuan.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    started = time.monotonic()
    stack.serve()
    up = time.monotonic() - started
    wait_for(lambda: stack.healthz().status_code == 200, 10, "serving after the crash")
    figures = settle(stack, load)
    report("SQLite: server killed mid-write, started again", {
        "requests before the kill": len(load.answers),
        "WAL left by the crash, bytes": wal_bytes,
        "start after crash s": round(up, 1),
        **figures,
    })  # fmt: skip


def test_a_database_locked_too_long_is_a_503_and_then_it_serves(sqlite_stack):
    """Another program (the sqlite3 shell, a copy script) holds the write lock past the
    writers' timeout: a purchase waits SQLITE_TIMEOUT, then the POS gets the 503, not a
    500; the counter keeps reading (WAL readers do not wait for a writer); and the same
    external_ref sent again when the lock is gone is the one purchase."""
    stack = sqlite_stack
    numbers = member_numbers(stack)
    holder = sqlite3.connect(stack.root / "huiyuan.sqlite3", isolation_level=None, timeout=10)
    holder.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        busy = stack.purchase("busy-1", numbers[0])
        waited = time.monotonic() - started
        lookup = stack.lookup(numbers[1])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert busy.status_code == 503, busy.text
    assert busy.json()["code"] == "service_unavailable"
    assert BUSY_SECONDS - 0.5 <= waited <= BUSY_SECONDS + 2, waited
    assert lookup.status_code == 200
    again = stack.purchase("busy-1", numbers[0])
    assert again.status_code == 201, again.text
    assert stored(stack, {"busy-1"}) == {"busy-1": 1}
    report("SQLite: write lock held by another program", {
        "purchase answered 503 after s": round(waited, 2),
        "counter lookup meanwhile": lookup.status_code,
    })  # fmt: skip
