"""Django's PostgreSQL backend, with a health check that asks the kernel, not the server,
when the server is on this host.

Persistent connections (CONN_MAX_AGE) are checked before a request reuses them
(CONN_HEALTH_CHECKS), so a worker whose connection died with a restart or a killed
backend reconnects instead of failing a request (tests/faults/test_postgres_down.py).
Django checks with `SELECT 1`: a round trip to the server before every request's first
query (147 us in one process here, against 3 us for the poll below).

For a server on this host (a Unix socket or a loopback address) the check is a poll of
the connection's socket instead. Between two requests the connection is idle and the
server sends nothing unasked; a server that ends the session (shutdown, restart, a crash,
`pg_terminate_backend`, `idle_session_timeout`) sends an error or has its end closed by
this host's kernel, which makes the socket readable. So an idle connection with something
to read is closed and opened again, and one with nothing to read is used without a round
trip. A server on another host can vanish without a word reaching this one (a reboot, a
failover, a firewall's dropped state): there, as for a connection not idle (a transaction
left open), closed or broken, Django's own `SELECT 1` decides.

Pinned by tests/test_pg_health_check.py (a backend terminated between two requests, no
round trip for a healthy local connection, Django's check for a remote one and inside a
transaction) and the fault suite's restarts and killed backends under load.
"""

import ipaddress
import select

import psycopg
from django.db.backends.postgresql import base
from psycopg.pq import TransactionStatus


def is_this_host(host: str) -> bool:
    """A libpq host that is this machine: a socket directory, localhost or loopback."""
    if not host or host.startswith("/") or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: another host, as far as the check knows
        return False


class DatabaseWrapper(base.DatabaseWrapper):
    def close_if_health_check_failed(self):
        """Close the kept connection if the server has ended it (see the module's doc)."""
        if self.pool:  # the pool checks its own connections (Django's rule)
            return
        if self.connection is None or not self.health_check_enabled or self.health_check_done:
            return
        if not self.is_idle_and_open():
            self.close()
        self.health_check_done = True

    def is_idle_and_open(self) -> bool:
        connection = self.connection
        if connection.closed or connection.broken:
            return False
        if connection.info.transaction_status != TransactionStatus.IDLE or not is_this_host(
            connection.info.host
        ):
            return self.is_usable()  # Django's own check: a round trip
        try:
            poll = select.poll()
            poll.register(connection.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
            return not poll.poll(0)
        except (OSError, ValueError, psycopg.Error):  # the socket itself is gone
            return False
