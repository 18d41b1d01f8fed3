"""The one module that talks to WeChat: the wechatpy clients built from settings.

- Every WeChat host is rewritten at the HTTP session (a requests transport adapter
  mounted on the client's session) when WECHAT_API_BASE is set: wechatpy hard-codes the
  token URL and some API groups use full URLs, so setting API_BASE_URL alone misses them.
  The adapter also applies WECHAT_TIMEOUT to calls that wechatpy sends without one.
- The access token lives in the Django cache (database or Redis), shared by every
  process, and is fetched under a cache lock: two workers never each fetch one and
  invalidate the other's (wechatpy issue 334).
  A process whose cache is down (django-redis skips the writes) keeps the token it
  fetched itself, and does not wait for a lock the cache cannot hold.
- wechatpy's auto-retry is off (it retries 40001 forever); `call_with` refreshes the token
  once and retries once.
- Every failure is a WeChatError with a `reason` in words (what the outbox writes as a
  message's last error) and `unavailable` when WeChat, not this call, is the trouble
  (down, slow, busy, over quota, refusing the account's token).
"""

import hmac
import io
import logging
import os
import threading
import time
from urllib.parse import urlsplit, urlunsplit

import requests
import xmltodict
from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext_noop
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
BUSY = -1  # "system error": WeChat asks to try again later
RATE_LIMITED = 45009
# The account's credentials refused (at /token: bad app ID, bad secret, IP not whitelisted).
ACCOUNT_ERRORS = TOKEN_ERRORS | {40013, 40125, 40164}
CACHE_PREFIX = "wechat:"
TOKEN_LOCK_SECONDS = 15
log = logging.getLogger(__name__)

# Why a call failed, in words: a message's last error (campaigns' outbox), which the
# Message admin's summary shows translated (marked here for makemessages).
REASON_TIMEOUT = gettext_noop("WeChat did not answer in time.")
REASON_UNREACHABLE = gettext_noop("WeChat could not be reached.")
REASON_SERVER_ERROR = gettext_noop("WeChat answered with a server error.")
REASON_BUSY = gettext_noop("WeChat is busy (errcode -1).")
REASON_QUOTA = gettext_noop("WeChat's call quota is used up (errcode 45009).")
REASON_ACCOUNT = gettext_noop(
    "WeChat refused the account's access token (check the app ID, secret and IP whitelist)."
)


class WeChatError(Exception):
    """WeChat said no, or could not be reached (errcode None)."""

    def __init__(self, errcode, errmsg="", reason: str = ""):
        super().__init__(f"errcode {errcode}: {errmsg}")
        self.errcode, self.errmsg = errcode, errmsg
        self.reason = reason or _reason(errcode, errmsg)

    @property
    def unavailable(self) -> bool:
        """WeChat is the trouble (down, slow, busy, over quota, the account refused), not
        this call: every call now would fail the same way."""
        return self.errcode is None or self.errcode in (BUSY, RATE_LIMITED, *ACCOUNT_ERRORS)


class RateLimited(WeChatError):
    """errcode 45009: the daily quota or frequency limit; try again later."""


def _reason(errcode, errmsg) -> str:
    if errcode == BUSY:
        return REASON_BUSY
    if errcode == RATE_LIMITED:
        return REASON_QUOTA
    if errcode in ACCOUNT_ERRORS:
        return REASON_ACCOUNT
    return f"WeChat refused: {errmsg or 'no reason given'} (errcode {errcode})."


def as_wechat_error(exc: Exception) -> WeChatError:
    """wechatpy's or requests' exception as a WeChatError."""
    if isinstance(exc, requests.RequestException):
        if isinstance(exc, requests.Timeout):
            reason = REASON_TIMEOUT
        elif isinstance(exc, requests.ConnectionError):
            reason = REASON_UNREACHABLE
        else:  # an answer that is no JSON, a broken body
            reason = REASON_SERVER_ERROR
        return WeChatError(None, f"network: {exc.__class__.__name__}", reason)
    if exc.errcode is None:  # wechatpy's raise_for_status: an HTTP error status
        status = getattr(getattr(exc, "response", None), "status_code", None)
        return WeChatError(None, f"HTTP {status}", REASON_SERVER_ERROR)
    error = RateLimited if exc.errcode == RATE_LIMITED else WeChatError
    return error(exc.errcode, exc.errmsg)


