"""The count card (次卡) jobs through the job runner, at frozen Shanghai times: the
notice N days before the last day (once per card), the expiry after it (once), and
the member told of both."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command

from campaigns.models import Message
from loyalty.count_cards import count_card_sell
from loyalty.jobs import run_job
from loyalty.ledger import ledger_problems
from loyalty.models import CountCard, CountCardEntry, CountCardTemplate

pytestmark = pytest.mark.django_db
SH = ZoneInfo("Asia/Shanghai")


def at(*args):
    return dt.datetime(*args, tzinfo=SH)


@pytest.fixture
def card(member):
    CountCardTemplate.objects.create(code="m1", name="月卡 4 次", uses=4, price=Decimal("100"),
                                     valid_months=1)  # fmt: skip
    with time_machine.travel(at(2026, 3, 10, 15, 0), tick=False):
        sold, _ = count_card_sell(member=member, template_code="m1", external_ref="s1")
    return sold


def notices(member, prefix):
    return Message.objects.filter(member=member, dedupe_key__startswith=prefix)


def test_the_notice_comes_once_within_the_notice_days(member, card):
    assert card.last_day() == dt.date(2026, 4, 10)
    with time_machine.travel(at(2026, 4, 1, 10, 5), tick=False):  # 9 days before: not yet
        assert run_job("notify_expiring_count_cards").counts == {"notices": 0}
    for day in (3, 4):  # 7 and 6 days before: told on the first, not again
        with time_machine.travel(at(2026, 4, day, 10, 5), tick=False):
            run_job("notify_expiring_count_cards")
    told = notices(member, "count_card_expiring:")
    assert {m.channel for m in told} and len(told) == len({m.channel for m in told})
    assert "2026-04-10" in told[0].body and "4" in told[0].body


def test_the_expiry_closes_the_card_after_its_last_day_once(member, card):
    with time_machine.travel(at(2026, 4, 10, 23, 59), tick=False):
        assert run_job("expire_count_cards").counts == {"cards": 0}
    with time_machine.travel(at(2026, 4, 11, 0, 10), tick=False):
        assert run_job("expire_count_cards").counts == {"cards": 1}
        assert run_job("expire_count_cards").counts == {"cards": 0}  # twice: nothing more
    card.refresh_from_db()
    assert card.status == CountCard.Status.EXPIRED and card.uses_left == 0
    assert CountCardEntry.objects.get(kind="expire").delta == -4
    assert notices(member, "count_card_expired:").exists()
    assert ledger_problems() == []


def test_the_command_runs_them_too(member, card):
    with time_machine.travel(at(2026, 4, 11, 0, 10), tick=False):
        call_command("run_job", "expire_count_cards")
    card.refresh_from_db()
    assert card.status == CountCard.Status.EXPIRED
