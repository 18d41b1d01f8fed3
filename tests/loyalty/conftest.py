import pytest

from loyalty.ledger import ledger_problems
from loyalty.models import Card, LoyaltySettings, Tier
from tests.factories import MemberFactory


@pytest.fixture
def conf(db):
    return LoyaltySettings.current()


@pytest.fixture
def tiers(db):
    """The four default tiers from the data migration, by name."""
    return {t.name: t for t in Tier.objects.order_by("level")}


@pytest.fixture
def member(store):
    return MemberFactory(phone="13800138000", name="李雷", store=store)


def card_of(member) -> Card:
    return Card.objects.select_related("tier").get(pk=member.pk)


@pytest.fixture
def assert_ledger_ok():
    def check():
        problems = ledger_problems()
        assert not problems, problems

    return check
