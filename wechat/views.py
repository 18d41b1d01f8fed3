"""WeChat's callbacks (official account, Pay notices) and the OAuth return.

Callbacks verify first (constant-time signature, timestamp freshness), deduplicate by
WeChat's id (it retries three times, five seconds apart), and answer at once: anything
slow (asking WeChat about a follower) goes to a task after the commit.
"""

import logging
import time

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from wechatpy import parse_message
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import TextReply

from loyalty.errors import LoyaltyError

from . import client, replies
from .oauth import oauth_return
from .services import PayNoticeRejected, callback_claim, pay_notice_record

log = logging.getLogger(__name__)


def _fresh(timestamp: str) -> bool:
    try:
        return abs(time.time() - int(timestamp)) <= settings.WECHAT_CALLBACK_MAX_AGE
    except (TypeError, ValueError):
        return False


def _verify(request) -> None:
    """The URL signature (token, timestamp, nonce) and the timestamp's age, or 403."""
    q = request.GET
    expected = client.callback_signature(settings.WECHAT_TOKEN, q.get("timestamp", ""),
                                         q.get("nonce", ""))  # fmt: skip
    if not settings.WECHAT_TOKEN or not client.signature_matches(expected, q.get("signature")):
        raise PermissionDenied("bad signature")
    if not _fresh(q.get("timestamp")):
        raise PermissionDenied("stale timestamp")


def _decrypt(request) -> tuple[str, bool]:
    """The message XML and whether it came encrypted (safe mode), or 403."""
    q = request.GET
    if not settings.WECHAT_AES_KEY:
        return request.body.decode("utf-8"), False
    if q.get("encrypt_type") != "aes":
        raise PermissionDenied("plain message in safe mode")
    try:
        import xmltodict

        encrypt = xmltodict.parse(request.body, disable_entities=True)["xml"]["Encrypt"]
        expected = client.callback_signature(
            settings.WECHAT_TOKEN, q.get("timestamp", ""), q.get("nonce", ""), encrypt
        )
        if not client.signature_matches(expected, q.get("msg_signature")):
            raise PermissionDenied("bad msg_signature")
        return client.crypto().decrypt_message(
            request.body, q["msg_signature"], q["timestamp"], q["nonce"]
        ), True
    except (KeyError, TypeError, ValueError, InvalidSignatureException, InvalidAppIdException) as e:
        raise PermissionDenied("cannot decrypt") from e


def _dedupe_key(message) -> str:
    msg_id = getattr(message, "id", None)
    if message.type != "event" and msg_id:
        return f"msg:{msg_id}"
    event = getattr(message, "event", message.type)
    return f"event:{message.source}:{message.create_time.timestamp():.0f}:{event}"


@csrf_exempt
@require_http_methods(["GET", "POST"])
def callback(request):
    _verify(request)
    if request.method == "GET":  # WeChat checking the server URL: echo
        return HttpResponse(request.GET.get("echostr", ""), content_type="text/plain")
    xml, encrypted = _decrypt(request)
    try:
        message = parse_message(xml)
    except Exception:  # malformed XML from a signed sender: nothing to do
        log.warning("unparseable WeChat callback")
        return HttpResponse("success", content_type="text/plain")
    with transaction.atomic():
        if not callback_claim(key=_dedupe_key(message), kind=message.type):
            return HttpResponse("success", content_type="text/plain")  # a retry
        text = replies.handle(message)
    if not text:
        return HttpResponse("success", content_type="text/plain")
    reply = TextReply(message=message, content=text).render()
    if encrypted:
        reply = client.crypto().encrypt_message(reply, request.GET["nonce"])
    return HttpResponse(reply, content_type="application/xml")


def _pay_answer(code: str, msg: str) -> HttpResponse:
    body = (f"<xml><return_code><![CDATA[{code}]]></return_code>"
            f"<return_msg><![CDATA[{msg}]]></return_msg></xml>")  # fmt: skip
    return HttpResponse(body, content_type="application/xml")


@csrf_exempt
@require_POST
def pay_notify(request):
    """WeChat Pay (v2) result notice: verify, record once, answer SUCCESS (or FAIL)."""
    try:
        data = client.pay_notice_parse(request.body)
    except client.InvalidSignature as exc:
        log.warning("WeChat Pay notice refused: %s", exc)
        return _pay_answer("FAIL", "invalid signature")
    try:
        pay_notice_record(data=data, app_id=settings.WECHAT_APP_ID, mch_id=settings.WECHAT_MCH_ID)
    except PayNoticeRejected as exc:
        log.warning("WeChat Pay notice %s refused: %s", data.get("transaction_id"), exc)
        return _pay_answer("FAIL", str(exc))
    except (LoyaltyError, ValidationError) as exc:
        # A rule said no (e.g. the reference was used for another amount): retrying will
        # not change that, so WeChat may stop; the log keeps it for staff.
        log.error("WeChat Pay notice %s not recorded: %s", data.get("transaction_id"), exc)
    return _pay_answer("SUCCESS", "OK")


@require_GET
def oauth(request):
    """WeChat sends the browser back here with ?code=&state= after snsapi_base."""
    return redirect(oauth_return(request))
