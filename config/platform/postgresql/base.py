"""Django's PostgreSQL backend, with a health check that asks the kernel, not the server.

Persistent connections (CONN_MAX_AGE) are checked before a request reuses them
(CONN_HEALTH_CHECKS), so a worker whose connection died with a restart or a killed
backend reconnects instead of failing a request (tests/faults/test_postgres_down.py).
Django checks with `SELECT 1`: a round trip to the server before every request's first
query, one of a counter lookup's three (docs/benchmarks.md, "PostgreSQL").

Here the check is a poll of the connection's socket instead. Between two requests the
connection is idle and the server sends nothing unasked; a server that ends the session
(shutdown, restart, `pg_terminate_backend`, `idle_session_timeout`) first sends an error
and then closes, which makes the socket readable. So an idle connection with something
to read is closed and opened again, and one with nothing to read is used without a
round trip. A connection not idle (a transaction left open), already closed or broken
gets Django's own check. What a poll cannot see, a host gone without a word, Django's
`SELECT 1` would not see either before the TCP timeouts (PG_CONNECTION_OPTIONS).

Pinned by tests/test_pg_health_check.py (a backend terminated between two requests, a
restart, and the check sending nothing to the server) and the fault suite.
"""

import select

from django.db.backends.postgresql import base
from psycopg.pq import TransactionStatus


class DatabaseWrapper(base.DatabaseWrapper):
    def close_if_health_check_failed(self):
        """Close the kept connection if the server has ended it (see the module's doc)."""
        if self.connection is None or not self.health_check_enabled or self.health_check_done:
            return
        if not self.is_idle_and_open():
            self.close()
        self.health_check_done = True

    def is_idle_and_open(self) -> bool:
        connection = self.connection
        if connection.closed or connection.broken:
            return False
        if connection.info.transaction_status != TransactionStatus.IDLE:
            return self.is_usable()  # not between two requests: Django's own check
        try:
            poll = select.poll()
            poll.register(connection.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
            return not poll.poll(0)
        except (OSError, ValueError):  # the socket itself is gone
            return False