# Tokens this process fetched that the cache did not keep (it is down): key -> (token,
# monotonic expiry). Read only when the cache misses.
_kept: dict[str, tuple[str, float]] = {}


class CacheStorage(SessionStorage):
    """wechatpy's session storage on the Django cache, shared by all processes."""

    def get(self, key, default=None):
        value = cache.get(CACHE_PREFIX + key)
        if value is None:
            value, expires = _kept.get(key, (None, 0.0))
            value = value if expires > time.monotonic() else None
        return default if value is None else value

    def set(self, key, value, ttl=None):
        # Expire five minutes early: WeChat's token must never be used past its life.
        timeout = max(int(ttl) - 300, 60) if ttl else None
        cache.set(CACHE_PREFIX + key, value, timeout)
        if cache.get(CACHE_PREFIX + key) == value:
            _kept.pop(key, None)
        else:
            # The cache did not keep it (django-redis skips a write when Redis is down):
            # this process keeps it, rather than fetching a new token on every call.
            log.warning("the cache is not keeping %s: kept in this process", key)
            _kept[key] = (value, time.monotonic() + (timeout or 7200 - 300))

    def delete(self, key):
        cache.delete(CACHE_PREFIX + key)
        _kept.pop(key, None)


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


def mount(session: requests.Session) -> requests.Session:
    """Send `session`'s WeChat requests to WECHAT_API_BASE, with WECHAT_TIMEOUT."""
    adapter = RedirectAdapter(settings.WECHAT_API_BASE, settings.WECHAT_TIMEOUT)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class Client(WeChatClient):
    """WeChatClient whose token fetch is serialised across processes by a cache lock."""

    def fetch_access_token(self, stale: str | None = None):
        """Fetch a new token, unless another process already replaced `stale` meanwhile."""
        lock = f"{CACHE_PREFIX}{self.appid}:token-lock"
        got = token_lock(lock)
        try:
            current = self.session.get(self.access_token_key)
            if current and current != stale:
                return {"access_token": current}
            return super().fetch_access_token()
        finally:
            if got:
                cache.delete(lock)


def token_lock(key: str) -> bool:
    """Take the token fetch's cache lock; False: going on without it.

    Waits for another process's fetch at most as long as one call to WeChat may take
    (its connect and read timeouts), then fetches anyway. A cache that refuses the lock
    while nobody holds it (down: django-redis answers every write with False) is not
    waited for at all.
    """
    deadline = time.monotonic() + min(TOKEN_LOCK_SECONDS, 2 * settings.WECHAT_TIMEOUT)
    unheld = 0
    while True:
        if cache.add(key, "1", TOKEN_LOCK_SECONDS):
            return True
        # Twice in a row refused with no holder: not a race with a release, a dead cache.
        unheld = unheld + 1 if cache.get(key) is None else 0
        if unheld >= 2 or time.monotonic() >= deadline:
            return False
        if unheld == 0:
            time.sleep(0.05)


_clients = threading.local()


def get_client() -> Client:
    """This thread's client for the configured account: one HTTP session kept alive
    across calls (a broadcast sends thousands), a new one when the settings change."""
    return thread_client(Client, settings.WECHAT_APP_ID, settings.WECHAT_APP_SECRET)


def thread_client(cls: type[Client], app_id: str, secret: str) -> Client:
    """This thread's `cls` client for the app `app_id` (the official account's, or the
    mini-program's: wechat/mp/client.py), kept while the settings stay the same."""
    config = (app_id, secret, settings.WECHAT_API_BASE, settings.WECHAT_TIMEOUT)
    cached = getattr(_clients, cls.__name__, None)
    if cached is not None and cached[0] == config:
        return cached[1]
    made = cls(app_id, secret, session=CacheStorage(), timeout=settings.WECHAT_TIMEOUT,
               auto_retry=False)  # fmt: skip
    mount(made._http)
    setattr(_clients, cls.__name__, (config, made))
    return made


