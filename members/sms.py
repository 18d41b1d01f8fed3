"""SMS backends for one-time codes and marketing texts, chosen like Django's e-mail backends.

``settings.SMS_BACKEND`` names the class:

- ``members.sms.ConsoleBackend`` (default): writes the code or text to the server log;
  with ``SMS_SHOW_CODE`` (on when DEBUG) the page shows a code too. For development.
- ``members.sms.LocmemBackend``: keeps codes in ``members.sms.outbox`` and marketing
  texts in ``members.sms.marketing_outbox`` (tests).
- ``members.sms.TencentCloudBackend``: Tencent Cloud SMS, API 3.0 ``SendSms``
  (version 2021-01-11), signed with TC3-HMAC-SHA256; configured from ``SMS_TENCENT``.
  Codes use the code template and signature; marketing texts (营销短信, which carriers
  and Tencent keep apart from codes) ``SMS_MARKETING_TEMPLATE_ID`` and
  ``SMS_MARKETING_SIGN_NAME`` (empty: the code's signature), the text as the
  template's one parameter.

A backend raises SmsError when a message could not be sent; callers show a polite
"try again" and never a 500.
"""

import datetime as dt
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .phones import mask_phone

log = logging.getLogger("huiyuan.sms")


class SmsError(Exception):
    """The message was not sent (provider refused it, network down, bad configuration)."""


class BaseSmsBackend:
    # True only where the code never leaves this machine (console, tests): then a
    # development page may show it.
    reveals_code = False

    def send_code(self, *, phone: str, code: str, minutes: int) -> None:
        raise NotImplementedError

    def send_marketing(self, *, phone: str, text: str) -> None:
        raise NotImplementedError


class ConsoleBackend(BaseSmsBackend):
    reveals_code = True

    def send_code(self, *, phone: str, code: str, minutes: int) -> None:
        log.warning(
            "SMS (console backend) to %s: code %s, valid %d minutes",
            mask_phone(phone),
            code,
            minutes,
        )

    def send_marketing(self, *, phone: str, text: str) -> None:
        log.warning("SMS (console backend) marketing to %s: %s", mask_phone(phone), text)


@dataclass(frozen=True)
class SentCode:
    phone: str
    code: str
    minutes: int


@dataclass(frozen=True)
class SentMarketing:
    phone: str
    text: str


outbox: list[SentCode] = []
marketing_outbox: list[SentMarketing] = []


class LocmemBackend(BaseSmsBackend):
    """Keeps what it 'sends' in `outbox` (codes) and `marketing_outbox`, for tests."""

    reveals_code = True

    def send_code(self, *, phone: str, code: str, minutes: int) -> None:
        outbox.append(SentCode(phone=phone, code=code, minutes=minutes))

    def send_marketing(self, *, phone: str, text: str) -> None:
        marketing_outbox.append(SentMarketing(phone=phone, text=text))


# --- Tencent Cloud SMS ------------------------------------------------------------

TC3_ALGORITHM = "TC3-HMAC-SHA256"
TC3_SIGNED_HEADERS = "content-type;host"
SMS_API_VERSION = "2021-01-11"
JSON_CONTENT_TYPE = "application/json; charset=utf-8"


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac_sha256(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def tc3_authorization(
    *,
    secret_id: str,
    secret_key: str,
    service: str,
    host: str,
    payload: bytes,
    timestamp: int,
    content_type: str = JSON_CONTENT_TYPE,
) -> str:
    """The Authorization header of a TencentCloud API 3.0 POST (signature v3, TC3-HMAC-SHA256).

    Canonical request: method, URI "/", empty query, the signed headers
    (content-type and host, lower-case names), and the hex SHA-256 of the body.
    The signing key is derived from the secret key, the UTC date and the service.
    """
    date = dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).strftime("%Y-%m-%d")
    canonical_request = "\n".join(
        [
            "POST",
            "/",
            "",
            f"content-type:{content_type}\nhost:{host}\n",
            TC3_SIGNED_HEADERS,
            _sha256_hex(payload),
        ]
    )
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = "\n".join(
        [TC3_ALGORITHM, str(timestamp), scope, _sha256_hex(canonical_request.encode())]
    )
    key = _hmac_sha256(("TC3" + secret_key).encode(), date)
    key = _hmac_sha256(key, service)
    key = _hmac_sha256(key, "tc3_request")
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return (
        f"{TC3_ALGORITHM} Credential={secret_id}/{scope}, "
        f"SignedHeaders={TC3_SIGNED_HEADERS}, Signature={signature}"
    )


