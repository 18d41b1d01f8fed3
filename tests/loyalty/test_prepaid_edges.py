"""Edges of prepaid money found in review: a deleted account takes none, a card found
expired at a use is told, a paid WeChat top-up without a member is logged as an error,
the reports' ranges and the import's amounts never 500."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from campaigns.models import Message
from loyalty.count_cards import CountCardNotUsable, count_card_sell, count_card_use
from loyalty.models import CountCardTemplate
from loyalty.stored_value import MemberNotActive, stored_value_top_up
from members.models import Member
from members.services import member_erase
from tests.loyalty.staff_screens.helpers import english

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.loyalty.api_fixtures"]
SH = ZoneInfo("Asia/Shanghai")
D = Decimal


def test_a_deleted_account_takes_no_stored_value_nor_count_card(member, clerk):
    CountCardTemplate.objects.create(code="c", name="次卡", uses=2, price=D("10"))
    member_erase(member=member)
    with pytest.raises(MemberNotActive):
        stored_value_top_up(member=member, amount=D("10"), external_ref="late")
    with pytest.raises(MemberNotActive):
        count_card_sell(member=member, template_code="c", external_ref="late")
    # At the counter (an old card scanned): a message, nothing credited, no 500.
    client = english(clerk)
    url = reverse("staff:stored_value", args=[member.member_no])
    page = client.get(url)
    assert page.status_code == 200  # staff still find the record, anonymised
    token = page.content.decode().split('name="token" value="')[1].split('"')[0]
    refused = client.post(url, {"amount": "10", "tender": "cash", "token": token})
    assert refused.status_code == 200 and "not active" in refused.content.decode()
    assert Member.objects.get(pk=member.pk).card.stored_value == 0


def test_a_card_found_expired_at_a_use_is_told(member):
    CountCardTemplate.objects.create(code="m", name="月卡", uses=4, price=D("40"), valid_months=1)
    with time_machine.travel(dt.datetime(2026, 3, 10, 12, tzinfo=SH), tick=False):
        card, _ = count_card_sell(member=member, template_code="m", external_ref="s")
    before_the_job = dt.datetime(2026, 4, 11, 0, 5, tzinfo=SH)  # the job runs at 00:10
    with time_machine.travel(before_the_job, tick=False), pytest.raises(CountCardNotUsable):
        count_card_use(member=member, card_id=card.pk, key="u")
    assert Message.objects.filter(member=member, dedupe_key__startswith="count_card_expired:")


@pytest.mark.parametrize("to", ["0001-01-01", "1999-12-31", "9999-12-31"])
def test_the_reports_take_any_range(owner, to):
    client = english(owner)
    assert client.get(reverse("dashboard:stored_value"), {"to": to}).status_code == 200
    home = client.get(reverse("dashboard:home"), {"to": to, "from": "0001-01-01"})
    assert home.status_code == 200


def test_an_absurd_amount_is_a_row_error_not_a_failed_import():
    from loyalty.imports.validation import Problem, money

    for value in ("1e30", "9" * 40, "1E+26"):
        with pytest.raises(Problem):
            money(value)


@pytest.mark.django_db(transaction=True)
def test_the_delete_page_reads_the_holds_outside_a_test_transaction(member):
    """As a real request does (autocommit): the hold locks the card in its own transaction."""
    from django.test import Client

    from tests.centre import sign_in

    stored_value_top_up(member=member, amount=D("30"), external_ref="t")
    page = sign_in(Client(headers={"Accept-Language": "en"}), member).get("/me/privacy/delete/")
    assert page.status_code == 200 and 'id="erase-holds"' in page.content.decode()
