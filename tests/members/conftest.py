import pytest

from members import sms


@pytest.fixture(autouse=True)
def sms_outbox():
    """The in-memory SMS backend's outbox, empty for each test."""
    sms.outbox.clear()
    yield sms.outbox
    sms.outbox.clear()
