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


@pytest.fixture
def quiet_client(client):
    """A client that gets the 500/503 page instead of the exception re-raised."""
    return Client(raise_request_exception=False)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "error", [OperationalError("the database system is shutting down"), RedisConnectionError()]
)
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
        side_effect=OperationalError("terminating connection due to administrator command"),
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
            side_effect=OperationalError("could not connect to server"),
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
