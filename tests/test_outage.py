"""config/outage.py in process: which errors are an outage, and what each caller gets.

The real outages (PostgreSQL stopped, backends killed, Redis killed) are in tests/faults/;
these pin the rule and the two doors (a view's exception, and one raised outside a view).
"""

from unittest import mock

import pytest
from django.db import IntegrityError, OperationalError
from django.test import Client
from django.utils import translation
from redis.exceptions import ConnectionError as RedisConnectionError


def _sqlite_error(sql: str):
    """A real sqlite3 error (with its sqlite_errorname), as Django raises it: wrapped."""
    import sqlite3

    from django.db import utils

    db = sqlite3.connect(":memory:")
    try:
        db.execute(sql)
    except sqlite3.OperationalError as exc:
        wrapped = utils.OperationalError(*exc.args)
        wrapped.__cause__ = exc
        return wrapped
    raise AssertionError("no error")


def _pg_error(name: str):
    import psycopg.errors
    from django.db import utils

    cause = getattr(psycopg.errors, name)("from the server")
    wrapped = utils.OperationalError(*cause.args)
    wrapped.__cause__ = cause
    return wrapped


@pytest.fixture
def quiet_client(client):
    """A client that gets the 500/503 page instead of the exception re-raised."""
    return Client(raise_request_exception=False)


@pytest.mark.django_db
@pytest.mark.parametrize("error", [_pg_error("AdminShutdown"), RedisConnectionError()])
def test_a_view_hitting_an_outage_answers_the_503_page(clerk_client, error):
    """The view's door: the user is read (lazily) inside the view, from a store that is down."""
    clerk_client.raise_request_exception = False
    with mock.patch("django.contrib.auth.get_user", side_effect=error):
        response = clerk_client.get("/staff/?q=138")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    page = response.content.decode()
    assert "暂时" in page and "503" in page
    assert 'id="error-back"' in page and 'href="/staff/?q=138"' in page  # the same page again


@pytest.mark.django_db
def test_the_api_gets_its_json_error_shape(quiet_client):
    with mock.patch(
        "django.contrib.auth.middleware.AuthenticationMiddleware.process_request",
        side_effect=_pg_error("AdminShutdown"),  # terminating connection (administrator)
    ):
        response = quiet_client.post("/api/v1/purchases", data={}, content_type="application/json")
    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable"
    assert response.json()["message"]


@pytest.mark.django_db
def test_an_outage_outside_any_view_is_a_503_too(quiet_client):
    """handler500's door: a middleware failing before the view (the session, the user)."""
    with (
        mock.patch(
            "django.contrib.auth.middleware.AuthenticationMiddleware.process_request",
            side_effect=OperationalError("database is locked"),
        ),
        translation.override("en"),
    ):
        response = quiet_client.get("/staff/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 503
    assert "Briefly unavailable" in response.content.decode()


@pytest.mark.django_db
def test_a_bug_stays_a_500_with_a_page_in_chinese(quiet_client):
    with mock.patch(
        "django.contrib.auth.middleware.AuthenticationMiddleware.process_request",
        side_effect=IntegrityError("duplicate key"),
    ):
        response = quiet_client.get("/staff/")
    assert response.status_code == 500
    assert "出错" in response.content.decode()


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (lambda: _sqlite_error("SELECT * FROM no_such_table"), False),  # a missing migrate
        (lambda: OperationalError("database is locked"), True),  # the writer lock's timeout
        (lambda: _pg_error("AdminShutdown"), True),  # 57P01: pg_ctl stop, a killed backend
        (lambda: _pg_error("CannotConnectNow"), True),  # 57P03: starting up
        (lambda: _pg_error("TooManyConnections"), True),  # 53300
        (lambda: _pg_error("DeadlockDetected"), True),  # 40P01
        (lambda: _pg_error("UndefinedTable"), False),  # 42P01: a bug, not an outage
        (lambda: _pg_error("DiskFull"), False),  # 53100: a 507, not "try again"
        (lambda: RedisConnectionError(), True),
    ],
)
def test_which_errors_are_an_outage(error, outage):
    from config.outage import is_outage

    assert is_outage(error()) is outage


def test_a_full_database_disk_is_a_507_not_an_outage():
    from config.outage import is_disk_full

    assert is_disk_full(_pg_error("DiskFull"))
    assert is_disk_full(OperationalError("database or disk is full"))
    assert not is_disk_full(_pg_error("AdminShutdown"))


@pytest.mark.django_db
def test_a_missing_table_is_a_500_not_a_retry_forever(quiet_client):
    with mock.patch(
        "django.contrib.auth.middleware.AuthenticationMiddleware.process_request",
        side_effect=_sqlite_error("SELECT * FROM no_such_table"),
    ):
        response = quiet_client.post("/api/v1/purchases", data={}, content_type="application/json")
    assert response.status_code == 500
