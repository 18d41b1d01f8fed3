"""The one module that talks to WeChat: the wechatpy clients built from settings.

- Every WeChat host is rewritten at the HTTP session (a requests transport adapter
  mounted on the client's session) when WECHAT_API_BASE is set: wechatpy hard-codes the
  token URL and some API groups use full URLs, so setting API_BASE_URL alone misses them.
  The adapter also applies WECHAT_TIMEOUT to calls that wechatpy sends without one.
- The access token lives in the Django cache (database or Redis), shared by every
  process, and is fetched under a cache lock: two workers never each fetch one and
  invalidate the other's (wechatpy issue 334).
- wechatpy's auto-retry is off (it retries 40001 forever); `_call` refreshes the token
  once and retries once.
"""

import hmac
import threading
import time
from urllib.parse import urlsplit, urlunsplit

import requests
import xmltodict
from django.conf import settings
from django.core.cache import cache
from requests.adapters import HTTPAdapter
from wechatpy import WeChatClient
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import WeChatClientException, WeChatOAuthException
from wechatpy.oauth import WeChatOAuth
from wechatpy.pay import utils as pay_utils
from wechatpy.session import SessionStorage
from wechatpy.utils import WeChatSigner

WECHAT_HOSTS = {"api.weixin.qq.com", "open.weixin.qq.com", "mp.weixin.qq.com",
                "api.mch.weixin.qq.com", "sz.api.weixin.qq.com"}  # fmt: skip
TOKEN_ERRORS = {40001, 40014, 42001}
RATE_LIMITED = 45009
CACHE_PREFIX = "wechat:"
TOKEN_LOCK_SECONDS = 15


class WeChatError(Exception):
    """WeChat said no, or could not be reached (errcode None)."""

    def __init__(self, errcode, errmsg=""):
        super().__init__(f"errcode {errcode}: {errmsg}")
        self.errcode, self.errmsg = errcode, errmsg


class RateLimited(WeChatError):
    """errcode 45009: the daily quota or frequency limit; try again later."""


class CacheStorage(SessionStorage):
    """wechatpy's session storage on the Django cache, shared by all processes."""

    def get(self, key, default=None):
        value = cache.get(CACHE_PREFIX + key)
        return default if value is None else value

    def set(self, key, value, ttl=None):
        # Expire five minutes early: WeChat's token must never be used past its life.
        cache.set(CACHE_PREFIX + key, value, max(int(ttl) - 300, 60) if ttl else None)

    def delete(self, key):
        cache.delete(CACHE_PREFIX + key)


class RedirectAdapter(HTTPAdapter):
    """Sends requests for WeChat's hosts to `base` (the fake server), with a default timeout."""

    def __init__(self, base: str = "", timeout: float | None = None):
        super().__init__()
        self.base = urlsplit(base) if base else None
        self.default_timeout = timeout

    def send(self, request, **kwargs):
        if self.base is not None:
            parts = urlsplit(request.url)
            if parts.hostname in WECHAT_HOSTS:
                request.url = urlunsplit(
                    parts._replace(scheme=self.base.scheme, netloc=self.base.netloc)
                )
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().send(request, **kwargs)


def _mount(session: requests.Session) -> requests.Session:
    adapter = RedirectAdapter(settings.WECHAT_API_BASE, settings.WECHAT_TIMEOUT)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class Client(WeChatClient):
    """WeChatClient whose token fetch is serialised across processes by a cache lock."""

    def fetch_access_token(self, stale: str | None = None):
        """Fetch a new token, unless another process already replaced `stale` meanwhile."""
        lock = f"{CACHE_PREFIX}{self.appid}:token-lock"
        deadline = time.monotonic() + TOKEN_LOCK_SECONDS
        got = cache.add(lock, "1", TOKEN_LOCK_SECONDS)
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
            got = cache.add(lock, "1", TOKEN_LOCK_SECONDS)
        try:
            current = self.session.get(self.access_token_key)
            if current and current != stale:
                return {"access_token": current}
            return super().fetch_access_token()
        finally:
            if got:
                cache.delete(lock)


_clients = threading.local()


def get_client() -> Client:
    """This thread's client for the configured account: one HTTP session kept alive
    across calls (a broadcast sends thousands), a new one when the settings change."""
    config = (settings.WECHAT_APP_ID, settings.WECHAT_APP_SECRET, settings.WECHAT_API_BASE,
              settings.WECHAT_TIMEOUT)  # fmt: skip
    cached = getattr(_clients, "client", None)
    if cached is not None and cached[0] == config:
        return cached[1]
    client = Client(
        settings.WECHAT_APP_ID,
        settings.WECHAT_APP_SECRET,
        session=CacheStorage(),
        timeout=settings.WECHAT_TIMEOUT,
        auto_retry=False,
    )
    _mount(client._http)
    _clients.client = (config, client)
    return client


