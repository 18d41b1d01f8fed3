"""The schedules run through a real qcluster process (django-q2's ORM broker).

A throwaway SQLite database in a temporary DATA_DIR: migrate, setup_schedules,
make two jobs due now, start `manage.py qcluster` for a few seconds, and read the
JobRun rows it left. Q_GUARD_CYCLE=30 makes the cluster's scheduler run at start
(it runs once per 30 s of guard cycles), so the test takes seconds, not minutes.
"""

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _manage(env, *args, timeout=120):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_due_schedules_run_in_a_real_qcluster(tmp_path):
    env = {
        **os.environ,
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'q.sqlite3'}",
        "REDIS_URL": "",
        "TESTING": "false",
        "Q_SYNC": "false",
        "Q_WORKERS": "1",
        "Q_GUARD_CYCLE": "30",
    }
    _manage(env, "migrate", "--noinput", "-v", "0")
    _manage(env, "createcachetable")
    out = _manage(env, "setup_schedules").stdout
    assert "huiyuan:expire_points" in out
    db = sqlite3.connect(tmp_path / "q.sqlite3", timeout=30)
    db.execute(
        "UPDATE django_q_schedule SET next_run = datetime('now', '-1 minute') "
        "WHERE name IN ('huiyuan:expire_points', 'huiyuan:lifecycle_and_rfm')"
    )
    db.commit()
    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        runs = []
        while time.monotonic() < deadline:
            runs = db.execute("SELECT job, status FROM loyalty_jobrun ORDER BY job").fetchall()
            if len(runs) == 2 and all(status != "running" for _job, status in runs):
                break
            time.sleep(0.5)
    finally:
        cluster.terminate()
        try:
            cluster.wait(timeout=30)
        except subprocess.TimeoutExpired:
            cluster.kill()
    assert runs == [("expire_points", "ok"), ("lifecycle_and_rfm", "ok")], (
        cluster.stderr.read()[-3000:] if cluster.stderr else ""
    )
    # The scheduler moved both to their next run (00:05 and 00:40 Shanghai time), not again
    # now. Only these two: send_messages runs every minute and may fall due meanwhile.
    moved = db.execute(
        "SELECT name, next_run > datetime('now'), time(next_run, '+8 hours') "
        "FROM django_q_schedule "
        "WHERE name IN ('huiyuan:expire_points', 'huiyuan:lifecycle_and_rfm') ORDER BY name"
    ).fetchall()
    assert moved == [
        ("huiyuan:expire_points", 1, "00:05:00"),
        ("huiyuan:lifecycle_and_rfm", 1, "00:40:00"),
    ]
