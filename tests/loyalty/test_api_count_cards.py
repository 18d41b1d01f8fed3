"""Count cards (次卡) through the POS API: selling (cash or stored value, idempotent on
external_ref), using one use (idempotent), the member's cards in GET /members, and the
business errors as 4xx with their codes."""

from decimal import Decimal

import pytest

from loyalty.ledger import ledger_problems
from loyalty.models import Card, CountCardTemplate
from loyalty.stored_value import stored_value_top_up
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.loyalty.api_fixtures"]
D = Decimal


@pytest.fixture
def wash(db):
    return CountCardTemplate.objects.create(
        code="wash-10", name="10 次洗剪吹", uses=10, price=D("300"), valid_months=12,
        services="洗剪吹、洗发",
    )  # fmt: skip


@pytest.fixture
def buyer(store):
    return MemberFactory(phone="13800138000", name="李雷", store=store)


def sell(pos, member, ref="CC-1", **fields):
    body = {"member_no": member.member_no, "template": "wash-10", "external_ref": ref, **fields}
    return pos.post("/count-cards", body)


def test_a_sale_answers_201_then_200_with_the_same_body(pos, buyer, wash):
    first = sell(pos, buyer)
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["price"] == "300.00" and body["count_card"]["uses_left"] == 10
    assert body["count_card"]["status"] == "active" and body["count_card"]["last_day"]
    again = sell(pos, buyer)
    assert again.status_code == 200 and again.json() == body
    listed = pos.get("/members", {"member_no": buyer.member_no}).json()["count_cards"]
    assert [c["id"] for c in listed] == [body["count_card"]["id"]]


def test_paid_from_stored_value(pos, buyer, wash):
    stored_value_top_up(member=buyer, amount=D("400"), external_ref="t")
    answer = sell(pos, buyer, tender="stored_value")
    assert answer.status_code == 201
    assert answer.json()["stored_value"]["balance"] == "100.00"
    assert Card.objects.get(pk=buyer.pk).stored_value == D("100.00")
    short = sell(pos, buyer, ref="CC-2", tender="stored_value")
    assert short.status_code == 422 and short.json()["code"] == "not_enough_stored_value"
    assert ledger_problems() == []


def test_uses_count_down_once_per_reference(pos, buyer, wash):
    card_id = sell(pos, buyer).json()["count_card"]["id"]
    body = {"member_no": buyer.member_no, "card_id": card_id, "external_ref": "U-1",
            "service": "洗剪吹"}  # fmt: skip
    first = pos.post("/count-cards/uses", body)
    assert first.status_code == 201 and first.json()["count_card"]["uses_left"] == 9
    replay = pos.post("/count-cards/uses", body)
    assert replay.status_code == 200 and replay.json()["count_card"]["uses_left"] == 9
    other = pos.post("/count-cards/uses", {**body, "external_ref": "U-2", "service": "染发"})
    assert other.status_code == 422 and other.json()["code"] == "count_card_not_usable"


def test_another_members_card_is_404_and_an_unknown_template_422(pos, buyer, wash, store):
    card_id = sell(pos, buyer).json()["count_card"]["id"]
    stranger = MemberFactory(phone="13900139000", store=store)
    body = {"member_no": stranger.member_no, "card_id": card_id, "external_ref": "U-9"}
    answer = pos.post("/count-cards/uses", body)
    assert answer.status_code in (404, 422) and answer.json()["code"] == "count_card_not_found"
    unknown = sell(pos, buyer, ref="CC-3", template="nope")
    assert unknown.status_code == 422
    assert unknown.json()["code"] == "count_card_template_not_available"


def test_bad_input_is_400_not_500(pos, buyer, wash):
    assert sell(pos, buyer, tender="bitcoin").status_code == 400
    assert pos.post("/count-cards/uses", {"member_no": buyer.member_no}).status_code == 400
    assert sell(pos, buyer, ref="x" * 65).status_code == 400
