"""The real wechatpy client against the fake WeChat server on a free port."""

import hashlib
import secrets
import time
from pathlib import Path
from string import Template

import pytest
from django.core.cache import cache
from django.test import Client

from members import sms
from wechat.fake_server import FakeWeChat

FIXTURES = Path(__file__).parent / "fixtures"
APP_ID, SECRET, TOKEN = "wxfake0000000001", "fake-secret", "fake-token"
PAY_KEY, MCH_ID = "fake-pay-key-0123456789abcdef012", "1900000109"
OPENID = "oHuiyuanTestOpenid0000000001"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters


@pytest.fixture(scope="session")
def _fake_server():
    fake = FakeWeChat(app_id=APP_ID, secret=SECRET)
    server = fake.serve(port=0)
    yield fake, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def fake(_fake_server, settings):
    """A fresh fake WeChat (nothing received, no failures) that our client points at."""
    fake, base = _fake_server
    fake.reset()
    settings.WECHAT_API_BASE = base
    settings.WECHAT_APP_ID, settings.WECHAT_APP_SECRET = APP_ID, SECRET
    settings.WECHAT_TOKEN, settings.WECHAT_AES_KEY = TOKEN, ""
    settings.WECHAT_PAY_KEY, settings.WECHAT_MCH_ID = PAY_KEY, MCH_ID
    settings.WECHAT_TIMEOUT = 1.0
    settings.WECHAT_OAUTH_ANY_BROWSER = False
    cache.delete_many([f"wechat:{APP_ID}_access_token", f"wechat:{APP_ID}:token-lock"])
    yield fake
    cache.delete_many([f"wechat:{APP_ID}_access_token", f"wechat:{APP_ID}:token-lock"])


@pytest.fixture(autouse=True)
def sms_outbox():
    sms.outbox.clear()
    yield sms.outbox
    sms.outbox.clear()


@pytest.fixture
def web(db):
    return Client(headers={"Accept-Language": "en"})


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
