"""The mini-program's endpoints on the fake WeChat server.

- GET  /sns/jscode2session                  wx.login()'s code -> openid, session_key[, unionid]
- POST /wxa/business/getuserphonenumber     the phone button's code -> phone_info

Tests and the demo choose the WeChat user with the code itself (no /_fake/ call):

- a login code is "openid:<openid>[:<unionid>[:<anything>]]" (login_code() writes one,
  with a random tail so each is new);
- a phone code is "phone:<11-digit mainland mobile>[:<anything>]" (phone_code()).

Each code works once, as WeChat's: a login code again answers 40163 "code been used", a
phone code again 40029 (WeChat says 40029 for a phone code that is unknown, expired or
used). Anything else is 40029. code2Session checks the app id (40013) and its secret
(40125) against the apps the fake knows, and needs no access token; the phone number
needs the mini-program's current access token (40001 otherwise) and names its app in
the watermark.
"""

import base64
import re
import secrets
import time

from .core import error, route

PHONE = re.compile(r"1[3-9][0-9]{9}")


def login_code(openid: str, unionid: str = "") -> str:
    """A fresh wx.login() code for the WeChat user `openid` (with WeChat's unionid when the
    mini-program is bound to an open platform account)."""
    return f"openid:{openid}:{unionid}:{secrets.token_hex(4)}"


def phone_code(phone: str) -> str:
    """A fresh code of the phone number button for the mainland mobile `phone`."""
    return f"phone:{phone}:{secrets.token_hex(4)}"


def _first_use(fake, code: str) -> bool:
    with fake.lock:
        used = fake.data.setdefault("wxa_used_codes", set())
        if code in used:
            return False
        used.add(code)
        return True


@route("/sns/jscode2session", token=False)
def jscode2session(fake, method, query, body):
    app_id = query.get("appid", "")
    secret = fake.app_secret(app_id)
    if secret is None:
        return error(40013, "invalid appid")
    if query.get("secret") != secret:
        return error(40125, "invalid appsecret")
    if query.get("grant_type") != "authorization_code":
        return error(40002, "invalid grant_type")
    code = query.get("js_code", "")
    parts = code.split(":")
    if len(parts) < 2 or parts[0] != "openid" or not parts[1]:
        return error(40029, "invalid code")
    if not _first_use(fake, code):
        return error(40163, "code been used")
    answer = {
        "openid": parts[1],
        "session_key": base64.b64encode(secrets.token_bytes(16)).decode(),
    }
    if len(parts) > 2 and parts[2]:
        answer["unionid"] = parts[2]
    return answer


def _app_of(fake, token: str) -> str:
    with fake.lock:
        for app_id, current in fake.app_tokens.items():
            if current == token:
                return app_id
    return fake.app_id


@route("/wxa/business/getuserphonenumber", token=True)
def getuserphonenumber(fake, method, query, body):
    if method != "POST":
        return error(43002, "require POST method")
    code = str(body.get("code") or "")
    parts = code.split(":")
    if len(parts) < 2 or parts[0] != "phone" or not PHONE.fullmatch(parts[1]):
        return error(40029, "invalid code")
    if not _first_use(fake, code):
        return error(40029, "invalid code")
    phone = parts[1]
    return {
        "errcode": 0,
        "errmsg": "ok",
        "phone_info": {
            "phoneNumber": phone,
            "purePhoneNumber": phone,
            "countryCode": "86",
            "watermark": {
                "timestamp": int(time.time()),
                "appid": _app_of(fake, query.get("access_token", "")),
            },
        },
    }
