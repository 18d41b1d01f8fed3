"""The fake WeChat server on a free port, shared by the WeChat tests (tests/wechat/) and
the fault tests (tests/faults/): one server a session, made fresh for each test."""

import pytest
from django.core.cache import cache

from wechat.fake_server import FakeWeChat

APP_ID, SECRET, TOKEN = "wxfake0000000001", "fake-secret", "fake-token"
PAY_KEY, MCH_ID = "fake-pay-key-0123456789abcdef012", "1900000109"
OPENID = "oHuiyuanTestOpenid0000000001"
MP_APP_ID, MP_SECRET = "wxfakemp00000001", "fake-mp-secret"  # the mini-program
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters


@pytest.fixture(scope="session")
def _fake_server():
    fake = FakeWeChat(app_id=APP_ID, secret=SECRET, apps={MP_APP_ID: MP_SECRET})
    server = fake.serve(port=0)
    yield fake, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def fake(_fake_server, settings):
    """A fresh fake WeChat (nothing received, no failures) that our client points at;
    `fake.base` is its address (for driving it over HTTP, as the demo does)."""
    fake, base = _fake_server
    fake.reset()
    fake.base = base
    settings.WECHAT_API_BASE = base
    settings.WECHAT_APP_ID, settings.WECHAT_APP_SECRET = APP_ID, SECRET
    settings.WECHAT_TOKEN, settings.WECHAT_AES_KEY = TOKEN, ""
    settings.WECHAT_PAY_KEY, settings.WECHAT_MCH_ID = PAY_KEY, MCH_ID
    settings.WECHAT_TIMEOUT = 1.0
    settings.WECHAT_OAUTH_ANY_BROWSER = False
    settings.WECHAT_MP_APP_ID, settings.WECHAT_MP_APP_SECRET = MP_APP_ID, MP_SECRET
    keys = [f"wechat:{app}{key}" for app in (APP_ID, MP_APP_ID)
            for key in ("_access_token", ":token-lock")]  # fmt: skip
    cache.delete_many(keys)
    yield fake
    cache.delete_many(keys)