def _call(fn):
    """fn(client) with one token refresh on 40001/42001; WeChat's errors as WeChatError."""
    client = get_client()
    token = None
    for attempt in (1, 2):
        try:
            token = client.access_token
            return fn(client)
        except WeChatClientException as exc:
            errcode = exc.errcode
            if errcode in TOKEN_ERRORS and attempt == 1:
                client.fetch_access_token(stale=token)
                continue
            if errcode == RATE_LIMITED:
                raise RateLimited(errcode, exc.errmsg) from exc
            raise WeChatError(errcode, exc.errmsg) from exc
        except requests.RequestException as exc:
            raise WeChatError(None, f"network: {exc.__class__.__name__}") from exc
    raise AssertionError("unreachable")  # pragma: no cover


# --- the calls Huiyuan makes ------------------------------------------------------------


def template_send(*, openid: str, template_id: str, data: dict, url: str = "") -> int:
    """Send a template message; returns WeChat's msgid."""
    result = _call(lambda c: c.message.send_template(openid, template_id, data, url=url or None))
    return int(result.get("msgid") or 0)


def user_info(openid: str) -> dict:
    return _call(lambda c: c.user.get(openid))


def qrcode_create(scene: str) -> dict:
    """A permanent parametric QR code for `scene` (qrscene_<scene> on subscribe)."""
    return _call(
        lambda c: c.qrcode.create(
            {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": scene}}}
        )
    )


def menu_create(menu: dict) -> dict:
    return _call(lambda c: c.menu.create(menu))


def _oauth(redirect_uri: str = "", state: str = "") -> WeChatOAuth:
    oauth = WeChatOAuth(
        settings.WECHAT_APP_ID, settings.WECHAT_APP_SECRET, redirect_uri, "snsapi_base", state
    )
    _mount(oauth._http)
    if settings.WECHAT_API_BASE:
        # The authorize URL is opened by the browser, not by us: point it at the fake too.
        oauth.OAUTH_BASE_URL = settings.WECHAT_API_BASE.rstrip("/") + "/connect/"
    return oauth


def oauth_authorize_url(*, redirect_uri: str, state: str) -> str:
    return _oauth(redirect_uri, state).authorize_url


def oauth_openid(code: str) -> str:
    """The openid for an OAuth code (snsapi_base). A used or unknown code is a WeChatError."""
    try:
        return _oauth().fetch_access_token(code)["openid"]
    except WeChatOAuthException as exc:
        raise WeChatError(exc.errcode, exc.errmsg) from exc
    except requests.RequestException as exc:
        raise WeChatError(None, f"network: {exc.__class__.__name__}") from exc


# --- verifying what WeChat sends us (callbacks, Pay notices) -------------------------------


class InvalidSignature(Exception):
    pass


def callback_signature(*parts: str) -> str:
    """WeChat's SHA1 over the sorted parts (token, timestamp, nonce[, encrypt])."""
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


def signature_matches(expected: str, given: str) -> bool:
    # wechatpy compares with != ; a constant-time compare leaks nothing about the right one.
    return hmac.compare_digest(expected.encode(), (given or "").encode())


def crypto() -> WeChatCrypto:
    return WeChatCrypto(settings.WECHAT_TOKEN, settings.WECHAT_AES_KEY, settings.WECHAT_APP_ID)


def pay_notice_parse(body: bytes) -> dict:
    """A WeChat Pay (v2) notice as a dict, after checking its signature with the Pay key.

    wechatpy's parse_payment_result compares with != and knows only MD5; this uses its
    signing function with a constant-time compare, and HMAC-SHA256 when sign_type says so.
    """
    try:
        data = xmltodict.parse(body, disable_entities=True).get("xml")
    except Exception as exc:  # expat errors, bad encodings
        raise InvalidSignature("not XML") from exc
    if not isinstance(data, dict):
        raise InvalidSignature("not a notice")
    data = {k: v for k, v in data.items() if isinstance(v, str)}
    sign = data.pop("sign", "")
    key = settings.WECHAT_PAY_KEY
    if not key:
        raise InvalidSignature("no Pay key configured")
    if data.get("sign_type") == "HMAC-SHA256":
        expected = pay_utils.calculate_signature_hmac(data, key)
    else:
        expected = pay_utils.calculate_signature(data, key)
    if not signature_matches(expected, sign):
        raise InvalidSignature("bad signature")
    return data


def pay_notice_sign(data: dict) -> dict:
    """Sign a notice as WeChat Pay does (the fake server and fixtures use it)."""
    signed = dict(data)
    signed["sign"] = pay_utils.calculate_signature(data, settings.WECHAT_PAY_KEY)
    return signed
