"""Django's SQLite backend, with writers queued on a lock file instead of SQLite's sleeps.

SQLite lets one transaction write at a time. A writer that finds the lock taken is
put to sleep by SQLite's busy handler for 1, 2, 5, 10, 15, 20, 25 ... ms between
tries, so under load the lock often sits free while the next writer sleeps: two
gunicorn workers recording purchases got less done than one. Python's sqlite3 module
cannot install another busy handler, so here every transaction that Django opens
(BEGIN IMMEDIATE, see settings) first takes an exclusive flock on `<database>-writer.lock`.
The main thread (a gunicorn sync worker, a command) waits for it in the kernel, woken
the moment it is free, with a SIGALRM as its time limit; other threads try again after
0.1 ms, doubling up to 0.5 ms. The lock is dropped at COMMIT or ROLLBACK (and by the
kernel if the process dies). A write statement outside a
transaction (autocommit: a transaction of its own) queues the same way for its duration.
After the connection's `timeout` without the lock file the write fails as SQLite's
would ("database is locked"), so the longest wait stays `timeout`. A lock file that
cannot be opened or locked (another user's, a file system without locks) leaves the
waiting to SQLite, with a warning. Other programs (the sqlite3 shell, a backup) do not
take the file: SQLite still serialises them, as before.

Checkpoints (copying the write-ahead log back into the database file) are moved out of
the lock as well. SQLite runs one inside the COMMIT that takes the log past 1,000
pages, and that writer still held the lock file then: every ~30th purchase held all
the others up for the 5-10 ms of copying, which was 57 % of the time COMMIT took. Here
SQLite's own checkpoint is only a backstop (BACKSTOP_PAGES); a connection that has
changed CHECKPOINT_ROWS rows (a bulk run: more, config.platform.bulk.bulk_run) since its
last checkpoint runs a PASSIVE one right after its COMMIT, once the lock file is
dropped, so the other writers go on meanwhile. The
log starts again from its beginning only when a checkpoint has copied all of it
before the next writer begins, which writers appending during the copy prevent: once
the log holds CATCH_UP_FRAMES pages, the checkpoint is made again under the lock file
(little is left to copy by then), so the log cannot grow without bound under a
steady load. A checkpoint that fails (busy, locked) is left to the next one: the
transaction before it is already committed.
"""

import fcntl
import logging
import os
import signal
import threading
import time
from contextlib import contextmanager

from django.db.backends.sqlite3 import base
from django.db.utils import OperationalError

log = logging.getLogger(__name__)
WAIT_FIRST, WAIT_MOST = 0.0001, 0.0005  # seconds between tries: doubling up to 0.5 ms
WRITES = ("INSERT", "UPDATE", "DELETE", "REPLAC")  # the first six letters of a write
CHECKPOINT_ROWS = 256  # rows a connection changes between its checkpoints (~1,000 pages)
CATCH_UP_FRAMES = 4000  # pages in the log (16 MB) that make the next checkpoint a locked one
BACKSTOP_PAGES = 10000  # SQLite's own checkpoint in COMMIT, should ours not run
CATCH_UP_WAIT = 0.05  # seconds a committed request waits for the lock file to catch up


class _Expired(Exception):
    pass


def _expired(signum, frame):
    raise _Expired


def _wait_blocking(fd: int, seconds: float) -> bool:
    """Wait in the kernel for the lock (woken the moment it is free, where polling would
    sleep through up to WAIT_MOST of every hand-over), for at most `seconds`: True when
    taken, False when the time ran out or this thread cannot wait so.

    The time limit is a SIGALRM, which only the main thread receives; and only when no
    one else uses SIGALRM or the real-time timer (a gunicorn sync worker, manage.py
    commands and tests do not). Elsewhere (threads) the caller polls as before.
    """
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGALRM) not in (signal.SIG_DFL, _expired):
        return False
    if signal.getitimer(signal.ITIMER_REAL)[0]:
        return False
    previous = signal.signal(signal.SIGALRM, _expired)
    taken = False
    try:
        try:
            signal.setitimer(signal.ITIMER_REAL, seconds)  # one shot
            fcntl.flock(fd, fcntl.LOCK_EX)
            taken = True
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _Expired:
        # The time ran out, perhaps just as flock returned (before `taken` was set):
        # ask again without waiting; the same open file gets its own lock at once.
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            taken = True
        except OSError:
            taken = False
    finally:
        signal.signal(signal.SIGALRM, previous)
    return taken


class CursorWrapper(base.SQLiteCursorWrapper):
    db = None  # the DatabaseWrapper that made it (create_cursor)

    def _queues(self, query: str) -> bool:
        """A write outside a transaction (a transaction of its own): it takes the lock."""
        return not self.connection.in_transaction and query.lstrip()[:6].upper() in WRITES

    def execute(self, query, params=None):
        if not self._queues(query):
            return super().execute(query, params)
        with self.db.writer_lock():
            return super().execute(query, params)

    def executemany(self, query, param_list):
        if not self._queues(query):
            return super().executemany(query, param_list)
        with self.db.writer_lock():
            return super().executemany(query, param_list)


