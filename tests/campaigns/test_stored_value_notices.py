"""Notices of stored value (储值): a top-up, a cash-out and a purchase paid from it each
reach the member's outbox once, in Chinese, with the balance after."""

from decimal import Decimal

import pytest

from campaigns.models import Message
from loyalty.models import TopUpOffer
from loyalty.purchases import purchase_record
from loyalty.stored_value import stored_value_cash_out, stored_value_top_up

pytestmark = pytest.mark.django_db
D = Decimal


def notices(member):
    return list(
        Message.objects.filter(member=member, event=Message.Event.STORED_VALUE).order_by("id")
    )


def test_a_top_up_is_told_once_with_the_bonus_and_balance(member):
    TopUpOffer.objects.create(code="o", name="充100送10", pay_amount=D("100"), bonus=D("10"))
    for _ in range(2):  # a replay tells nothing more
        stored_value_top_up(member=member, amount=D("100"), external_ref="t1", offer_code="o")
    told = notices(member)
    assert told and len(told) == len({m.channel for m in told})  # once per channel
    body = told[0].body
    assert "100.00" in body and "10.00" in body and "110.00" in body
    assert "储值" in told[0].title  # the house language, whatever the request's


def test_a_purchase_paid_from_stored_value_says_what_it_took(member):
    stored_value_top_up(member=member, amount=D("100"), external_ref="t1")
    purchase_record(member=member, amount=D("30"), external_ref="p1", stored_value_to_use=D("30"))
    spent = notices(member)[-1]
    assert "purchase:" in spent.dedupe_key
    assert "30.00" in spent.body and "70.00" in spent.body
    # one notice for the purchase: not a second "points received" beside it
    assert not Message.objects.filter(member=member, event=Message.Event.POINTS_EARNED).exists()


def test_a_cash_out_is_told(member, owner):
    stored_value_top_up(member=member, amount=D("50"), external_ref="t1")
    stored_value_cash_out(member=member, actor=owner, reason="退卡")
    told = notices(member)[-1]
    assert "50.00" in told.body and "0.00" in told.body
