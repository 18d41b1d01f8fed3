"""Requests a minute per member (MP_RATE_MEMBER) and per address (MP_RATE_ADDRESS): over
either, 429 rate_limited with Retry-After (the seconds left of the minute). And the API's
OpenAPI schema and docs page."""

import datetime as dt

import pytest
import time_machine

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 12, 1, 2, 0, 20, tzinfo=dt.UTC)  # 20 s into a minute


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def register(mp, openid: str, phone: str):
    mp.login(openid)
    mp.register(phone)


def test_a_member_over_the_limit_waits_for_the_next_minute(mp, settings, frozen):
    register(mp, "oMpRate0000000000000000001", "13800138000")
    settings.MP_RATE_MEMBER, settings.MP_RATE_ADDRESS = 3, 1000
    for _n in range(3):
        assert mp.get("/me").status_code == 200

    refused = mp.get("/me")

    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert refused["Retry-After"] == "40"
    assert "40 seconds" in refused.json()["message"]
    # Another member at the same address is not held back.
    register(mp, "oMpRate0000000000000000002", "13800138001")
    assert mp.get("/me").status_code == 200
    # The next minute, the first member again.
    frozen.shift(40)
    mp.login("oMpRate0000000000000000001")
    assert mp.get("/me").status_code == 200


def test_an_address_over_the_limit_is_refused_whoever_it_is(mp, settings):
    settings.MP_RATE_MEMBER, settings.MP_RATE_ADDRESS = 1000, 3
    register(mp, "oMpRate0000000000000000001", "13800138000")  # 2 requests
    assert mp.get("/me").status_code == 200  # the 3rd

    for response in (mp.get("/me"), mp.login("oMpRate0000000000000000002"),
                     mp.get("/me", auth=False)):  # fmt: skip
        assert response.status_code == 429
        assert response.json()["code"] == "rate_limited"
        assert response["Retry-After"] == "40"
    # Another address is not.
    other = mp.client.get("/api/mp/v1/me", headers=mp.headers(True), REMOTE_ADDR="203.0.113.9")
    assert other.status_code == 200


def test_behind_a_proxy_the_forwarded_address_counts(mp, settings):
    register(mp, "oMpRate0000000000000000001", "13800138000")
    settings.MP_RATE_MEMBER, settings.MP_RATE_ADDRESS, settings.TRUSTED_PROXIES = 1000, 1, 1

    def me(address):
        return mp.client.get(
            "/api/mp/v1/me", headers={**mp.headers(True), "X-Forwarded-For": address}
        )

    assert me("198.51.100.1").status_code == 200
    assert me("198.51.100.1").status_code == 429
    assert me("198.51.100.2").status_code == 200


def test_a_limit_of_zero_is_no_limit(mp, settings):
    settings.MP_RATE_MEMBER, settings.MP_RATE_ADDRESS = 0, 0
    register(mp, "oMpRate0000000000000000001", "13800138000")

    assert all(mp.get("/code").status_code == 200 for _n in range(5))


# --- the schema ------------------------------------------------------------------------------


def test_the_schema_and_docs_load_without_a_token(client):
    docs = client.get("/api/mp/v1/docs")
    assert docs.status_code == 200 and b"/api/mp/v1/openapi.json" in docs.content
    response = client.get("/api/mp/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "Huiyuan mini-program API"
    assert {path: set(ops) for path, ops in schema["paths"].items()} == {
        "/api/mp/v1/login": {"post"},
        "/api/mp/v1/register": {"post"},
        "/api/mp/v1/logout": {"post"},
        "/api/mp/v1/me": {"get"},
        "/api/mp/v1/code": {"get"},
        "/api/mp/v1/points": {"get"},
        "/api/mp/v1/coupons": {"get"},
        "/api/mp/v1/checkin": {"post"},
        "/api/mp/v1/rewards": {"get"},
        "/api/mp/v1/rewards/{reward_id}/redeem": {"post"},
    }
    assert "security" not in schema["paths"]["/api/mp/v1/login"]["post"]
    assert schema["paths"]["/api/mp/v1/me"]["get"]["security"] == [{"MiniProgramAuth": []}]
    components = schema["components"]["schemas"]
    assert components["CouponOut"]["properties"]["value"]["type"] == "string"
    assert components["PointsSummaryOut"]["properties"]["balance"]["type"] == "integer"
    assert "session_key" not in response.content.decode()
