"""config/platform/sqlite: transactions queue on a lock file, released at commit or rollback."""

import fcntl
import os
import threading
import time

import pytest
from django.db import OperationalError, connection, connections, transaction

from members.models import Store

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite backend's own lock"),
]


def _lock_free(path: str) -> bool:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # releases it again if it was taken


def _open_files(path: str) -> list[str]:
    """This process's file descriptors open on `path`."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == path:
                found.append(fd)
        except OSError:
            pass  # closed meanwhile (listdir's own descriptor)
    return found


def test_a_transaction_holds_the_lock_file_until_commit():
    path = connection._lock_path()
    assert path and path.endswith("-writer.lock")
    with transaction.atomic():
        Store.objects.create(code="LK1", name="锁一")
        assert not _lock_free(path)
    assert _lock_free(path)
    assert Store.objects.filter(code="LK1").exists()


def test_a_rollback_releases_the_lock_file_too():
    path = connection._lock_path()
    with pytest.raises(RuntimeError), transaction.atomic():
        Store.objects.create(code="LK2", name="锁二")
        assert not _lock_free(path)
        raise RuntimeError("rolled back")
    assert _lock_free(path)
    assert not Store.objects.filter(code="LK2").exists()


def test_a_second_writer_starts_when_the_first_commits_not_before():
    first_in, times = threading.Event(), {}

    def first():
        try:
            with transaction.atomic():
                Store.objects.create(code="LK3", name="锁三")
                first_in.set()
                # SQLite's busy handler would next look at ~328 ms after the second
                # writer began to wait (sleeps of 1, 2, 5, 10, 15, 20, 25, 25, 25,
                # 50, 50, 100 ms): ~90 ms after this commit.
                time.sleep(0.24)
                times["first_done"] = time.monotonic()  # then COMMIT
        finally:
            connections.close_all()

    thread = threading.Thread(target=first)
    thread.start()
    assert first_in.wait(10)
    with transaction.atomic():
        times["second_in"] = time.monotonic()
        Store.objects.create(code="LK4", name="锁四")
    thread.join()
    assert times["second_in"] >= times["first_done"]
    # It waited for the lock, not for SQLite's next sleep to end: within a few ms.
    assert times["second_in"] - times["first_done"] < 0.05
    assert Store.objects.filter(code__in=["LK3", "LK4"]).count() == 2


def test_a_lock_file_held_too_long_fails_the_write_as_sqlite_would(monkeypatch):
    # After `timeout` (once, not again in SQLite's busy handler): "database is locked".
    path = connection._lock_path()
    holder = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX)
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "timeout", 0.05)
    try:
        started = time.monotonic()
        with (
            pytest.raises(OperationalError, match="database is locked"),
            transaction.atomic(),
        ):
            Store.objects.create(code="LK5", name="锁五")
        assert 0.05 <= time.monotonic() - started < 1
    finally:
        os.close(holder)
    assert not Store.objects.filter(code="LK5").exists()
    assert _lock_free(path)  # nothing of ours left holding it


def test_a_file_system_without_locks_leaves_the_waiting_to_sqlite(monkeypatch, caplog):
    def no_locks(fd, operation):
        raise OSError(37, "No locks available")

    monkeypatch.setattr("config.platform.sqlite.base.fcntl.flock", no_locks)
    monkeypatch.setattr(type(connections["default"]), "_warned", False)
    for code in ("LK8", "LK9"):
        with transaction.atomic():
            Store.objects.create(code=code, name="无锁")
    Store.objects.filter(code="LK8").update(name="改名")  # autocommit too
    assert Store.objects.filter(code__in=["LK8", "LK9"]).count() == 2
    assert not _open_files(connection._lock_path())  # none left open by the failures
    assert "unusable" in caplog.text


def test_a_write_outside_a_transaction_queues_too():
    # Autocommit: the UPDATE is a transaction of its own and waits for the lock file.
    store = Store.objects.create(code="LK6", name="锁六")
    path = connection._lock_path()
    holder = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX)
    done = threading.Event()

    def rename():
        try:
            Store.objects.filter(pk=store.pk).update(name="改名")
            done.set()
        finally:
            connections.close_all()

    thread = threading.Thread(target=rename)
    thread.start()
    try:
        assert not done.wait(0.2)  # queued behind the holder
    finally:
        os.close(holder)
    thread.join(10)
    assert done.is_set()
    assert Store.objects.get(pk=store.pk).name == "改名"
    assert Store.objects.filter(code="LK6").count() == 1  # reads never queue


def test_an_unusable_lock_file_leaves_the_waiting_to_sqlite(monkeypatch, tmp_path, caplog):
    # e.g. made by another user: transactions still work, a warning says why.
    wrapper = type(connections["default"])
    monkeypatch.setattr(wrapper, "_lock_path", lambda self: str(tmp_path / "no" / "x"))
    monkeypatch.setattr(wrapper, "_warned", False)
    with transaction.atomic():
        Store.objects.create(code="LK7", name="锁七")
    assert Store.objects.filter(code="LK7").exists()
    assert "unusable" in caplog.text


def test_the_main_thread_waits_in_the_kernel_and_gives_sigalrm_back(tmp_path):
    import signal

    from config.platform.sqlite.base import _wait_blocking

    path = str(tmp_path / "w.lock")
    holder, waiter = (os.open(path, os.O_RDWR | os.O_CREAT, 0o600) for _ in range(2))
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        threading.Timer(0.05, os.close, [holder]).start()  # freed after 50 ms
        started = time.monotonic()
        assert _wait_blocking(waiter, 5) is True
        assert 0.04 <= time.monotonic() - started < 1
        assert signal.getsignal(signal.SIGALRM) is signal.SIG_DFL  # as it was
        assert signal.getitimer(signal.ITIMER_REAL)[0] == 0
    finally:
        os.close(waiter)


def test_the_wait_in_the_kernel_has_a_time_limit_and_is_for_the_main_thread_only(tmp_path):
    import signal

    from config.platform.sqlite.base import _wait_blocking

    path = str(tmp_path / "w.lock")
    holder, waiter = (os.open(path, os.O_RDWR | os.O_CREAT, 0o600) for _ in range(2))
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        started = time.monotonic()
        assert _wait_blocking(waiter, 0.05) is False  # still held: the time ran out
        assert time.monotonic() - started < 1
        found = []
        thread = threading.Thread(target=lambda: found.append(_wait_blocking(waiter, 5)))
        thread.start()
        thread.join(2)
        assert found == [False]  # not the main thread: the caller polls instead
        previous = signal.signal(signal.SIGALRM, lambda *a: None)  # someone else's
        try:
            assert _wait_blocking(waiter, 5) is False
        finally:
            signal.signal(signal.SIGALRM, previous)
    finally:
        os.close(holder)
        os.close(waiter)


# --- checkpoints out of the lock -----------------------------------------------------


@pytest.fixture
def checkpoints(monkeypatch):
    """Records, for each checkpoint this process runs, whether the lock file was free."""
    from config.platform.sqlite import base as sqlite_base

    seen = []
    original = sqlite_base.DatabaseWrapper._checkpoint

    def spy(self):
        seen.append("unlocked" if _lock_free(self._lock_path()) else "locked")
        return original(self)

    monkeypatch.setattr(sqlite_base.DatabaseWrapper, "_checkpoint", spy)
    connection.ensure_connection()
    connection._rows_checkpointed = connection.connection.total_changes
    return sqlite_base, seen


def test_sqlite_own_checkpoint_is_only_a_backstop(checkpoints):
    sqlite_base, _seen = checkpoints
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        assert cursor.fetchone()[0] == sqlite_base.BACKSTOP_PAGES
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"


def test_a_checkpoint_runs_after_commit_once_enough_rows_changed_outside_the_lock(
    checkpoints, monkeypatch
):
    sqlite_base, seen = checkpoints
    monkeypatch.setattr(sqlite_base.DatabaseWrapper, "checkpoint_rows", 3)
    for i in range(2):
        with transaction.atomic():
            Store.objects.create(code=f"CK{i}", name="检查点")
    assert seen == []  # two rows since the last: not yet
    with transaction.atomic():
        Store.objects.create(code="CK2", name="检查点")
        assert seen == []  # never inside the transaction
    assert seen == ["unlocked"]  # after COMMIT, the lock file already free
    Store.objects.filter(code="CK0").update(name="改")  # autocommit: 1 row, not due
    assert seen == ["unlocked"]
    assert Store.objects.filter(code__startswith="CK").count() == 3


def test_a_long_log_is_caught_up_under_the_lock_so_it_can_start_again(checkpoints, monkeypatch):
    sqlite_base, seen = checkpoints
    monkeypatch.setattr(sqlite_base.DatabaseWrapper, "checkpoint_rows", 1)
    monkeypatch.setattr(sqlite_base, "CATCH_UP_FRAMES", 1)  # any log is "long"
    with transaction.atomic():
        Store.objects.create(code="CK3", name="检查点")
    assert seen == ["unlocked", "locked"]
    assert _lock_free(connection._lock_path())
    # Nobody appended since, so the log is all copied and the next writer restarts it.
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
        _busy, frames, copied = cursor.fetchone()
    assert frames == copied


def test_a_busy_lock_or_a_failed_checkpoint_never_fails_the_committed_transaction(
    checkpoints, monkeypatch
):
    import sqlite3

    sqlite_base, seen = checkpoints
    monkeypatch.setattr(sqlite_base.DatabaseWrapper, "checkpoint_rows", 1)
    monkeypatch.setattr(sqlite_base, "CATCH_UP_FRAMES", 1)
    holder = os.open(connection._lock_path(), os.O_RDWR | os.O_CREAT, 0o600)
    passive = sqlite_base.DatabaseWrapper._checkpoint  # the spy

    def another_writer_comes(self):
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)  # during the PASSIVE one
        return passive(self)

    monkeypatch.setattr(sqlite_base.DatabaseWrapper, "_checkpoint", another_writer_comes)
    try:
        with transaction.atomic():
            Store.objects.create(code="CK4", name="检查点")
            started = time.monotonic()
    finally:
        os.close(holder)
    assert time.monotonic() - started < 1  # waited CATCH_UP_WAIT for the catch-up, not 20 s
    assert seen == ["locked"]  # only the PASSIVE one ran; the catch-up is left to next time
    assert Store.objects.filter(code="CK4").exists()

    def broken(self):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(sqlite_base.DatabaseWrapper, "_checkpoint", broken)
    with transaction.atomic():
        Store.objects.create(code="CK5", name="检查点")
    assert Store.objects.filter(code="CK5").exists()
    assert _lock_free(connection._lock_path())


def test_a_failed_checkpoint_is_tried_again_at_the_next_commit(checkpoints, monkeypatch):
    import sqlite3

    sqlite_base, seen = checkpoints
    monkeypatch.setattr(sqlite_base.DatabaseWrapper, "checkpoint_rows", 2)
    spy = sqlite_base.DatabaseWrapper._checkpoint
    failures = [sqlite3.OperationalError("database table is locked")]

    def once_broken(self):
        if failures:
            seen.append("failed")
            raise failures.pop()
        return spy(self)

    monkeypatch.setattr(sqlite_base.DatabaseWrapper, "_checkpoint", once_broken)
    for i in range(2):
        with transaction.atomic():
            Store.objects.create(code=f"CF{i}", name="检查点")
    assert seen == ["failed"]
    with transaction.atomic():
        Store.objects.create(code="CF2", name="检查点")  # 3 rows since: still due
    assert seen == ["failed", "unlocked"]


def test_a_bulk_run_checkpoints_less_often_and_collects_less_and_both_come_back(
    checkpoints, monkeypatch
):
    """config.platform.bulk.bulk_run (the import's): a checkpoint after BULK_CHECKPOINT_ROWS
    rows instead of after every few, a young generation of BULK_GC_THRESHOLD objects;
    as they were afterwards, also when the run fails."""
    import gc

    from config.platform import bulk

    sqlite_base, seen = checkpoints
    monkeypatch.setattr(sqlite_base.DatabaseWrapper, "checkpoint_rows", 2)
    monkeypatch.setattr(bulk, "BULK_CHECKPOINT_ROWS", 5)
    threshold, frozen = gc.get_threshold(), gc.get_freeze_count()
    with pytest.raises(RuntimeError), bulk.bulk_run():
        assert gc.get_threshold()[0] == bulk.BULK_GC_THRESHOLD
        assert gc.get_freeze_count() > 0  # what was there before is not walked again
        with bulk.bulk_run():  # a run inside a run leaves the outer one's settings
            pass
        assert gc.get_threshold()[0] == bulk.BULK_GC_THRESHOLD and gc.get_freeze_count() > 0
        for i in range(4):
            with transaction.atomic():
                Store.objects.create(code=f"BK{i}", name="批量")
        assert seen == []  # 4 rows: a till's connection would have checkpointed twice
        with transaction.atomic():
            Store.objects.create(code="BK4", name="批量")
        assert seen == ["unlocked"]
        raise RuntimeError("the run fails")
    assert gc.get_threshold() == threshold and gc.get_freeze_count() == frozen
    for i in range(2):
        with transaction.atomic():
            Store.objects.create(code=f"BA{i}", name="批量后")
    assert seen == ["unlocked", "unlocked"]  # every 2 rows again
