"""Bearer keys per store: who may call the API, and which store a call is for."""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from loyalty.models import ApiKey, PointsEntry, Purchase
from members.models import Store

pytest_plugins = ["tests.loyalty.api_fixtures"]
pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)

ENDPOINTS = [
    ("get", "/members", {"phone": "13800138000"}),
    ("post", "/members", {"phone": "13900000001", "name": "韩梅梅"}),
    ("post", "/purchases", {"external_ref": "POS-1", "phone": "13800138000", "amount": "10.00"}),
    ("post", "/purchases/POS-1/refund", {}),
]


def call(pos, method, path, body, **kwargs):
    if method == "get":
        return pos.get(path, body, **kwargs)
    return pos.post(path, body, **kwargs)


def assert_unauthorized(response):
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json; charset=utf-8"
    body = response.json()
    assert body["code"] == "unauthorized"
    assert body["message"]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_it_requires_a_key_on_every_endpoint(pos, shopper, method, path, body):
    assert_unauthorized(call(pos, method, path, body, key=None))


@pytest.mark.parametrize(
    "header",
    [
        "Bearer hy_not-a-real-key",
        "Bearer ",
        "Bearer",
        "Token {key}",
        "Basic {key}",
        "{key}",
        "bearer{key}",
    ],
)
def test_it_refuses_a_wrong_or_malformed_authorization_header(client, pos, pos_key, header):
    response = client.get(
        "/api/v1/members",
        {"phone": "13800138000"},
        HTTP_AUTHORIZATION=header.format(key=pos_key[1]),
    )
    assert_unauthorized(response)


def test_it_writes_nothing_for_an_unauthenticated_purchase(pos, shopper):
    assert pos.buy(shopper, "POS-1", "100.00").status_code == 201
    response = pos.post(
        "/purchases",
        {"external_ref": "POS-2", "member_no": shopper.member_no, "amount": "100.00"},
        key="hy_wrong",
    )
    assert_unauthorized(response)
    assert list(Purchase.objects.values_list("external_ref", flat=True)) == ["POS-1"]
    assert PointsEntry.objects.count() == 1


def test_it_refuses_a_revoked_key(pos, pos_key, shopper):
    assert pos.get("/members", {"member_no": shopper.member_no}).status_code == 200
    ApiKey.objects.filter(pk=pos_key[0].pk).update(revoked_at=timezone.now())

    assert_unauthorized(pos.get("/members", {"member_no": shopper.member_no}))
    assert_unauthorized(pos.buy(shopper, "POS-1", "10.00"))
    assert not Purchase.objects.exists()


def test_it_refuses_the_key_of_an_inactive_store(pos, store, shopper):
    Store.objects.filter(pk=store.pk).update(active=False)

    assert_unauthorized(pos.get("/members", {"member_no": shopper.member_no}))
    assert_unauthorized(pos.buy(shopper, "POS-1", "10.00"))
    assert not Purchase.objects.exists()


def test_it_keeps_only_a_hash_of_the_key(pos_key):
    row, key = pos_key
    assert row.key_hash == ApiKey.hash(key) and len(row.key_hash) == 64
    assert key.startswith("hy_") and row.key_hint == key[:10]
    stored = ApiKey.objects.filter(pk=row.pk).values().get()
    assert key not in {str(value) for value in stored.values()}


def test_the_key_says_which_store_the_purchase_is_for(pos, other_pos, store, other_store, shopper):
    assert pos.buy(shopper, "SH01-1", "10.00").status_code == 201
    assert other_pos.buy(shopper, "SH02-1", "20.00").status_code == 201

    stores = dict(Purchase.objects.values_list("external_ref", "store__code"))
    assert stores == {"SH01-1": "SH01", "SH02-1": "SH02"}
    assert set(Purchase.objects.values_list("channel", flat=True)) == {Purchase.Channel.API}


def test_it_records_when_a_key_was_last_used_at_most_once_a_minute(pos, pos_key, shopper):
    row = pos_key[0]
    assert row.last_used_at is None

    with time_machine.travel(NOW, tick=False):
        assert pos.get("/members", {"member_no": shopper.member_no}).status_code == 200
    row.refresh_from_db()
    assert row.last_used_at == NOW

    with time_machine.travel(NOW + dt.timedelta(seconds=30), tick=False):
        pos.get("/members", {"member_no": shopper.member_no})
    row.refresh_from_db()
    assert row.last_used_at == NOW  # no write on every request

    later = NOW + dt.timedelta(seconds=61)
    with time_machine.travel(later, tick=False):
        pos.get("/members", {"member_no": shopper.member_no})
    row.refresh_from_db()
    assert row.last_used_at == later


def test_a_refused_key_is_not_marked_as_used(pos, pos_key, shopper):
    ApiKey.objects.filter(pk=pos_key[0].pk).update(revoked_at=timezone.now())
    pos.get("/members", {"member_no": shopper.member_no})
    pos_key[0].refresh_from_db()
    assert pos_key[0].last_used_at is None
