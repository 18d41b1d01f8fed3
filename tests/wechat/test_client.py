"""wechat/client.py: the real wechatpy client against the fake server (token, errors, hosts)."""

import threading

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connections

from wechat import client
from wechat.client import RedirectAdapter

from .conftest import APP_ID

pytestmark = pytest.mark.django_db


def test_the_token_url_wechatpy_hard_codes_is_redirected_to_the_fake(fake):
    client.user_info("o1")

    assert [r["query"]["appid"] for r in fake.received("/cgi-bin/token")] == [APP_ID]
    assert fake.received("/cgi-bin/user/info")[0]["query"]["openid"] == "o1"


def test_the_adapter_rewrites_only_wechat_hosts(monkeypatch):
    import requests
    from requests.adapters import HTTPAdapter

    sent = []
    monkeypatch.setattr(HTTPAdapter, "send", lambda self, req, **kw: sent.append((req.url, kw)))
    adapter = RedirectAdapter("http://127.0.0.1:9", timeout=1)
    adapter.send(requests.Request("GET", "https://api.weixin.qq.com/cgi-bin/token?a=1").prepare())
    adapter.send(requests.Request("GET", "https://example.com/x").prepare(), timeout=3)

    assert sent == [("http://127.0.0.1:9/cgi-bin/token?a=1", {"timeout": 1}),
                    ("https://example.com/x", {"timeout": 3})]  # fmt: skip


def test_the_token_is_kept_in_the_shared_cache_and_fetched_once(fake):
    client.user_info("o1")
    client.user_info("o2")  # a new client object, as in another process

    assert len(fake.received("/cgi-bin/token")) == 1
    assert cache.get(f"wechat:{APP_ID}_access_token") == fake.token


@pytest.mark.django_db(transaction=True)
def test_workers_starting_together_fetch_one_token_not_one_each(fake):
    # wechatpy issue 334: each worker fetching its own token invalidates the others'.
    errors = []

    def work():
        try:
            client.user_info("o1")
        except Exception as exc:  # collected
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == []
    assert fake.tokens_issued == 1


def test_an_invalidated_token_is_refreshed_once_and_the_call_retried(fake):
    client.user_info("o1")
    fake.fail("/cgi-bin/user/info", errcode=40001)

    assert client.user_info("o2")["openid"] == "o2"
    assert fake.tokens_issued == 2


def test_a_token_that_stays_invalid_is_an_error_not_a_loop(fake):
    fake.fail("/cgi-bin/user/info", errcode=40001, times=5)

    with pytest.raises(client.WeChatError) as exc:
        client.user_info("o1")
    assert exc.value.errcode == 40001
    assert len(fake.received("/cgi-bin/user/info")) == 2


def test_the_frequency_limit_is_its_own_error(fake):
    fake.fail("/cgi-bin/message/template/send", errcode=45009)

    with pytest.raises(client.RateLimited):
        client.template_send(openid="o1", template_id="t", data={})


def test_a_slow_wechat_is_a_timeout_error(fake, settings):
    settings.WECHAT_TIMEOUT = 0.3
    client.user_info("o1")
    fake.fail("/cgi-bin/user/info", delay=1.5)

    with pytest.raises(client.WeChatError) as exc:
        client.user_info("o1")
    assert exc.value.errcode is None and "Timeout" in str(exc.value)


def test_wechat_menu_pushes_the_three_buttons(fake, settings):
    call_command("wechat_menu")

    body = fake.received("/cgi-bin/menu/create")[0]["body"]
    assert [b["name"] for b in body["button"]] == ["注册会员", "会员中心", "签到"]
    assert body["button"][2] == {"type": "click", "name": "签到", "key": "CHECKIN"}


def test_wechat_menu_fails_loudly_when_wechat_refuses(fake):
    from django.core.management.base import CommandError

    fake.fail("/cgi-bin/menu/create", errcode=45009)
    with pytest.raises(CommandError):
        call_command("wechat_menu")
