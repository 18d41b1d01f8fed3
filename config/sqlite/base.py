"""Django's SQLite backend, with writers queued on a lock file instead of SQLite's sleeps.

SQLite lets one transaction write at a time. A writer that finds the lock taken is
put to sleep by SQLite's busy handler for 1, 2, 5, 10, 15, 20, 25 ... ms between
tries, so under load the lock often sits free while the next writer sleeps: two
gunicorn workers recording purchases got less done than one. Python's sqlite3 module
cannot install another busy handler, so here every transaction that Django opens
(BEGIN IMMEDIATE, see settings) first takes an exclusive flock on `<database>-writer.lock`,
trying again every WAIT_STEP seconds; the lock is dropped at COMMIT or ROLLBACK (and
by the kernel if the process dies). A write statement outside a transaction
(autocommit: it is a transaction of its own) queues the same way for its duration.
After `timeout` seconds without the lock file, the statement is tried anyway and
SQLite's own busy timeout decides, so nothing waits forever and the errors stay
SQLite's ("database is locked"). Other programs (the sqlite3 shell, a backup) do not
take the file: SQLite still serialises them, as before.
"""

import fcntl
import logging
import os
import time
from contextlib import contextmanager

from django.db.backends.sqlite3 import base

log = logging.getLogger(__name__)
WAIT_STEP = 0.0002  # seconds between tries for the lock file
WRITES = ("INSERT", "UPDATE", "DELETE", "REPLAC")  # the first six letters of a write


class CursorWrapper(base.SQLiteCursorWrapper):
    db = None  # the DatabaseWrapper that made it (create_cursor)

    def execute(self, query, params=None):
        if self.connection.in_transaction or query.lstrip()[:6].upper() not in WRITES:
            return super().execute(query, params)
        with self.db.writer_lock():
            return super().execute(query, params)

    def executemany(self, query, param_list):
        if self.connection.in_transaction or query.lstrip()[:6].upper() not in WRITES:
            return super().executemany(query, param_list)
        with self.db.writer_lock():
            return super().executemany(query, param_list)


class DatabaseWrapper(base.DatabaseWrapper):
    _writer_lock = None  # the open lock file, while this connection's transaction holds it
    _warned = False

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
            self._drop_writer_lock()

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

    def _take_writer_lock(self) -> None:
        path = self._lock_path()
        if path is None or self._writer_lock is not None:
            return
        try:
            # Readable and writable like the database beside it (umask permitting):
            # a migrate run as another user must not lock the app's workers out.
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:  # no such right here: queue as SQLite does, say so once
            if not self._warned:
                log.warning("SQLite writer lock file %s unusable (%s): SQLite waits", path, exc)
                DatabaseWrapper._warned = True
            return
        deadline = time.monotonic() + float(self.settings_dict["OPTIONS"].get("timeout", 5))
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._writer_lock = fd
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)  # let SQLite's busy timeout decide
                    return
                time.sleep(WAIT_STEP)

    def _drop_writer_lock(self) -> None:
        fd, self._writer_lock = self._writer_lock, None
        if fd is not None:
            os.close(fd)  # closing the file releases its flock
