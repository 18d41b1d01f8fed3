"""Top-up offers (充值优惠) in time and place, at frozen Shanghai times through the API:
an offer runs from its first to its last day inclusive, only in its stores, and only
for top-ups of at least its amount; the counter and the member centre list the same."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine

from loyalty.models import Card, TopUpOffer
from loyalty.stored_value import offers_running

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.loyalty.api_fixtures"]
SH = ZoneInfo("Asia/Shanghai")
D = Decimal


@pytest.fixture
def double_eleven(store):
    offer = TopUpOffer.objects.create(
        code="1111", name="双十一 充300送60", pay_amount=D("300"), bonus=D("60"),
        starts_on=dt.date(2026, 11, 11), ends_on=dt.date(2026, 11, 13),
    )  # fmt: skip
    offer.stores.add(store)
    return offer


def top_up(pos, member, ref, amount="300.00", offer="1111"):
    body = {"member_no": member.member_no, "amount": amount, "external_ref": ref, "offer": offer}
    return pos.post("/stored-value/top-ups", body)


@pytest.mark.parametrize(
    ("moment", "runs"),
    [
        (dt.datetime(2026, 11, 10, 23, 59, 59, tzinfo=SH), False),  # the evening before
        (dt.datetime(2026, 11, 11, 0, 0, 0, tzinfo=SH), True),  # from midnight Shanghai
        (dt.datetime(2026, 11, 13, 23, 59, 59, tzinfo=SH), True),  # its last day, inclusive
        (dt.datetime(2026, 11, 14, 0, 0, 0, tzinfo=SH), False),
    ],
)
def test_an_offer_runs_on_its_shanghai_days(pos, shopper, double_eleven, store, moment, runs):
    with time_machine.travel(moment, tick=False):
        assert (double_eleven in offers_running(store=store)) is runs
        answer = top_up(pos, shopper, f"T-{moment:%d%H%M}")
    if runs:
        assert answer.status_code == 201 and answer.json()["bonus"] == "60.00"
        assert Card.objects.get(pk=shopper.pk).stored_value == D("360.00")
    else:
        assert answer.status_code == 422 and answer.json()["code"] == "offer_not_applicable"
        assert Card.objects.get(pk=shopper.pk).stored_value == 0  # nothing credited


def test_only_in_its_stores_and_from_its_amount(pos, other_pos, shopper, double_eleven):
    with time_machine.travel(dt.datetime(2026, 11, 12, 12, 0, tzinfo=SH), tick=False):
        elsewhere = top_up(other_pos, shopper, "T-1")
        assert elsewhere.status_code == 422 and elsewhere.json()["code"] == "offer_not_applicable"
        short = top_up(pos, shopper, "T-2", amount="299.99")
        assert short.status_code == 422 and short.json()["code"] == "offer_not_applicable"
        assert top_up(pos, shopper, "T-3", amount="500.00").json()["bonus"] == "60.00"