class TencentCloudBackend(BaseSmsBackend):
    """Tencent Cloud SMS ``SendSms``: one phone, a template and its parameters (a code and
    its minutes; or a marketing text)."""

    service = "sms"
    REQUIRED = ("secret_id", "secret_key", "sdk_app_id", "sign_name", "template_id")

    def __init__(self, **options):
        conf = {
            "marketing_template_id": getattr(settings, "SMS_MARKETING_TEMPLATE_ID", ""),
            "marketing_sign_name": getattr(settings, "SMS_MARKETING_SIGN_NAME", ""),
            **getattr(settings, "SMS_TENCENT", {}),
            **options,
        }
        missing = [k for k in self.REQUIRED if not conf.get(k)]
        if missing:
            raise ImproperlyConfigured(
                "Tencent Cloud SMS needs " + ", ".join(f"TENCENT_SMS_{k.upper()}" for k in missing)
            )
        self.conf = conf
        self.endpoint = conf.get("endpoint") or "https://sms.tencentcloudapi.com"
        self.region = conf.get("region") or "ap-guangzhou"
        self.timeout = float(conf.get("timeout") or 5)
        self.template_params = list(conf.get("template_params") or ["code", "minutes"])

    def send_code(self, *, phone: str, code: str, minutes: int, now: int | None = None) -> None:
        values = {"code": code, "minutes": str(minutes)}
        serial = self._send(
            phone,
            sign_name=self.conf["sign_name"],
            template_id=self.conf["template_id"],
            params=[values[name] for name in self.template_params],
            now=now,
        )
        log.info("SMS code sent to %s (serial %s)", mask_phone(phone), serial)

    def send_marketing(self, *, phone: str, text: str, now: int | None = None) -> None:
        template_id = self.conf.get("marketing_template_id")
        if not template_id:
            raise ImproperlyConfigured(
                "Tencent Cloud marketing SMS needs SMS_MARKETING_TEMPLATE_ID"
            )
        serial = self._send(
            phone,
            sign_name=self.conf.get("marketing_sign_name") or self.conf["sign_name"],
            template_id=template_id,
            params=[text],
            now=now,
        )
        log.info("marketing SMS sent to %s (serial %s)", mask_phone(phone), serial)

    def _send(
        self, phone: str, *, sign_name: str, template_id: str, params: list[str], now: int | None
    ) -> str:
        """One signed SendSms request to one phone; its serial number, or SmsError."""
        payload = {
            "PhoneNumberSet": [phone],
            "SmsSdkAppId": self.conf["sdk_app_id"],
            "SignName": sign_name,
            "TemplateId": template_id,
            "TemplateParamSet": params,
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        host = urlsplit(self.endpoint).netloc
        timestamp = int(now if now is not None else dt.datetime.now(tz=dt.UTC).timestamp())
        headers = {
            "Authorization": tc3_authorization(
                secret_id=self.conf["secret_id"],
                secret_key=self.conf["secret_key"],
                service=self.service,
                host=host,
                payload=body,
                timestamp=timestamp,
            ),
            "Content-Type": JSON_CONTENT_TYPE,
            "Host": host,
            "X-TC-Action": "SendSms",
            "X-TC-Version": SMS_API_VERSION,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": self.region,
        }
        try:
            response = requests.post(
                self.endpoint, data=body, headers=headers, timeout=self.timeout
            )
            answer = response.json().get("Response", {})
        except (requests.RequestException, ValueError, AttributeError) as exc:
            log.error("Tencent Cloud SMS unreachable or unreadable: %s", exc)
            raise SmsError("provider unreachable") from exc
        error = answer.get("Error")
        if error:
            log.error(
                "Tencent Cloud SMS refused the request: %s %s (RequestId %s)",
                error.get("Code"),
                error.get("Message"),
                answer.get("RequestId"),
            )
            raise SmsError(str(error.get("Code")))
        statuses = answer.get("SendStatusSet") or [{}]
        status = statuses[0]
        if status.get("Code") != "Ok":
            log.error(
                "Tencent Cloud SMS did not send to %s: %s %s (RequestId %s)",
                mask_phone(phone),
                status.get("Code"),
                status.get("Message"),
                answer.get("RequestId"),
            )
            raise SmsError(str(status.get("Code")))
        return status.get("SerialNo") or ""


def get_backend() -> BaseSmsBackend:
    return import_string(settings.SMS_BACKEND)()


def send_code(*, phone: str, code: str, minutes: int) -> BaseSmsBackend:
    """Send `code` to `phone` through the configured backend; returns the backend used.

    A backend that cannot start (settings missing: `check --deploy` says so too) is
    an SmsError like a provider's refusal: the customer is asked to try again later,
    the operator finds the reason in the log."""
    try:
        backend = get_backend()
    except ImproperlyConfigured as exc:
        log.error("SMS backend %s cannot start: %s", settings.SMS_BACKEND, exc)
        raise SmsError("backend not configured") from exc
    backend.send_code(phone=phone, code=code, minutes=minutes)
    return backend


def send_marketing(*, phone: str, text: str) -> BaseSmsBackend:
    """Send a marketing text (营销短信: the caller has checked the member's consent and
    ended it with the unsubscribe instruction) to `phone`; returns the backend used.

    A backend or a marketing template that is not configured is an SmsError, as in
    send_code: the outbox tries again later, the operator finds the reason in the log."""
    try:
        backend = get_backend()
        backend.send_marketing(phone=phone, text=text)
    except ImproperlyConfigured as exc:
        log.error("SMS backend %s cannot send marketing: %s", settings.SMS_BACKEND, exc)
        raise SmsError("backend not configured") from exc
    return backend
