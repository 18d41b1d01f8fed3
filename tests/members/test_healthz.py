from unittest import mock

import pytest
from django.db import OperationalError, connection


@pytest.mark.django_db
def test_it_answers_200_when_the_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["status"] == "ok"


@pytest.mark.django_db
def test_it_answers_503_when_the_database_does_not(client):
    with mock.patch.object(connection, "cursor", side_effect=OperationalError("down")):
        response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["status"] == "unavailable"


@pytest.mark.django_db
def test_it_refuses_post(client):
    assert client.post("/healthz").status_code == 405


@pytest.mark.django_db
def test_the_503_says_nothing_of_the_database_error_which_goes_to_the_log(client, caplog):
    """Anyone may ask /healthz: the driver's message (hosts, users, database names) is
    not theirs to read. The answer is fixed text; the detail is logged."""
    detail = 'connection to server at "db.internal" (10.0.0.5), port 5432 failed: user "huiyuan"'
    with mock.patch.object(connection, "cursor", side_effect=OperationalError(detail)):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unavailable"}
    body = response.content.decode()
    assert "db.internal" not in body and "10.0.0.5" not in body and "huiyuan" not in body
    logged = [r for r in caplog.records if r.levelname == "ERROR" and r.exc_info]
    assert logged and detail in str(logged[0].exc_info[1])
