"""Tencent Cloud SMS's reply callback (短信回复, 上行短信): POST /sms/inbound/?token=...

Tencent posts one JSON object per reply: {"extend", "mobile", "nationcode", "sign",
"text", "time"}, and expects {"result": 0, "errmsg": "OK"}. The callback URL set in
the Tencent console carries SMS_INBOUND_TOKEN as ?token= (the push is not signed);
without the right token: 403. A body that is not such an object: 400, never a 500.
"""

import hmac
import json
import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .sms_replies import sms_reply_record

log = logging.getLogger("huiyuan.sms")


def _answer(result: int, errmsg: str, status: int = 200) -> JsonResponse:
    return JsonResponse({"result": result, "errmsg": errmsg}, status=status)


def _phone_of(reply: dict) -> str:
    mobile = str(reply["mobile"]).strip()
    code = str(reply.get("nationcode") or "").strip().lstrip("+")
    if mobile.startswith("+") or not code:
        return mobile
    return f"+{code}{mobile}"


def _is_reply(reply) -> bool:
    return (
        isinstance(reply, dict)
        and isinstance(reply.get("mobile"), str | int)
        and not isinstance(reply.get("mobile"), bool)
        and str(reply["mobile"]).strip() != ""
        and isinstance(reply.get("text"), str)
    )


@csrf_exempt
@require_POST
def inbound(request):
    token = settings.SMS_INBOUND_TOKEN
    given = request.GET.get("token", "")
    if not token or not hmac.compare_digest(given.encode(), token.encode()):
        return _answer(1, "forbidden", status=403)
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return _answer(1, "body is not JSON", status=400)
    # One object per reply, as documented; a list of them is taken as well.
    replies = body if isinstance(body, list) else [body]
    if not replies or not all(_is_reply(r) for r in replies):
        return _answer(1, "expected an object with mobile and text", status=400)
    try:
        phones = [_phone_of(r) for r in replies]
        outcomes = [
            sms_reply_record(phone=phone, text=r["text"])
            for phone, r in zip(phones, replies, strict=True)
        ]
    except ValidationError:
        return _answer(1, "mobile is not a mobile number", status=400)
    log.info("SMS reply callback: %s", ", ".join(outcomes))
    return _answer(0, "OK")
