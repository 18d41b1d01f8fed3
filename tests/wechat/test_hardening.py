"""Issue 25, WeChat: replayed plain-mode URLs, bad bodies as 4xx, Pay dates, check --deploy."""

import datetime as dt
import time
from urllib.parse import urlencode

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client
from django.utils import timezone
from wechatpy.crypto import PrpCrypto, WeChatCrypto

from loyalty.models import CheckIn, Purchase
from tests.factories import MemberFactory
from wechat.models import Callback, Follower
from wechat.oauth import OPENID_KEY, TRIED_KEY
from wechat.tasks import prune_wechat_callbacks

from .conftest import AES_KEY, APP_ID, OPENID, TOKEN, fixture_xml, signed_query
from .test_oauth import UA
from .test_pay_notify import notify, signed_notice

pytestmark = pytest.mark.django_db
URL = "/wechat/callback/"


def post(web, body, query: dict):
    body = body.encode() if isinstance(body, str) else body
    return web.post(f"{URL}?{urlencode(query)}", body, content_type="text/xml")


def text(content: str, msg_id: str, openid: str = OPENID) -> str:
    return fixture_xml("text.xml", openid=openid, content=content, msg_id=msg_id,
                       create_time=str(int(time.time())))  # fmt: skip


def subscribe(openid: str = OPENID, create_time: str | None = None) -> str:
    return fixture_xml("subscribe.xml", openid=openid,
                       create_time=create_time or str(int(time.time())))  # fmt: skip


@pytest.fixture
def member(store):
    member = MemberFactory(store=store)
    member.__class__.objects.filter(pk=member.pk).update(wechat_openid=OPENID)
    return member


# --- plain mode: one signed URL, one message --------------------------------------------


def test_a_signed_url_replayed_with_another_body_is_refused(web, fake, member):
    query, xml = signed_query(), text("你好", "100")  # the URL e.g. read from an access log
    first, retry = post(web, xml, query), post(web, xml, query)
    assert first.status_code == retry.status_code == 200  # the same body: WeChat's retry

    replay = post(web, text("签到", "101"), query)  # any follower's check-in, same URL

    assert replay.status_code == 403
    assert "already used" in replay.content.decode()
    assert not CheckIn.objects.exists()


def test_the_server_check_url_cannot_carry_a_message(web, fake, member):
    query = signed_query()
    assert web.get(URL, {**query, "echostr": "e1"}).content == b"e1"

    assert post(web, text("签到", "103"), query).status_code == 403
    assert not CheckIn.objects.exists()


def test_used_urls_are_pruned_with_the_callbacks(web, fake):
    from wechat.models import CallbackNonce

    post(web, subscribe(), signed_query())
    assert CallbackNonce.objects.count() == 1

    later = timezone.now() + dt.timedelta(days=3)
    result = prune_wechat_callbacks(now=later)

    assert result == {"deleted": 1, "urls_deleted": 1, "card_updates_deleted": 0}
    assert not CallbackNonce.objects.exists() and not Callback.objects.exists()


# --- bad bodies: a 4xx or "success", never a 500 ---------------------------------------


def test_a_plain_body_that_is_not_utf8_is_400(web, fake):
    response = post(web, subscribe().encode("utf-16"), signed_query())

    assert response.status_code == 400
    assert "UTF-8" in response.content.decode()
    assert not Follower.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        b"",  # parse_message("") is None
        subscribe(create_time="not-a-number"),
        subscribe(create_time="99999999999999999999"),
        text("积分", "not-a-number"),
        subscribe().replace("<FromUserName>", "<FromUserName><a>1</a>"),
    ],
)
def test_a_signed_but_malformed_message_is_answered_success(web, fake, body):
    response = post(web, body, signed_query())

    assert (response.status_code, response.content) == (200, b"success")
    assert not Follower.objects.exists()


def test_an_openid_longer_than_any_openid_is_not_recorded(web, fake):
    response = post(web, subscribe(openid="o" * 65), signed_query())

    assert response.content == b"success"
    assert not Follower.objects.exists()


@pytest.fixture
def safe(fake, settings):
    settings.WECHAT_AES_KEY = AES_KEY
    return WeChatCrypto(TOKEN, AES_KEY, APP_ID)


def safe_query(envelope_encrypt: str, nonce: str = "4711") -> dict:
    """A query whose msg_signature is right for `envelope_encrypt`: only the token's
    holder can make one, so what fails after it is the ciphertext itself."""
    from wechat.client import callback_signature

    query = signed_query(nonce=nonce)
    signature = callback_signature(TOKEN, query["timestamp"], nonce, envelope_encrypt)
    return {**query, "encrypt_type": "aes", "msg_signature": signature}


@pytest.mark.parametrize(
    "body",
    [b"not xml", b"<xml><Encrypt><a>1</a></Encrypt></xml>", b"<xml/>", b"\xff\xfe<xml/>",
     b'<!DOCTYPE x [<!ENTITY a "b">]><xml><Encrypt>&a;</Encrypt></xml>'],
)  # fmt: skip
def test_a_safe_mode_body_that_is_no_envelope_is_400(web, safe, body):
    response = post(web, body, {**signed_query(), "encrypt_type": "aes", "msg_signature": "x"})

    assert response.status_code == 400
    assert "envelope" in response.content.decode()


