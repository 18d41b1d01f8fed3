"""The rewards catalog under concurrency, real connections (one per thread): the last item
goes to one member, one balance is never spent twice, a pickup code is handed over once.

Runs on SQLite (IMMEDIATE transactions queue the writers) and on PostgreSQL (row locks
on the card, conditional UPDATEs on the stock and the status), which CI runs with
DATABASE_URL set.
"""

import pytest

from loyalty.benefits.rewards import (
    RedemptionNotPossible,
    RewardNotAvailable,
    redemption_cancel,
    redemption_fulfil,
    reward_redeem,
)
from loyalty.errors import NotEnoughPoints
from loyalty.models import PointsEntry, Redemption, Reward
from tests.factories import MemberFactory
from tests.loyalty.conftest import card_of
from tests.loyalty.test_concurrency import CLIENTS, run_at_once
from tests.loyalty.test_rewards import fund, reward, stock_taken

pytestmark = pytest.mark.django_db(transaction=True)


def test_sixteen_members_redeeming_the_last_item_one_gets_it(store, assert_ledger_ok):
    last = reward(stock=1)
    members = [MemberFactory(store=store) for _ in range(CLIENTS)]
    for m in members:
        fund(m, 1000)

    results = run_at_once(lambda i: reward_redeem(member=members[i], reward=last, key=f"k-{i}"))
    won = [r for r in results if isinstance(r, tuple)]
    lost = [r for r in results if isinstance(r, RewardNotAvailable)]
    assert (len(won), len(lost)) == (1, CLIENTS - 1), results
    assert stock_taken(last) == 1 and Redemption.objects.count() == 1
    winner = won[0][0].member
    balances = sorted(card_of(m).points_balance for m in members)
    assert balances == [700] + [1000] * (CLIENTS - 1)
    assert card_of(winner).points_balance == 700
    assert PointsEntry.objects.filter(kind="redeem").count() == 1
    assert_ledger_ok()


def test_sixteen_redemptions_of_one_member_never_overspend(store, assert_ledger_ok):
    member = MemberFactory(store=store)
    fund(member, 1000)
    cup = reward(points_cost=300)  # unlimited stock: only the balance limits

    results = run_at_once(lambda i: reward_redeem(member=member, reward=cup, key=f"k-{i}"))
    won = [r for r in results if isinstance(r, tuple)]
    lost = [r for r in results if isinstance(r, NotEnoughPoints)]
    assert (len(won), len(lost)) == (1000 // 300, CLIENTS - 1000 // 300), results
    assert card_of(member).points_balance == 1000 - 300 * len(won)
    assert stock_taken(cup) == len(won) == Redemption.objects.count()
    assert_ledger_ok()


def test_sixteen_redemptions_of_one_member_stop_at_the_per_member_limit(store, assert_ledger_ok):
    member = MemberFactory(store=store)
    fund(member, 10_000)
    cup = reward(points_cost=300, per_member_limit=2)

    results = run_at_once(lambda i: reward_redeem(member=member, reward=cup, key=f"k-{i}"))
    won = [r for r in results if isinstance(r, tuple)]
    assert len(won) == 2, results
    assert card_of(member).points_balance == 10_000 - 600
    assert_ledger_ok()


def test_sixteen_submits_of_one_form_make_one_redemption(store, assert_ledger_ok):
    member = MemberFactory(store=store)
    fund(member, 1000)
    cup = reward()

    results = run_at_once(lambda i: reward_redeem(member=member, reward=cup, key="form-1"))
    assert all(isinstance(r, tuple) for r in results), results
    assert sum(created for _redemption, created in results) == 1
    assert len({redemption.pk for redemption, _created in results}) == 1
    assert card_of(member).points_balance == 700 and stock_taken(cup) == 1
    assert_ledger_ok()


def test_sixteen_tills_handing_over_one_pickup_code_one_succeeds(store, clerk):
    member = MemberFactory(store=store)
    fund(member, 1000)
    redemption, _ = reward_redeem(member=member, reward=reward(), key="form-1")

    results = run_at_once(
        lambda i: redemption_fulfil(code=redemption.pickup_code, store=store, actor=clerk)
    )
    won = [r for r in results if isinstance(r, Redemption)]
    lost = [r for r in results if isinstance(r, RedemptionNotPossible)]
    assert (len(won), len(lost)) == (1, CLIENTS - 1), results


def test_sixteen_cancels_of_one_redemption_return_the_points_once(store, assert_ledger_ok):
    member = MemberFactory(store=store)
    fund(member, 1000)
    cup = reward(stock=1)
    redemption, _ = reward_redeem(member=member, reward=cup, key="form-1")

    results = run_at_once(
        lambda i: redemption_cancel(redemption=redemption, actor=None, reason="缺货")
    )
    won = [r for r in results if isinstance(r, Redemption)]
    lost = [r for r in results if isinstance(r, RedemptionNotPossible)]
    assert (len(won), len(lost)) == (1, CLIENTS - 1), results
    assert card_of(member).points_balance == 1000
    assert Reward.objects.get(pk=cup.pk).redeemed_count == 0
    assert_ledger_ok()


def test_a_cancel_racing_a_pickup_one_wins(store, clerk, assert_ledger_ok):
    member = MemberFactory(store=store)
    fund(member, 1000)
    redemption, _ = reward_redeem(member=member, reward=reward(stock=1), key="form-1")

    def either(i):
        if i % 2:
            return redemption_cancel(redemption=redemption, actor=clerk, reason="缺货")
        return redemption_fulfil(code=redemption.pickup_code, store=store, actor=clerk)

    results = run_at_once(either)
    won = [r for r in results if isinstance(r, Redemption)]
    assert len(won) == 1, results
    redemption.refresh_from_db()
    returned = 1000 if redemption.status == Redemption.Status.CANCELLED else 700
    assert card_of(member).points_balance == returned
    assert_ledger_ok()
