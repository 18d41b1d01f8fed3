import pytest
from django.test import Client

from members import sms


@pytest.fixture(autouse=True)
def sms_outbox():
    """The in-memory SMS backend's outbox, empty for each test."""
    sms.outbox.clear()
    yield sms.outbox
    sms.outbox.clear()


@pytest.fixture
def web(db):
    """A browser that asks for English: assertions on texts hold whatever the catalog says."""
    return Client(headers={"Accept-Language": "en"})