@pytest.mark.parametrize(
    "encrypt",
    [
        "not base64!",
        "QUJD",  # base64, but not whole AES blocks
        "A" * 44,  # 33 bytes
        "A" * 64,  # three blocks of zeros: garbage once decrypted
    ],
)
def test_a_safe_mode_ciphertext_that_cannot_be_decrypted_is_400(web, safe, encrypt):
    body = f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"

    response = post(web, body, safe_query(encrypt))

    assert response.status_code == 400
    assert "cannot be decrypted" in response.content.decode()
    assert not Follower.objects.exists()


def safe_body(safe, plaintext: bytes, app_id: str = APP_ID) -> tuple[str, str]:
    """An envelope around `plaintext` encrypted with the right key, and its Encrypt."""
    encrypt = PrpCrypto(safe.key).encrypt(plaintext, app_id).decode()
    return f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>", encrypt


def test_a_safe_mode_plaintext_that_is_not_utf8_is_400(web, safe):
    body, encrypt = safe_body(safe, b"\xff\xfe\xfd")

    assert post(web, body, safe_query(encrypt)).status_code == 400


def test_a_safe_mode_message_for_another_app_is_400(web, safe):
    body, encrypt = safe_body(safe, subscribe().encode(), app_id="wxanotherapp00001")

    assert post(web, body, safe_query(encrypt)).status_code == 400
    assert not Follower.objects.exists()


# --- OAuth return ------------------------------------------------------------------------


@pytest.fixture
def wx(db):
    return Client(headers={"Accept-Language": "en", "User-Agent": UA})


def test_an_oauth_return_with_a_non_ascii_state_carries_on_without_binding(wx, fake):
    wx.get("/join/")  # our state in the session, on the way to WeChat

    response = wx.get("/wechat/oauth/", {"code": "abc", "state": "状态"})

    assert response.status_code == 302 and response["Location"] == "/join/"
    assert OPENID_KEY not in wx.session and wx.session[TRIED_KEY]
    assert not fake.received("/sns/oauth2/access_token")


# --- WeChat Pay: a time_end no purchase can have ----------------------------------------


@pytest.fixture
def payer(fake, member):
    return member


@pytest.mark.parametrize("time_end", ["20991231235959", "19000101000000", "00010101000000"])
def test_a_pay_notice_dated_out_of_bounds_is_recorded_when_it_arrives(client, payer, time_end):
    before = timezone.now()

    assert notify(client, signed_notice(time_end=time_end)) == (200, "SUCCESS")

    occurred = Purchase.objects.get().occurred_at
    assert before - dt.timedelta(seconds=1) <= occurred <= timezone.now()


# --- check --deploy -----------------------------------------------------------------------


def deploy_check(settings, **values):
    for name, value in values.items():
        setattr(settings, name, value)
    try:
        call_command("check", "--deploy", "--tag", "wechat", "--fail-level", "WARNING")
    except SystemCheckError as exc:
        return str(exc)
    return ""


def test_check_deploy_warns_about_plain_mode(settings):
    found = deploy_check(settings, WECHAT_FAKE=False, WECHAT_APP_ID=APP_ID, WECHAT_AES_KEY="")

    assert "wechat.W001" in found and "安全模式" in found


def test_check_deploy_warns_about_an_aes_key_that_cannot_work(settings):
    found = deploy_check(settings, WECHAT_FAKE=False, WECHAT_APP_ID=APP_ID,
                         WECHAT_AES_KEY="too-short")  # fmt: skip

    assert "wechat.W002" in found


@pytest.mark.parametrize(
    "values",
    [
        {"WECHAT_FAKE": False, "WECHAT_APP_ID": APP_ID, "WECHAT_AES_KEY": AES_KEY},
        {"WECHAT_FAKE": False, "WECHAT_APP_ID": "", "WECHAT_AES_KEY": ""},  # no WeChat
    ],
)
def test_check_deploy_is_quiet_in_safe_mode_or_without_wechat(settings, values):
    no_pay_v3 = {"WECHAT_PAY_V3_KEY": "", "WECHAT_PAY_V3_PUBLIC_KEY_FILE": "",
                 "WECHAT_PAY_V3_PUBLIC_KEY_ID": ""}  # fmt: skip
    assert deploy_check(settings, **values, **no_pay_v3) == ""


def test_check_deploy_warns_about_wechat_pay_v3_half_configured(settings, tmp_path):
    real = {"WECHAT_FAKE": False, "WECHAT_APP_ID": APP_ID, "WECHAT_AES_KEY": AES_KEY}
    test_key = {"WECHAT_PAY_V3_PUBLIC_KEY_FILE": settings.WECHAT_PAY_V3_PUBLIC_KEY_FILE,
                "WECHAT_PAY_V3_PUBLIC_KEY_ID": "PUB_KEY_ID_1"}  # fmt: skip

    short = deploy_check(settings, **real, **test_key, WECHAT_PAY_V3_KEY="short")
    fake_key = deploy_check(settings, **real, **test_key, WECHAT_PAY_V3_KEY="k" * 32)
    missing = deploy_check(settings, **real, WECHAT_PAY_V3_KEY="k" * 32,
                           WECHAT_PAY_V3_PUBLIC_KEY_FILE=str(tmp_path / "none.pem"))  # fmt: skip

    assert "wechat.W003" in short and "32-character" in short
    # The fake server's test key pair, outside fake mode: anyone could sign with it.
    assert "wechat.W003" in fake_key and "test key" in fake_key
    assert "wechat.W003" in missing and "none.pem" in missing
