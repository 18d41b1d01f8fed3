"""Fixtures of the staff-screen tests; `member` (of `store`) comes from tests/loyalty."""

import pytest

from members.models import Role
from members.services import staff_create
from tests.conftest import PASSWORD
from tests.factories import MemberFactory
from tests.loyalty.staff_screens.helpers import english


@pytest.fixture
def theirs(other_store):
    """A member of another store: clerks and managers of `store` must never reach them."""
    return MemberFactory(phone="13900139000", name="韩梅梅", store=other_store)


@pytest.fixture
def franchise(other_store):
    """`other_store` serves its own members only: out of the chain's reach (the chain
    serves every member at every store: tests/loyalty/test_chain_counter.py)."""
    other_store.serves_own_members_only = True
    other_store.save()
    return other_store


@pytest.fixture
def other_clerk(other_store):
    return staff_create(username="clerk2", password=PASSWORD, role=Role.CLERK, store=other_store)


@pytest.fixture
def as_role(request, owner, manager, clerk):
    """as_role("clerk") -> an English client logged in with that role."""
    users = {"owner": owner, "manager": manager, "clerk": clerk}
    return lambda role: english(users[role])
