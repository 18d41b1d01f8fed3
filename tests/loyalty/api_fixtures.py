"""Fixtures for the POS / mall API tests (tests/loyalty/test_api_*.py).

Test modules load them with `pytest_plugins = ["tests.loyalty.api_fixtures"]`.
Every request goes through Django's test client: URL routing, middleware
(LocaleMiddleware for Accept-Language), Ninja's auth and JSON parsing, the real
services and the real database.
"""

import json

import pytest

from loyalty.models import ApiKey, Card, LoyaltySettings, Tier
from loyalty.tiers import tier_set
from tests.factories import MemberFactory

API = "/api/v1"
SHOPPER_PHONE = "13800138000"
_UNSET = object()


class Pos:
    """A till (or the online mall) calling the API with one store's key."""

    def __init__(self, client, key: str):
        self.client = client
        self.key = key
        # A server error becomes a 500 response to assert on, as a till would see it.
        self.client.raise_request_exception = False

    def _headers(self, key, lang):
        headers = {}
        key = self.key if key is _UNSET else key
        if key is not None:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {key}"
        if lang:
            headers["HTTP_ACCEPT_LANGUAGE"] = lang
        return headers

    def get(self, path: str, params: dict | None = None, *, key=_UNSET, lang=None):
        return self.client.get(API + path, params or {}, **self._headers(key, lang))

    def post(self, path: str, body=None, *, raw: str | None = None, key=_UNSET, lang=None):
        """POST JSON: `body` is encoded with json.dumps, `raw` is sent as it is."""
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        return self.client.post(
            API + path, data=data, content_type="application/json", **self._headers(key, lang)
        )

    def buy(self, member, ref: str, amount: str, *, key=_UNSET, lang=None, **fields):
        body = {"external_ref": ref, "member_no": member.member_no, "amount": amount, **fields}
        return self.post("/purchases", body, key=key, lang=lang)

    def refund(self, ref: str, body=None, **kwargs):
        return self.post(f"/purchases/{ref}/refund", body, **kwargs)


def card_of(member) -> Card:
    return Card.objects.select_related("tier").get(pk=member.pk)


def tier_named(name: str) -> Tier:
    return Tier.objects.get(name=name)


@pytest.fixture
def pos_key(store):
    """A key of the SH01 store: (ApiKey row, the plain key the till holds)."""
    return ApiKey.issue(store=store, name="POS 1")


@pytest.fixture
def pos(client, pos_key):
    # These tests name members by member_no or phone and spend: the rule that a static
    # key needs the member's confirmation to spend (issue 24, on by default) is tested
    # with the setting on in tests/loyalty/test_api_chain.py.
    LoyaltySettings.objects.update_or_create(pk=1, defaults={"spend_needs_dynamic_code": False})
    return Pos(client, pos_key[1])


@pytest.fixture
def other_pos(client, other_store):
    """The SH02 store's till (its own key, same test client)."""
    _obj, key = ApiKey.issue(store=other_store, name="POS SH02")
    return Pos(client, key)


@pytest.fixture
def shopper(store):
    """A member at the lowest tier (普通会员: no discount, 1 point per yuan)."""
    return MemberFactory(phone=SHOPPER_PHONE, name="李雷", store=store)


@pytest.fixture
def gold_shopper(shopper, owner):
    """The shopper put on 金卡 by staff (95% of the price, 1.5 points per yuan)."""
    tier_set(member=shopper, tier=tier_named("金卡"), actor=owner, note="test")
    return shopper
