"""The fake WeChat Pay's API v3 notices: signed with a test key, encrypted with the APIv3 key.

`pay_v3_notice(event_type, resource)` builds what WeChat Pay POSTs to a merchant's
notify URL: the headers (Wechatpay-Signature, -Timestamp, -Nonce, -Serial) and the JSON
body, its resource encrypted under WECHAT_PAY_V3_KEY and the whole signed with
pay_v3_private.pem, the TEST key pair beside this file (its public twin is the fake
mode's WECHAT_PAY_V3_PUBLIC_KEY_FILE; both are public: they prove nothing). `transaction()`
and `refund()` are the resources, WeChat's fields with values to change.

Control, for the demo and manual tests: POST /_fake_pay/v3/notify with
{"url": "http://127.0.0.1:8000/wechat/pay/v3/notify/", "event_type": "TRANSACTION.SUCCESS",
"resource": {"payer": {"openid": "o..."}, "amount": {"total": 8800}}} makes the fake
server POST such a notice (the resource's fields over the defaults) to `url`; it answers
with the status and body it got back. Every notice sent is kept in fake.data["pay_v3_sent"].
"""

import datetime as dt
import functools
import json
import secrets
import string
from pathlib import Path

import requests
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from wechat import pay_v3

from .core import error, route

PRIVATE_KEY_FILE = Path(__file__).resolve().parent / "pay_v3_private.pem"
BEIJING = dt.timezone(dt.timedelta(hours=8))
# The fake mode's settings, for a fake started outside Django's settings.
FAKE_V3_KEY, FAKE_KEY_ID, FAKE_MCH_ID = (
    "fake-apiv3-key-0123456789abcdef0",
    "PUB_KEY_ID_0000000000000001",
    "1900000109",
)
SUMMARY = {"TRANSACTION.SUCCESS": "支付成功", "REFUND.SUCCESS": "退款成功",
           "REFUND.ABNORMAL": "退款异常", "REFUND.CLOSED": "退款关闭"}  # fmt: skip


@functools.cache
def private_key():
    return load_pem_private_key(PRIVATE_KEY_FILE.read_bytes(), password=None)


def _setting(name: str, default: str) -> str:
    from django.conf import settings

    return (getattr(settings, name, "") if settings.configured else "") or default


def _now() -> str:
    return dt.datetime.now(BEIJING).replace(microsecond=0).isoformat()


def _random(length: int) -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(length))


def _merge(resource: dict, fields: dict) -> dict:
    """`fields` over `resource`; a dict (amount, payer) is merged one level down."""
    merged = dict(resource)
    for name, value in fields.items():
        if isinstance(value, dict) and isinstance(merged.get(name), dict):
            merged[name] = {**merged[name], **value}
        else:
            merged[name] = value
    return merged


def transaction(**fields) -> dict:
    """A TRANSACTION.SUCCESS resource (decrypted), 88.00 yuan paid; `fields` over it."""
    total = 8800
    resource = {
        "appid": _setting("WECHAT_APP_ID", "wxfake0000000001"),
        "mchid": _setting("WECHAT_MCH_ID", FAKE_MCH_ID),
        "out_trade_no": "HY" + _random(18),
        "transaction_id": "42000" + "".join(secrets.choice(string.digits) for _ in range(23)),
        "trade_type": "JSAPI",
        "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功",
        "bank_type": "OTHERS",
        "attach": "",
        "success_time": _now(),
        "payer": {"openid": "o" + _random(27)},
        "amount": {"total": total, "payer_total": total, "currency": "CNY",
                   "payer_currency": "CNY"},
    }  # fmt: skip
    return _merge(resource, fields)


def refund(**fields) -> dict:
    """A REFUND.SUCCESS resource (decrypted): all of an 88.00 yuan payment; `fields` over it."""
    resource = {
        "mchid": _setting("WECHAT_MCH_ID", FAKE_MCH_ID),
        "out_trade_no": "HY" + _random(18),
        "transaction_id": "42000" + "".join(secrets.choice(string.digits) for _ in range(23)),
        "out_refund_no": "RF" + _random(18),
        "refund_id": "50000" + "".join(secrets.choice(string.digits) for _ in range(24)),
        "refund_status": "SUCCESS",
        "success_time": _now(),
        "user_received_account": "支付用户零钱",
        "amount": {"total": 8800, "refund": 8800, "payer_total": 8800, "payer_refund": 8800},
    }
    return _merge(resource, fields)


def pay_v3_notice(
    event_type: str,
    resource: dict,
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
    notice_id: str | None = None,
    serial: str | None = None,
    key=None,
) -> tuple[dict, bytes]:
    """(headers, body) of a notice as WeChat Pay POSTs it: `resource` encrypted, signed
    with the test private key (or `key`), timestamp now unless given."""
    original_type = "refund" if event_type.startswith("REFUND.") else "transaction"
    envelope = {
        "id": notice_id or f"EV-{_random(20)}",
        "create_time": _now(),
        "resource_type": pay_v3.ENCRYPTED,
        "event_type": event_type,
        "summary": SUMMARY.get(event_type, ""),
        "resource": pay_v3.resource_encrypt(
            resource,
            _setting("WECHAT_PAY_V3_KEY", FAKE_V3_KEY).encode(),
            original_type=original_type,
            associated_data=original_type,
            nonce=_random(12),
        ),
    }
    body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
    timestamp = str(int(dt.datetime.now(dt.UTC).timestamp()) if timestamp is None else timestamp)
    nonce = nonce or _random(32)
    signature = pay_v3.notice_sign(
        pay_v3.signed_message(timestamp, nonce, body), key or private_key()
    )
    headers = {
        "Wechatpay-Serial": serial or _setting("WECHAT_PAY_V3_PUBLIC_KEY_ID", FAKE_KEY_ID),
        "Wechatpay-Signature": signature,
        "Wechatpay-Timestamp": timestamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature-Type": pay_v3.SIGNATURE_TYPE,
    }
    return headers, body


@route("/_fake_pay/v3/notify", token=False)
def notify_control(fake, method, query, body):
    """POST a signed notice to body["url"]; answers with what the merchant answered."""
    url = body.get("url") if isinstance(body, dict) else None
    if method != "POST" or not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return 400, {}, error(40097, "invalid args: POST {url, event_type, resource}")
    event_type = body.get("event_type") or "TRANSACTION.SUCCESS"
    fields = body.get("resource") if isinstance(body.get("resource"), dict) else {}
    make = refund if event_type.startswith("REFUND.") else transaction
    resource = make(**fields)
    headers, payload = pay_v3_notice(event_type, resource)
    try:
        answer = requests.post(url, data=payload, timeout=10,
                               headers={**headers, "Content-Type": "application/json"})  # fmt: skip
    except requests.RequestException as exc:
        return 502, {}, error(-1, f"notice not delivered: {exc.__class__.__name__}")
    sent = {"url": url, "event_type": event_type, "resource": resource,
            "status": answer.status_code, "answer": answer.text}  # fmt: skip
    with fake.lock:
        fake.data.setdefault("pay_v3_sent", []).append(sent)
    return {"errcode": 0, "errmsg": "ok", **sent}
