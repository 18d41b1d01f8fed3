"""Errors are JSON {code, message} in the caller's language, and bad input is never a 500."""

import datetime as dt
import json

import pytest
import time_machine
from django.utils import translation
from django.utils.translation import gettext

from loyalty.ledger import points_award
from loyalty.models import GrowthEntry, PointsEntry, Purchase
from tests.loyalty.api_fixtures import API, card_of

pytest_plugins = ["tests.loyalty.api_fixtures"]
pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def in_chinese(msgid: str, **params) -> str:
    """What the zh_Hans catalog makes of `msgid` (the msgid itself while untranslated)."""
    with translation.override("zh-hans"):
        text = gettext(msgid)
    return text % params if params else text


def assert_nothing_written(member):
    assert not Purchase.objects.exists()
    assert not GrowthEntry.objects.exists()
    card = card_of(member)
    assert (card.points_balance, card.purchase_count, card.growth_value) == (0, 0, 0)


def purchase(member, **fields):
    return {"external_ref": "POS-1", "member_no": member.member_no, "amount": "38.50", **fields}


def without(body, key):
    return {k: v for k, v in body.items() if k != key}


INVALID_PURCHASES = {
    "a float amount": lambda m: purchase(m, amount=38.5),
    "three decimal places": lambda m: purchase(m, amount="38.505"),
    "a negative amount": lambda m: purchase(m, amount="-38.50"),
    "a zero amount": lambda m: purchase(m, amount="0.00"),
    "an amount over a million": lambda m: purchase(m, amount="1000000.01"),
    "a word for an amount": lambda m: purchase(m, amount="abc"),
    "NaN": lambda m: purchase(m, amount="NaN"),
    "Infinity": lambda m: purchase(m, amount="Infinity"),
    "a huge exponent": lambda m: purchase(m, amount="1e999999"),
    "a tiny exponent": lambda m: purchase(m, amount="1e-999999"),
    "no amount": lambda m: without(purchase(m), "amount"),
    "no external_ref": lambda m: without(purchase(m), "external_ref"),
    "a blank external_ref": lambda m: purchase(m, external_ref="   "),
    "a 65-character external_ref": lambda m: purchase(m, external_ref="P" * 65),
    "a bad phone": lambda m: without(purchase(m, phone="abc"), "member_no"),
    "a landline": lambda m: without(purchase(m, phone="021 6123 4567"), "member_no"),
    "no member": lambda m: without(purchase(m), "member_no"),
    "occurred_at in the future": lambda m: purchase(m, occurred_at="2026-11-28T10:00:00+08:00"),
    "occurred_at in 1999": lambda m: purchase(m, occurred_at="1999-12-31T23:59:59+08:00"),
    "occurred_at in year 1": lambda m: purchase(m, occurred_at="0001-01-01T00:00:00"),
    "occurred_at in year 1 east of UTC": lambda m: purchase(
        m, occurred_at="0001-01-01T00:00:00+14:00"
    ),
    "occurred_at in 9999 west of UTC": lambda m: purchase(
        m, occurred_at="9999-12-31T23:59:59-12:00"
    ),
    "occurred_at as words": lambda m: purchase(m, occurred_at="yesterday"),
    "negative points_to_use": lambda m: purchase(m, points_to_use=-1),
    "fractional points_to_use": lambda m: purchase(m, points_to_use=1.5),
    "points_to_use as words": lambda m: purchase(m, points_to_use="many"),
    "a huge points_to_use": lambda m: purchase(m, points_to_use=10**30),
    "apply_tier_discount as words": lambda m: purchase(m, apply_tier_discount="perhaps"),
    "a 41-character category": lambda m: purchase(m, category="类" * 41),
    "NUL in external_ref": lambda m: purchase(m, external_ref="POS\x001"),
    "NUL in category": lambda m: purchase(m, category="服装\x00"),
    "NUL in member_no": lambda m: purchase(m, member_no="\x00"),
    "NUL in a key": lambda m: {**purchase(m), "\x00": 1},
    "a JSON array": lambda m: [purchase(m)],
    "a JSON string": lambda m: "POS-1",
    "JSON null": lambda m: None,
    "an empty object": lambda m: {},
}


@pytest.mark.parametrize("make_body", INVALID_PURCHASES.values(), ids=INVALID_PURCHASES.keys())
def test_it_answers_400_to_an_invalid_purchase(pos, shopper, make_body):
    body = make_body(shopper)
    response = pos.post("/purchases", raw=json.dumps(body))

    assert response.status_code == 400, response.content
    error = response.json()
    assert error["code"] == "validation_error" and error["message"]
    assert_nothing_written(shopper)


