"""The real wechatpy client against the fake WeChat server on a free port."""

import hashlib
import secrets
import time
from pathlib import Path
from string import Template

import pytest
from django.test import Client

from members import sms
from tests.fake_wechat import (  # noqa: F401 - the tests import them from here
    AES_KEY,
    APP_ID,
    MCH_ID,
    MP_APP_ID,
    MP_SECRET,
    OPENID,
    PAY_KEY,
    SECRET,
    TOKEN,
)
from wechat.fake_server.wxa import login_code, phone_code

FIXTURES = Path(__file__).parent / "fixtures"
# The fake server's fixtures (`fake`) come from tests/fake_wechat.py (the root conftest).


@pytest.fixture(autouse=True)
def sms_outbox():
    sms.outbox.clear()
    yield sms.outbox
    sms.outbox.clear()


@pytest.fixture
def web(db):
    return Client(headers={"Accept-Language": "en"})


class MiniProgram:
    """The mini-program calling /api/mp/v1/ with the token of its last login."""

    def __init__(self, client: Client):
        self.client, self.token = client, ""

    def login(self, openid: str = "oMpUser0000000000000000001", unionid: str = ""):
        response = self.post("/login", {"code": login_code(openid, unionid)}, auth=False)
        if response.status_code == 200:
            self.token = response.json()["token"]
        return response

    def register(self, phone: str, **fields):
        return self.post("/register", {"phone_code": phone_code(phone), **fields})

    def headers(self, auth: bool) -> dict:
        return {"Authorization": f"Bearer {self.token}"} if auth and self.token else {}

    def get(self, path: str, *, auth: bool = True, **query):
        return self.client.get(f"/api/mp/v1{path}", query, headers=self.headers(auth))

    def post(self, path: str, body: dict | None = None, *, auth: bool = True):
        return self.client.post(
            f"/api/mp/v1{path}",
            body if body is not None else {},
            content_type="application/json",
            headers=self.headers(auth),
        )


@pytest.fixture
def mp(fake, db):
    """The mini-program (a test client speaking English), its fake WeChat in `mp.fake`."""
    program = MiniProgram(Client(headers={"Accept-Language": "en"}))
    program.fake = fake
    return program


def fixture_xml(name: str, **values) -> str:
    """A recorded payload from tests/wechat/fixtures with $placeholders filled in."""
    return Template((FIXTURES / name).read_text(encoding="utf-8")).substitute(values)


def signed_query(token: str = TOKEN, *, timestamp: int | None = None, nonce: str | None = None):
    """A fresh signed query, with a new nonce each time as WeChat sends (one signed URL
    carries one message: the same URL with another body is refused)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    nonce = str(secrets.randbelow(10**10)) if nonce is None else nonce
    parts = sorted([token, str(timestamp), nonce])
    signature = hashlib.sha1("".join(parts).encode()).hexdigest()
    return {"signature": signature, "timestamp": str(timestamp), "nonce": nonce}
