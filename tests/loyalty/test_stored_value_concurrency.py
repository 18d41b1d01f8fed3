"""Stored value under many tills at once (real connections, one per thread): one balance
is never overdrawn and one top-up is credited once. On SQLite the IMMEDIATE transactions
queue; on PostgreSQL the card's row lock does (CI runs both)."""

from decimal import Decimal

import pytest

from loyalty.errors import ReferenceConflict
from loyalty.ledger import ledger_problems
from loyalty.models import LoyaltySettings, StoredValueEntry
from loyalty.purchases import purchase_record
from loyalty.stored_value import NotEnoughStoredValue, stored_value_top_up
from tests.factories import MemberFactory
from tests.loyalty.conftest import card_of
from tests.loyalty.test_concurrency import CLIENTS, run_at_once

pytestmark = pytest.mark.django_db(transaction=True)


def test_sixteen_spends_of_one_balance_never_overdraw_it(store):
    LoyaltySettings.objects.filter(pk=1).update(stored_value_confirm_limit=10_000)
    member = MemberFactory(store=store)
    stored_value_top_up(member=member, amount="1000.00", external_ref="FUND", store=store)
    price = Decimal("150.00")

    def spend(i):
        return purchase_record(
            member=member, amount=price, external_ref=f"ORD-{i}", store=store,
            stored_value_to_use=price, apply_tier_discount=False,
        )  # fmt: skip

    results = run_at_once(spend)
    won = [r for r in results if isinstance(r, tuple)]
    lost = [r for r in results if isinstance(r, NotEnoughStoredValue)]
    assert len(won) == 1000 // 150 and len(lost) == CLIENTS - len(won), results
    assert card_of(member).stored_value == Decimal("1000.00") - price * len(won)
    assert StoredValueEntry.objects.filter(kind="spend").count() == len(won)
    assert not ledger_problems()


def test_sixteen_replays_of_one_top_up_credit_it_once(store):
    member = MemberFactory(store=store)

    def replay(i):
        return stored_value_top_up(
            member=member, amount="200.00", external_ref="WX-4200001", tender="wechat_pay",
            store=store,
        )  # fmt: skip

    results = run_at_once(replay)
    assert all(isinstance(r, tuple) for r in results), results
    assert sum(1 for _entry, created in results if created) == 1
    assert len({entry.pk for entry, _created in results}) == 1
    assert card_of(member).stored_value == Decimal("200.00")
    assert not ledger_problems()


def test_one_reference_for_two_members_at_once_credits_one(store):
    members = [MemberFactory(store=store) for _ in range(2)]

    def race(i):
        return stored_value_top_up(
            member=members[i % 2], amount="50.00", external_ref="SAME", store=store
        )

    results = run_at_once(race, n=8)
    conflicts = [r for r in results if isinstance(r, ReferenceConflict)]
    assert len(conflicts) + sum(1 for r in results if isinstance(r, tuple)) == 8, results
    assert StoredValueEntry.objects.count() == 1
    assert sum(card_of(m).stored_value for m in members) == Decimal("50.00")
    assert not ledger_problems()