RAW_BODIES = {
    "malformed JSON": '{"external_ref": "POS-1", "amount": ',
    "a trailing comma": '{"external_ref": "POS-1",}',
    "single quotes": "{'external_ref': 'POS-1'}",
    "a lone surrogate": '{"external_ref": "POS-\\ud800", "member_no": "x", "amount": "1.00"}',
    "deep nesting": "[" * 100_000 + "]" * 100_000,
}


@pytest.mark.parametrize("raw", RAW_BODIES.values(), ids=RAW_BODIES.keys())
def test_it_answers_400_to_a_body_it_cannot_read(pos, shopper, raw):
    response = pos.post("/purchases", raw=raw)

    assert response.status_code == 400
    assert response.json()["code"] in {"invalid_json", "validation_error"}
    assert response.json()["message"]
    assert_nothing_written(shopper)


def test_it_answers_400_to_bytes_that_are_not_utf8(pos, shopper):
    response = pos.client.post(
        f"{API}/purchases",
        data=b'{"external_ref": "\xff\xfe"}',
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {pos.key}",
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_json"


def test_it_answers_400_to_a_form_post(pos, shopper):
    response = pos.client.post(
        f"{API}/purchases",
        {"external_ref": "POS-1", "member_no": shopper.member_no, "amount": "38.50"},
        HTTP_AUTHORIZATION=f"Bearer {pos.key}",
    )

    assert response.status_code == 400
    assert_nothing_written(shopper)


def test_a_purchase_dated_in_year_one_does_not_lock_the_member_out(pos, shopper):
    # Stored, such a date reads back from PostgreSQL as a BC timestamp that psycopg
    # cannot load: every later lookup of the member was a 500.
    pos.buy(shopper, "POS-1", "10.00", occurred_at="0001-01-01T00:00:00")

    assert pos.get("/members", {"member_no": shopper.member_no}).status_code == 200
    assert pos.buy(shopper, "POS-2", "10.00").status_code == 201


@pytest.mark.parametrize("params", [{"member_no": "\x00"}, {"phone": "138\x0000138000"}])
def test_it_answers_400_to_nul_in_a_lookup(pos, shopper, params):
    assert pos.get("/members", params).status_code == 400


def test_it_answers_404_to_nul_in_a_refund_path(pos, shopper):
    assert pos.refund("POS%001").status_code == 404


def test_it_answers_400_to_nul_in_a_registration(pos):
    response = pos.post("/members", {"phone": "13912345678", "name": "韩\x00梅梅"})

    assert response.status_code == 400
    assert pos.get("/members", {"phone": "13912345678"}).status_code == 404


def test_it_answers_404_to_a_purchase_for_an_unknown_member(pos, shopper):
    response = pos.post("/purchases", {"external_ref": "P", "member_no": "999", "amount": "1.00"})

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert not Purchase.objects.exists()


# --- 422: business rules ---------------------------------------------------------


def test_it_answers_422_when_the_member_has_not_enough_points(pos, shopper, assert_ledger_ok):
    points_award(member=shopper, points=100, key="gift-1", reason="welcome gift")

    response = pos.buy(shopper, "POS-1", "100.00", points_to_use=101, lang="en")

    assert response.status_code == 422
    assert response.json() == {
        "code": "not_enough_points",
        "message": "Not enough points: 100 available, 101 needed.",
        "points_balance": 100,
    }
    assert not Purchase.objects.exists()
    assert card_of(shopper).points_balance == 100
    assert_ledger_ok()


def test_it_answers_422_when_points_would_pay_more_than_the_cap(pos, shopper, assert_ledger_ok):
    points_award(member=shopper, points=10_000, key="gift-1", reason="welcome gift")

    response = pos.buy(shopper, "POS-1", "10.00", points_to_use=501, lang="en")

    assert response.status_code == 422
    assert response.json() == {
        "code": "points_over_cap",
        "message": "At most 500 points can pay this bill (50% of it).",
        "max_points": 500,
    }
    assert not Purchase.objects.exists()
    assert PointsEntry.objects.get().remaining == 10_000
    assert_ledger_ok()


def test_it_answers_422_when_a_required_tier_discount_does_not_apply(pos, shopper):
    response = pos.buy(shopper, "POS-1", "100.00", apply_tier_discount=True, lang="en")

    assert response.status_code == 422
    assert response.json() == {
        "code": "tier_discount_not_applicable",
        "message": "The tier discount does not apply to this member or category.",
    }
    assert_nothing_written(shopper)


def test_it_answers_422_for_a_required_tier_discount_on_an_excluded_category(
    pos, gold_shopper, conf
):
    conf.discount_excluded_categories = "烟酒"
    conf.save()

    response = pos.buy(gold_shopper, "POS-1", "100.00", category="烟酒", apply_tier_discount=True)

    assert response.status_code == 422
    assert response.json()["code"] == "tier_discount_not_applicable"
    assert not Purchase.objects.exists()


# --- the caller's language ----------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "message"),
    [
        (None, "“abc”不是电话号码。"),  # the site's language when the till says nothing
        ("zh-CN", "“abc”不是电话号码。"),
        ("zh-Hans", "“abc”不是电话号码。"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "“abc”不是电话号码。"),
        ("en", "“abc” is not a phone number."),
        ("en-US,en;q=0.9", "“abc” is not a phone number."),
    ],
)
def test_it_answers_in_the_language_of_the_request(pos, shopper, lang, message):
    body = {"external_ref": "POS-1", "phone": "abc", "amount": "10.00"}
    response = pos.post("/purchases", body, lang=lang)

    assert response.status_code == 400
    assert response.json()["message"] == message
    assert response.json()["errors"] == {"__all__": [message]}


