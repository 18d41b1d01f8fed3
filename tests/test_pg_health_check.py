"""config/platform/postgresql: the kept connection's health check polls its socket.

A connection the server ended between two requests (pg_terminate_backend, a restart) is
replaced before the next request's first query; a healthy one to this host is reused
without a round trip to the server; one inside a transaction, or to another host, gets
Django's SELECT 1.
"""

import time

import psycopg
import pytest
from django.db import connection

from config.platform.postgresql.base import is_this_host

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's backend"),
    pytest.mark.django_db(transaction=True),
]


def between_requests():
    """What Django does at a request's end and the next one's start (signals)."""
    connection.close_if_unusable_or_obsolete()


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def terminate(pid: int) -> None:
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


@pytest.fixture
def checked():
    enabled = connection.health_check_enabled
    connection.health_check_enabled = True
    yield
    connection.health_check_enabled = enabled


def test_a_terminated_backend_is_replaced_before_the_next_query(checked):
    pid = backend_pid()
    between_requests()
    terminate(pid)
    deadline = time.monotonic() + 5
    while connection.is_idle_and_open() and time.monotonic() < deadline:
        time.sleep(0.01)  # the server's goodbye reaches the socket
    assert backend_pid() != pid  # no error: a new connection answered


def test_a_healthy_connection_is_reused_without_a_round_trip(checked, monkeypatch):
    pid = backend_pid()
    kept = connection.connection
    between_requests()

    def no_round_trip():
        raise AssertionError("the idle check must not query the server")

    monkeypatch.setattr(connection, "is_usable", no_round_trip)
    connection.close_if_health_check_failed()
    assert connection.connection is kept
    monkeypatch.undo()
    assert backend_pid() == pid


def test_a_connection_in_a_transaction_gets_djangos_check(checked, monkeypatch):
    backend_pid()
    connection.connection.execute("BEGIN")  # left open, as by a crashed request
    asked = []
    monkeypatch.setattr(connection, "is_usable", lambda: asked.append(1) or True)
    connection.health_check_done = False
    connection.close_if_health_check_failed()
    assert asked == [1]
    connection.connection.execute("ROLLBACK")


def test_a_closed_connection_is_not_reused(checked):
    backend_pid()
    between_requests()
    connection.connection.close()
    assert not connection.is_idle_and_open()
    assert backend_pid()


def test_a_connection_to_another_host_gets_djangos_check(checked, monkeypatch):
    """A remote server can vanish without a word (a reboot, a failover): ask it."""
    backend_pid()
    between_requests()
    monkeypatch.setattr(type(connection.connection.info), "host", property(lambda _: "db.internal"))
    asked = []
    monkeypatch.setattr(connection, "is_usable", lambda: asked.append(1) or True)
    connection.close_if_health_check_failed()
    assert asked == [1]


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("", True),
        ("/var/run/postgresql", True),
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.0.1.1", True),
        ("::1", True),
        ("10.0.0.5", False),
        ("db.internal", False),
    ],
)
def test_this_host_is_a_socket_localhost_or_loopback(host, local):
    assert is_this_host(host) is local