class DatabaseWrapper(base.DatabaseWrapper):
    _writer_lock = None  # the open lock file, while this connection's transaction holds it
    _warned = False  # class-wide: the warning about an unusable lock file, once
    _rows_checkpointed = 0  # the connection's total_changes at its last checkpoint
    checkpoint_rows = (
        CHECKPOINT_ROWS  # raised for a bulk writer's run (config.platform.bulk.bulk_run)
    )

    def get_new_connection(self, conn_params):
        conn = super().get_new_connection(conn_params)
        if self._lock_path() is not None:
            conn.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES}")
        self._rows_checkpointed = 0
        return conn

    def _lock_path(self) -> str | None:
        name = str(self.settings_dict["NAME"])
        if self.is_in_memory_db() or not name:
            return None
        return f"{name}-writer.lock"

    def create_cursor(self, name=None):
        cursor = self.connection.cursor(factory=CursorWrapper)
        cursor.db = self
        return cursor

    @contextmanager
    def writer_lock(self):
        """The lock file for one autocommit write (a transaction holds it already)."""
        held = self._writer_lock is not None
        if not held:
            self._take_writer_lock()
        try:
            yield
        finally:
            if not held:
                self._drop_writer_lock()

    def _start_transaction_under_autocommit(self):
        self._take_writer_lock()
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._drop_writer_lock()
            raise

    def _commit(self):
        try:
            return super()._commit()
        finally:
            # A COMMIT that failed (a deferred foreign key) leaves the transaction open
            # until Django rolls it back: keep the lock until then.
            if self.connection is None or not self.connection.in_transaction:
                self._drop_writer_lock()
                self._checkpoint_if_due()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self._drop_writer_lock()

    def _close(self):
        try:
            return super()._close()
        finally:
            self._drop_writer_lock()

    def _checkpoint_if_due(self) -> None:
        """A PASSIVE checkpoint once this connection has changed checkpoint_rows rows
        since its last; under the lock file when the log has grown past CATCH_UP_FRAMES."""
        # Only after a COMMIT (autocommit writes count towards it): after an autocommit
        # INSERT ... RETURNING its statement may still be open, and the checkpoint fails.
        try:
            conn = self.connection
            if conn is None or conn.in_transaction or self._lock_path() is None:
                return
            changed = conn.total_changes
            if changed - self._rows_checkpointed < self.checkpoint_rows:
                return
            if self._checkpoint() >= CATCH_UP_FRAMES:
                # No writer appends meanwhile, so it copies the rest; a writer that
                # keeps the lock longer than CATCH_UP_WAIT leaves it to the next time.
                self._take_writer_lock(timeout=CATCH_UP_WAIT)
                try:
                    self._checkpoint()
                finally:
                    self._drop_writer_lock()
            self._rows_checkpointed = changed  # a failed one is tried again next COMMIT
        except (base.Database.Error, OperationalError) as exc:
            log.debug("SQLite checkpoint left to the next one: %s", exc)

    def _checkpoint(self) -> int:
        """A PASSIVE checkpoint: copies what no reader still needs; the log's pages."""
        _busy, frames, _copied = self.connection.execute(
            "PRAGMA wal_checkpoint(PASSIVE)"
        ).fetchone()
        return frames

    def _take_writer_lock(self, timeout: float | None = None) -> None:
        path = self._lock_path()
        if path is None or self._writer_lock is not None:
            return
        fd = self._open_lock_file(path)
        if fd is None:
            return
        if timeout is None:
            timeout = float(self.settings_dict["OPTIONS"].get("timeout", 5))
        deadline, step = time.monotonic() + timeout, WAIT_FIRST
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    self._writer_lock, fd = fd, None
                    return
                except BlockingIOError:
                    if _wait_blocking(fd, deadline - time.monotonic()):
                        self._writer_lock, fd = fd, None
                        return
                    if time.monotonic() >= deadline:
                        # As SQLite would answer after its own busy timeout: not a
                        # second timeout after this one (a worker would be killed first).
                        raise OperationalError("database is locked") from None
                    time.sleep(step)
                    step = min(step * 2, WAIT_MOST)
                except OSError as exc:  # no locks on this file system: SQLite waits
                    self._warn(path, exc)
                    return
        finally:
            if fd is not None:
                os.close(fd)

    def _open_lock_file(self, path: str) -> int | None:
        try:
            # Group-writable like a shared data directory; not for other users, who
            # could otherwise hold it and stall every write.
            return os.open(path, os.O_RDWR | os.O_CREAT, 0o660)
        except PermissionError:
            try:  # made by another user (a migrate as root): flock needs only reading
                return os.open(path, os.O_RDONLY)
            except OSError as exc:
                self._warn(path, exc)
        except OSError as exc:
            self._warn(path, exc)
        return None

    @classmethod
    def _warn(cls, path: str, exc: OSError) -> None:
        if not cls._warned:  # once per process: SQLite's own waiting from now on
            log.warning("SQLite writer lock file %s unusable (%s): SQLite waits", path, exc)
            cls._warned = True

    def _drop_writer_lock(self) -> None:
        fd, self._writer_lock = self._writer_lock, None
        if fd is not None:
            os.close(fd)  # closing the file releases its flock
