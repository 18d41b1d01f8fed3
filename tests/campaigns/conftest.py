import pytest

from tests.factories import MemberFactory


@pytest.fixture
def member(store):
    return MemberFactory(phone="13800138000", name="李雷", store=store)
