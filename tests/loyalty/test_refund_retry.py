"""A refund retried while the first was still uncommitted: the first refund's answer.

The window is opened by hiding the refund from the lookups made before the locks (as
a concurrent transaction's uncommitted refund is hidden on PostgreSQL), so this runs
the same on SQLite; test_concurrency.py sends the real retries at once.
"""

from decimal import Decimal

import pytest

from loyalty import purchases
from loyalty.errors import ReferenceConflict
from loyalty.models import Purchase, Refund
from loyalty.purchases import purchase_record, purchase_refund
from tests.factories import MemberFactory
from tests.loyalty.conftest import card_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def unseen_by(monkeypatch):
    """unseen_by(n): the first n refund lookups by key find nothing."""

    def hide(n):
        real, calls = purchases._refund_twin, []

        def twin(key, purchase):
            calls.append(key)
            return None if len(calls) <= n else real(key, purchase)

        monkeypatch.setattr(purchases, "_refund_twin", twin)
        return calls

    return hide


@pytest.mark.parametrize("amount", [None, "30"])
def test_a_retry_that_missed_the_first_refund_gets_it_under_the_lock(
    member, unseen_by, assert_ledger_ok, amount
):
    purchase, _ = purchase_record(member=member, amount="100", external_ref="P")
    first, _ = purchase_refund(purchase=purchase, amount=amount, key="R1")
    card_before = card_of(member).points_balance
    unseen_by(1)

    again, created = purchase_refund(purchase=purchase, amount=amount, key="R1")

    # A full refund's retry once got "already refunded"; a partial one a 500.
    assert (again, created) == (first, False)
    assert Refund.objects.count() == 1
    assert card_of(member).points_balance == card_before
    assert_ledger_ok()


def test_a_key_taken_meanwhile_by_another_members_refund_is_a_conflict(
    member, store, unseen_by, assert_ledger_ok
):
    # Another member's card lock does not make this one wait: the check under the locks
    # misses that refund too, and the unique key refuses the second.
    other, _ = purchase_record(member=MemberFactory(store=store), amount="50", external_ref="O")
    purchase_refund(purchase=other, key="K")
    mine, _ = purchase_record(member=member, amount="100", external_ref="P")
    calls = unseen_by(2)

    with pytest.raises(ReferenceConflict):
        purchase_refund(purchase=mine, key="K")

    assert len(calls) == 3  # before the lock, under it, after the IntegrityError
    assert Refund.objects.get().purchase == other
    mine.refresh_from_db()
    assert (mine.status, mine.refunded_amount) == (Purchase.Status.COMPLETED, Decimal("0.00"))
    assert card_of(member).points_balance == 100
    assert_ledger_ok()