def _call(fn):
    """fn(the official account's client): call_with(get_client(), fn)."""
    return call_with(get_client(), fn)


def call_with(client: Client, fn):
    """fn(client) with one token refresh on 40001/42001; every failure (the token's fetch
    and refresh too) as a WeChatError. `client`: the official account's or another app's
    (the mini-program's, wechat/mp/client.py)."""
    try:
        token = client.access_token
        try:
            return fn(client)
        except WeChatClientException as exc:
            if exc.errcode not in TOKEN_ERRORS:
                raise
        client.fetch_access_token(stale=token)
        return fn(client)
    except (WeChatClientException, requests.RequestException) as exc:
        raise as_wechat_error(exc) from exc


# --- the calls Huiyuan makes ------------------------------------------------------------


def template_send(*, openid: str, template_id: str, data: dict, url: str = "") -> int:
    """Send a template message; returns WeChat's msgid."""
    result = _call(lambda c: c.message.send_template(openid, template_id, data, url=url or None))
    if not isinstance(result, dict):  # wechatpy hands over an answer that is no JSON as is
        raise WeChatError(None, "not JSON", REASON_SERVER_ERROR)
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
    mount(oauth._http)
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
        raise as_wechat_error(exc) from exc


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


# --- the member card in 卡包 (wechat/member_card.py, wechat/card_sync.py) ---------------


def upload_image(path: str) -> str:
    """Upload an image for a card (cgi-bin/media/uploadimg); returns WeChat's URL."""
    with open(path, "rb") as media:
        content = media.read()
    # A fresh file per attempt (a retry after a token refresh uploads it all again), named:
    # WeChat takes the image's type from the file name.
    name = os.path.basename(path)
    result = _call(lambda c: c.media.upload_image((name, io.BytesIO(content))))
    return result if isinstance(result, str) else result.get("url", "")


def card_create(card: dict) -> str:
    """card/create with {"card": {...}}; returns the new card_id."""
    return _call(lambda c: c.card.create(card))


def card_update(card: dict) -> dict:
    return _call(lambda c: c.card.update(card))


def card_activate_form(card_id: str, form: dict) -> dict:
    """card/membercard/activateuserform/set: what the one-click activation form asks."""
    return _call(lambda c: c.card.set_activate_user_form(card_id, **form))


def card_qrcode(card_id: str, outer_str: str = "") -> dict:
    """A claim QR code for the card (card/qrcode/create): {"ticket", "url",
    "show_qrcode_url"}; `outer_str` comes back in user_get_card (the store's code).
    Without expire_seconds WeChat keeps it valid for 365 days."""
    card = {"card_id": card_id}
    if outer_str:
        card["outer_str"] = outer_str
    data = {"action_name": "QR_CARD", "action_info": {"card": card}}
    # wechatpy's card.create_qrcode keeps only the ticket; the url is what posters print.
    return _call(lambda c: c.post("https://api.weixin.qq.com/card/qrcode/create", data=data))


def membercard_activate(*, card_id: str, code: str, **fields) -> dict:
    """card/membercard/activate: the card becomes the member's (membership_number, init_*)."""
    number = fields.pop("membership_number")  # outside the call: a retry sends it again
    return _call(lambda c: c.card.activate_membercard(number, code, card_id=card_id, **fields))


def membercard_update(*, card_id: str, code: str, **fields) -> dict:
    """card/membercard/updateuser: bonus, balance, custom fields and their record texts."""
    return _call(lambda c: c.card.update_membercard(code, card_id, **fields))


def membercard_user_info(*, card_id: str, code: str) -> dict:
    """card/membercard/userinfo/get: the activation form's answers, bonus and balance."""
    return _call(lambda c: c.card.get_membercard_user_info(card_id, code))
