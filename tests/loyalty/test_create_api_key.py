"""`manage.py create_api_key`: the key is printed once, works, and stops working when revoked."""

from io import StringIO

import pytest
from django.contrib.messages import get_messages
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from loyalty.models import ApiKey, Purchase
from tests.loyalty.api_fixtures import Pos

pytest_plugins = ["tests.loyalty.api_fixtures"]
pytestmark = pytest.mark.django_db


def create_api_key(**options) -> tuple[str, str]:
    out = StringIO()
    call_command("create_api_key", stdout=out, **options)
    text = out.getvalue()
    return text, text.strip().splitlines()[-1]


def test_it_prints_the_key_on_its_last_line_and_keeps_only_a_hash(store):
    text, key = create_api_key(store="SH01", name=" POS counter 1 ")

    row = ApiKey.objects.get()
    assert (row.store, row.name) == (store, "POS counter 1")
    assert key.startswith("hy_") and len(key) > 40
    assert row.key_hash == ApiKey.hash(key) and row.key_hint == key[:10]
    assert f"API key {row.pk} for SH01 (静安店)" in text
    assert (row.revoked_at, row.last_used_at) == (None, None)


def test_the_printed_key_works_for_its_store(client, store, shopper):
    _text, key = create_api_key(store="SH01", name="POS 1")
    pos = Pos(client, key)

    assert pos.get("/members", {"member_no": shopper.member_no}).status_code == 200
    assert pos.buy(shopper, "POS-1", "10.00").status_code == 201
    assert Purchase.objects.get().store == store
    assert ApiKey.objects.get().last_used_at is not None


def test_each_run_makes_a_new_key(store):
    _text, first = create_api_key(store="SH01", name="POS 1")
    _text, second = create_api_key(store="SH01", name="POS 1")

    assert first != second and ApiKey.objects.count() == 2


def test_a_key_revoked_by_setting_revoked_at_stops_working(client, store, shopper):
    _text, key = create_api_key(store="SH01", name="POS 1")
    pos = Pos(client, key)
    assert pos.get("/members", {"member_no": shopper.member_no}).status_code == 200

    ApiKey.objects.update(revoked_at=timezone.now())

    assert pos.get("/members", {"member_no": shopper.member_no}).status_code == 401


def test_a_key_revoked_in_the_admin_stops_working(client, owner, store, shopper):
    _text, key = create_api_key(store="SH01", name="POS 1")
    _text, other_key = create_api_key(store="SH01", name="POS 2")
    row = ApiKey.objects.get(key_hash=ApiKey.hash(key))
    pos, other_pos = Pos(client, key), Pos(client, other_key)
    assert pos.get("/members", {"member_no": shopper.member_no}).status_code == 200

    client.force_login(owner)
    response = client.post(
        reverse("admin:loyalty_apikey_changelist"),
        {"action": "revoke", "_selected_action": [row.pk]},
    )
    client.logout()

    assert response.status_code == 302
    row.refresh_from_db()
    assert row.revoked_at is not None
    assert pos.get("/members", {"member_no": shopper.member_no}).status_code == 401
    # Only the selected key is revoked.
    assert other_pos.get("/members", {"member_no": shopper.member_no}).status_code == 200


def test_a_key_added_in_the_admin_is_shown_once_and_works(client, owner, store, shopper):
    client.force_login(owner)
    response = client.post(reverse("admin:loyalty_apikey_add"), {"store": store.pk, "name": "Mall"})
    client.logout()

    assert response.status_code == 302
    shown = next(str(m) for m in get_messages(response.wsgi_request) if "<code>" in str(m))
    key = shown.split("<code>")[1].split("</code>")[0]
    row = ApiKey.objects.get()
    assert ApiKey.hash(key) == row.key_hash and row.name == "Mall"
    assert Pos(client, key).get("/members", {"member_no": shopper.member_no}).status_code == 200


def test_it_refuses_an_unknown_store(store):
    with pytest.raises(CommandError, match="No store with code 'NOPE'"):
        create_api_key(store="NOPE", name="POS 1")
    assert not ApiKey.objects.exists()


def test_it_refuses_an_empty_name(store):
    with pytest.raises(CommandError, match="--name"):
        create_api_key(store="SH01", name="   ")
    assert not ApiKey.objects.exists()


def test_it_requires_both_options(store):
    with pytest.raises(CommandError):
        create_api_key(store="SH01")
    assert not ApiKey.objects.exists()
