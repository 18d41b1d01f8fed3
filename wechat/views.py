"""WeChat's callbacks (official account, Pay notices) and the OAuth return.

Callbacks verify first (constant-time signature, timestamp freshness), deduplicate by
WeChat's id (it retries three times, five seconds apart), and answer at once: anything
slow (asking WeChat about a follower) goes to a task after the commit.
"""

import logging
import time

import xmltodict
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from wechatpy import parse_message
from wechatpy.replies import TextReply

from loyalty.errors import LoyaltyError

from . import client, replies
from .models import Follower
from .oauth import oauth_return
from .services import PayNoticeRejected, callback_claim, callback_nonce_claim, pay_notice_record

log = logging.getLogger(__name__)
OPENID_MAX = Follower._meta.get_field("openid").max_length


class Refused(Exception):
    """A callback answered with a 4xx and a plain-text reason."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason

    def response(self) -> HttpResponse:
        return HttpResponse(
            self.reason, status=self.status, content_type="text/plain; charset=utf-8"
        )


def _fresh(timestamp: str) -> bool:
    try:
        return abs(time.time() - int(timestamp)) <= settings.WECHAT_CALLBACK_MAX_AGE
    except (TypeError, ValueError, OverflowError):
        return False


def _verify(request) -> str:
    """The URL signature (token, timestamp, nonce) and the timestamp's age, or 403.

    Returns the signature, which stands for the URL's (timestamp, nonce).
    """
    q = request.GET
    expected = client.callback_signature(settings.WECHAT_TOKEN, q.get("timestamp", ""),
                                         q.get("nonce", ""))  # fmt: skip
    if not settings.WECHAT_TOKEN or not client.signature_matches(expected, q.get("signature")):
        raise PermissionDenied("bad signature")
    if not _fresh(q.get("timestamp")):
        raise PermissionDenied("stale timestamp")
    return expected


def _decrypt(request) -> tuple[str, bool]:
    """The message XML and whether it came encrypted (safe mode); 403 or 400 if not."""
    q = request.GET
    if not settings.WECHAT_AES_KEY:
        try:
            return request.body.decode("utf-8"), False
        except UnicodeDecodeError:
            raise Refused(400, _("The message is not UTF-8 text.")) from None
    if q.get("encrypt_type") != "aes":
        raise PermissionDenied("plain message in safe mode")
    try:
        envelope = xmltodict.parse(request.body, disable_entities=True)
        encrypt = envelope["xml"]["Encrypt"]
    except Exception:  # expat errors, entities refused, another shape: not safe mode's
        encrypt = None
    if not isinstance(encrypt, str):
        raise Refused(400, _("The message is not a safe-mode envelope."))
    timestamp, nonce = q.get("timestamp", ""), q.get("nonce", "")
    expected = client.callback_signature(settings.WECHAT_TOKEN, timestamp, nonce, encrypt)
    if not client.signature_matches(expected, q.get("msg_signature")):
        raise PermissionDenied("bad msg_signature")
    crypto = client.crypto()  # outside the try: a bad WECHAT_AES_KEY is ours (check --deploy)
    try:
        return crypto.decrypt_message({"Encrypt": encrypt}, expected, timestamp, nonce), True
    except Exception:  # base64, AES blocks, length prefix, UTF-8, app id: garbage decrypted
        raise Refused(400, _("The encrypted message cannot be decrypted.")) from None


def _dedupe_key(message) -> str:
    msg_id = getattr(message, "id", None)
    if message.type != "event" and msg_id:
        return f"msg:{msg_id}"
    event = getattr(message, "event", message.type)
    return f"event:{message.source}:{message.create_time.timestamp():.0f}:{event}"


def _parse(xml: str):
    """(message, dedupe key), or None for what is no message we can act on.

    wechatpy converts fields lazily (CreateTime, MsgId) and hands nested elements over
    as dicts: everything the replies read is converted and checked here, once.
    """
    try:
        message = parse_message(xml)
        key = _dedupe_key(message)
        fields = [getattr(message, name, None) for name in ("content", "key", "scene_id")]
        source, target = message.source, message.target
    except Exception:  # expat errors, no MsgType, a CreateTime or MsgId that is no number
        return None
    if not (isinstance(source, str) and 0 < len(source) <= OPENID_MAX):
        return None  # no openid: nobody to answer, nothing to record
    if not all(isinstance(field, str | None) for field in [target, *fields]):
        return None
    return message, key


@csrf_exempt
@require_http_methods(["GET", "POST"])
def callback(request):
    try:
        return _callback(request)
    except Refused as refused:
        log.warning("WeChat callback refused: %s", refused.reason)
        return refused.response()


def _callback(request):
    signature = _verify(request)
    if not callback_nonce_claim(signature=signature, body=request.body):
        raise Refused(403, _("This signed callback URL was already used for another message."))
    if request.method == "GET":  # WeChat checking the server URL: echo
        return HttpResponse(request.GET.get("echostr", ""), content_type="text/plain")
    xml, encrypted = _decrypt(request)
    parsed = _parse(xml)
    if parsed is None:  # malformed XML from a signed sender: nothing to do
        log.warning("unparseable WeChat callback")
        return HttpResponse("success", content_type="text/plain")
    message, key = parsed
    with transaction.atomic():
        if not callback_claim(key=key, kind=message.type):
            return HttpResponse("success", content_type="text/plain")  # a retry
        text = replies.handle(message)
    if not text:
        return HttpResponse("success", content_type="text/plain")
    reply = TextReply(message=message, content=text).render()
    if encrypted:
        reply = client.crypto().encrypt_message(reply, request.GET.get("nonce", ""))
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
