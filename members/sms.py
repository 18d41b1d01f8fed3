"""SMS backends for one-time codes and marketing texts, chosen like Django's e-mail backends.

``settings.SMS_BACKEND`` names the class:

- ``members.sms.ConsoleBackend`` (default): writes the code or text to the server log;
  with ``SMS_SHOW_CODE`` (on when DEBUG) the page shows a code too. For development.
- ``members.sms.LocmemBackend``: keeps codes in ``members.sms.outbox`` and marketing
  texts in ``members.sms.marketing_outbox`` (tests).
- ``members.sms.TencentCloudBackend``: Tencent Cloud SMS, API 3.0 ``SendSms``
  (version 2021-01-11) through the official SDK ``tencentcloud-sdk-python-sms`` (which
  signs the request, TC3-HMAC-SHA256); configured from ``SMS_TENCENT``.
  Codes use the code template and signature; marketing texts (营销短信, which carriers
  and Tencent keep apart from codes) ``SMS_MARKETING_TEMPLATE_ID`` and
  ``SMS_MARKETING_SIGN_NAME`` (empty: the code's signature), the text as the
  template's one parameter.

A backend raises SmsError when a message could not be sent; callers show a polite
"try again" and never a 500.
"""

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.sms.v20210111 import models as sms_models
from tencentcloud.sms.v20210111 import sms_client

from .phones import mask_phone

log = logging.getLogger("huiyuan.sms")

DEFAULT_ENDPOINT = "https://sms.tencentcloudapi.com"


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


class TencentCloudBackend(BaseSmsBackend):
    """Tencent Cloud SMS ``SendSms`` through the official SDK (``tencentcloud-sdk-python-sms``,
    which signs the request): one phone, a template and its parameters (a code and its
    minutes; or a marketing text).

    ``SMS_TENCENT["endpoint"]`` is a URL (default ``https://sms.tencentcloudapi.com``);
    its scheme and host go to the SDK's HttpProfile, so a test can point it at a local
    fake over http. ``timeout`` (seconds, default 5) bounds each request; the SDK does
    not retry."""

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
        endpoint = urlsplit(conf.get("endpoint") or DEFAULT_ENDPOINT)
        if endpoint.scheme not in ("http", "https") or not endpoint.netloc:
            raise ImproperlyConfigured(
                "TENCENT_SMS_ENDPOINT must be a URL like https://sms.tencentcloudapi.com"
            )
        self.conf = conf
        self.template_params = list(conf.get("template_params") or ["code", "minutes"])
        timeout = float(conf.get("timeout") or 5)
        http = HttpProfile(
            protocol=endpoint.scheme,
            endpoint=endpoint.netloc,
            reqMethod="POST",
            reqTimeout=timeout,
        )
        self.client = sms_client.SmsClient(
            credential.Credential(conf["secret_id"], conf["secret_key"]),
            conf.get("region") or "ap-guangzhou",
            ClientProfile(signMethod="TC3-HMAC-SHA256", httpProfile=http),
        )

    def send_code(self, *, phone: str, code: str, minutes: int) -> None:
        values = {"code": code, "minutes": str(minutes)}
        serial = self._send(
            phone,
            sign_name=self.conf["sign_name"],
            template_id=self.conf["template_id"],
            params=[values[name] for name in self.template_params],
        )
        log.info("SMS code sent to %s (serial %s)", mask_phone(phone), serial)

    def send_marketing(self, *, phone: str, text: str) -> None:
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
        )
        log.info("marketing SMS sent to %s (serial %s)", mask_phone(phone), serial)

    def _send(self, phone: str, *, sign_name: str, template_id: str, params: list[str]) -> str:
        """One SendSms request to one phone (E.164); its serial number, or SmsError."""
        request = sms_models.SendSmsRequest()
        request.PhoneNumberSet = [phone]
        request.SmsSdkAppId = self.conf["sdk_app_id"]
        request.SignName = sign_name
        request.TemplateId = template_id
        request.TemplateParamSet = params
        try:
            answer = self.client.SendSms(request)
        except TencentCloudSDKException as exc:
            # The provider's refusal (its error code, e.g. AuthFailure.SignatureFailure), or
            # the SDK's own ClientNetworkError / ServerNetworkError / unreadable answer.
            log.error(
                "Tencent Cloud SMS failed: %s %s (RequestId %s)",
                exc.get_code(),
                exc.get_message(),
                exc.get_request_id(),
            )
            raise SmsError(str(exc.get_code())) from exc
        except (ValueError, KeyError, TypeError) as exc:  # an answer that is not the API's
            log.error("Tencent Cloud SMS answer unreadable: %s", exc)
            raise SmsError("provider answer unreadable") from exc
        status = (answer.SendStatusSet or [None])[0]
        if status is None or status.Code != "Ok":
            log.error(
                "Tencent Cloud SMS did not send to %s: %s %s (RequestId %s)",
                mask_phone(phone),
                getattr(status, "Code", None),
                getattr(status, "Message", None),
                answer.RequestId,
            )
            raise SmsError(str(getattr(status, "Code", None) or "no send status"))
        return status.SerialNo or ""


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
