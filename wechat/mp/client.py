"""The mini-program's calls to WeChat: code2Session and the user's phone number.

The mini-program is a second WeChat app (WECHAT_MP_APP_ID / WECHAT_MP_APP_SECRET) with an
access token of its own. Its wechatpy client is built as the official account's is
(wechat/client.py): WeChat's hosts sent to WECHAT_API_BASE (the fake server) with
WECHAT_TIMEOUT, the token in the shared cache under a lock, one refresh on 40001/42001,
every failure a WeChatError.
"""

import requests
from django.conf import settings
from wechatpy.exceptions import WeChatClientException

from .. import client

CODE2SESSION = "sns/jscode2session"
PHONE_NUMBER_URL = "https://api.weixin.qq.com/wxa/business/getuserphonenumber"
# code2Session's own errors (a code is one-time and lives five minutes).
INVALID_CODE = 40029
CODE_USED = 40163
# code2Session called too often for one user (WeChat allows 100 a minute).
TOO_FREQUENT = 45011
ID_MAX = 64  # WeChat's openids and unionids are 28 characters: the columns hold 64


class NotConfigured(Exception):
    """No mini-program app id or secret in the settings."""


class MiniProgramClient(client.Client):
    """The official account's client class, for the mini-program's app id."""

    def get(self, url, **kwargs):
        if url == CODE2SESSION:
            # code2Session takes the app secret, not an access token; wechatpy adds one
            # to every dict of params (fetching it first). Pairs are left as they are.
            kwargs["params"] = list(kwargs["params"].items())
        return super().get(url, **kwargs)


def mp_client() -> MiniProgramClient:
    """This thread's client for the mini-program (a new one when the settings change)."""
    if not (settings.WECHAT_MP_APP_ID and settings.WECHAT_MP_APP_SECRET):
        raise NotConfigured
    return client.thread_client(
        MiniProgramClient, settings.WECHAT_MP_APP_ID, settings.WECHAT_MP_APP_SECRET
    )


def _answer(result) -> dict:
    if not isinstance(result, dict):  # wechatpy hands over an answer that is no JSON as is
        raise client.WeChatError(None, "not JSON", client.REASON_SERVER_ERROR)
    return result


def code_to_session(code: str) -> dict:
    """wx.login()'s code -> {"openid", "session_key", "unionid"?} (code2Session).

    A bad or used code is a WeChatError with WeChat's errcode (40029, 40163)."""
    try:
        result = _answer(mp_client().wxa.code_to_session(code))
    except (WeChatClientException, requests.RequestException) as exc:
        raise client.as_wechat_error(exc) from exc
    ids = (result.get("openid"), result.get("session_key"), result.get("unionid") or "x")
    if not all(isinstance(v, str) and 0 < len(v) <= ID_MAX for v in ids):
        raise client.WeChatError(None, "no openid", client.REASON_SERVER_ERROR)
    return result


def phone_number(code: str) -> dict:
    """getPhoneNumber's code (the button's bindgetphonenumber) -> WeChat's phone_info:
    {"phoneNumber", "purePhoneNumber", "countryCode", "watermark": {"timestamp", "appid"}}.

    A bad or used code is a WeChatError with errcode 40029."""
    result = _answer(
        client.call_with(mp_client(), lambda c: c.post(PHONE_NUMBER_URL, data={"code": code}))
    )
    info = result.get("phone_info")
    if not isinstance(info, dict) or not info.get("purePhoneNumber"):
        raise client.WeChatError(None, "no phone_info", client.REASON_SERVER_ERROR)
    watermark = info.get("watermark") or {}
    if watermark.get("appid") not in (None, settings.WECHAT_MP_APP_ID):
        # The number was given to another app: not this mini-program's user.
        raise client.WeChatError(INVALID_CODE, "watermark of another app")
    return info
