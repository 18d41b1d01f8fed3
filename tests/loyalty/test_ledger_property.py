"""Random sequences of earn / spend / refund / expire / adjust never break the ledger."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty.errors import LoyaltyError
from loyalty.ledger import ledger_problems, points_adjust, points_expire_member, points_spend
from loyalty.purchases import purchase_record, purchase_refund
from tests.factories import MemberFactory
from tests.loyalty.conftest import card_of

amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("800"), places=2)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("buy"), amounts, st.just(0)),
        st.tuples(st.just("buy"), amounts, st.integers(1, 3000)),  # pays with points
        st.tuples(st.just("spend"), st.integers(1, 400)),
        st.tuples(
            st.just("refund"), st.integers(0, 20), st.sampled_from([None, "0.5", "0.25", "1"])
        ),
        st.tuples(st.just("adjust"), st.integers(-300, 300).filter(bool)),
        st.tuples(st.just("wait"), st.integers(1, 200)),  # days; lots expire after 12 months
    ),
    min_size=1,
    max_size=25,
)


@pytest.mark.django_db
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=operations)
def test_the_invariant_holds_after_every_step(ops, store, owner):
    member = MemberFactory(store=store)
    now = dt.datetime(2026, 1, 1, 10, tzinfo=dt.UTC)
    purchases = []
    for step, op in enumerate(ops):
        try:
            if op[0] == "buy":
                purchase, _ = purchase_record(
                    member=member,
                    amount=op[1],
                    points_to_use=op[2],
                    external_ref=f"{member.pk}-{step}",
                    occurred_at=now,
                    now=now,
                )
                purchases.append(purchase)
            elif op[0] == "spend":
                points_spend(
                    member=member, points=op[1], key=f"s-{member.pk}-{step}", reason="x", now=now
                )
            elif op[0] == "refund" and purchases:
                purchase = purchases[op[1] % len(purchases)]
                purchase.refresh_from_db()
                share = None if op[2] is None else Decimal(op[2]) * purchase.refundable_amount
                amount = None if share is None else share.quantize(Decimal("0.01"))
                purchase_refund(
                    purchase=purchase, amount=amount, key=f"r-{member.pk}-{step}", now=now
                )
            elif op[0] == "adjust":
                points_adjust(
                    member=member, delta=op[1], reason="校正", actor=owner, key=f"a-{step}", now=now
                )
            elif op[0] == "wait":
                now += dt.timedelta(days=op[1])
                points_expire_member(member=member, now=now)
        except (LoyaltyError, ValidationError):
            pass  # refused as a whole: the rule said no, nothing may have changed
        card = card_of(member)
        assert card.points_balance >= 0 and card.points_debt >= 0
        assert ledger_problems([member.pk]) == [], (step, op)