def _purchase_body(member, **fields):
    return {"external_ref": "POS-1", "member_no": member.member_no, "amount": "10.00", **fields}


# (the request, its status, the English msgid, its parameters)
LANGUAGE_CASES = {
    "400 schema": (
        lambda pos, m, lang: pos.post("/purchases", _purchase_body(m, amount=10.5), lang=lang),
        400,
        "The request is not valid.",
        {},
    ),
    "400 amount": (
        lambda pos, m, lang: pos.post("/purchases", _purchase_body(m, amount="10.005"), lang=lang),
        400,
        "Amounts have at most two decimal places (fen).",
        {},
    ),
    "400 malformed JSON": (
        lambda pos, m, lang: pos.post("/purchases", raw="{", lang=lang),
        400,
        "The request body is not valid JSON.",
        {},
    ),
    "400 NUL": (
        lambda pos, m, lang: pos.post("/purchases", _purchase_body(m, category="\x00"), lang=lang),
        400,
        "Text must not contain NUL or unpaired surrogate characters.",
        {},
    ),
    "400 future": (
        lambda pos, m, lang: pos.post(
            "/purchases", _purchase_body(m, occurred_at="2027-01-01T00:00:00"), lang=lang
        ),
        400,
        "A purchase cannot be in the future.",
        {},
    ),
    "401": (
        lambda pos, m, lang: pos.get(
            "/members", {"member_no": m.member_no}, key="hy_wrong", lang=lang
        ),
        401,
        "A valid API key is required (Authorization: Bearer …).",
        {},
    ),
    "404": (
        lambda pos, m, lang: pos.get("/members", {"member_no": "nobody"}, lang=lang),
        404,
        "No member with that phone or number.",
        {},
    ),
    "422": (
        lambda pos, m, lang: pos.post("/purchases", _purchase_body(m, points_to_use=5), lang=lang),
        422,
        "Not enough points: %(balance)d available, %(points)d needed.",
        {"balance": 0, "points": 5},
    ),
}


@pytest.mark.parametrize(
    ("request_", "status", "msgid", "params"), LANGUAGE_CASES.values(), ids=LANGUAGE_CASES.keys()
)
def test_every_kind_of_error_speaks_the_callers_language(
    pos, shopper, request_, status, msgid, params
):
    english, chinese = request_(pos, shopper, "en"), request_(pos, shopper, "zh-CN")

    assert (english.status_code, chinese.status_code) == (status, status)
    assert english.json()["message"] == (msgid % params if params else msgid)
    assert chinese.json()["message"] == in_chinese(msgid, **params)
    assert english.json()["code"] == chinese.json()["code"]


def test_the_409_and_403_speak_the_callers_language(pos, other_pos, shopper):
    pos.buy(shopper, "POS-1", "10.00")
    conflict_en = pos.buy(shopper, "POS-1", "11.00", lang="en").json()["message"]
    conflict_zh = pos.buy(shopper, "POS-1", "11.00", lang="zh-CN").json()["message"]
    forbidden_en = other_pos.refund("POS-1", lang="en").json()["message"]
    forbidden_zh = other_pos.refund("POS-1", lang="zh-CN").json()["message"]

    msgid = "Reference %(ref)s was already used for a different purchase."
    assert conflict_en == msgid % {"ref": "POS-1"}
    assert conflict_zh == in_chinese(msgid, ref="POS-1")
    assert forbidden_en == "This purchase was recorded by another store."
    assert forbidden_zh == in_chinese("This purchase was recorded by another store.")


def test_error_responses_are_json(pos, shopper):
    for response in [
        pos.post("/purchases", raw="{"),
        pos.get("/members", key=None),
        pos.get("/members", {"member_no": "nobody"}),
        pos.buy(shopper, "POS-1", "1.00", points_to_use=1),
    ]:
        assert response["Content-Type"] == "application/json; charset=utf-8"
        assert set(response.json()) >= {"code", "message"}
