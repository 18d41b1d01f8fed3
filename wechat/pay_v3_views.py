"""/wechat/pay/v3/notify/: WeChat Pay API v3 notices (payments and refunds).

Verify (pay_v3.notice_open: WeChat Pay's key, 5 minutes, the resource's GCM tag), claim
the nonce (a nonce comes with one body), record once (pay_v3_services), and answer as v3
expects: 204 with no body when WeChat may stop; otherwise a 4xx or 5xx with
{"code": "FAIL", "message": ...}, and WeChat sends the notice again later.
"""

import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from loyalty.errors import LoyaltyError

from . import pay_v3, pay_v3_services
from .services import PayNoticeRejected

log = logging.getLogger(__name__)


def _fail(status: int, message: str) -> JsonResponse:
    return JsonResponse({"code": "FAIL", "message": message}, status=status)


@csrf_exempt
@require_POST
def notify(request):
    """A v3 notice: 204 once it is recorded (or needs nothing), 4xx/5xx FAIL otherwise."""
    body = request.body
    try:
        notice = pay_v3.notice_open(request.headers, body)
    except pay_v3.NotConfigured as exc:
        log.error("WeChat Pay v3 notice not handled: %s", exc)
        return _fail(503, "not configured")
    except pay_v3.NoticeRefused as exc:
        log.warning("WeChat Pay v3 notice refused: %s", exc.reason)
        return _fail(exc.status, exc.reason)
    if not pay_v3_services.nonce_claim(nonce=notice.nonce, body=body):
        log.warning("WeChat Pay v3 notice %s refused: nonce reused", notice.id)
        return _fail(401, "nonce already used for another notice")
    try:
        pay_v3_services.notice_record(
            notice=notice, app_id=settings.WECHAT_APP_ID, mch_id=settings.WECHAT_MCH_ID
        )
    except PayNoticeRejected as exc:
        log.warning("WeChat Pay v3 notice %s refused: %s", notice.id, exc)
        return _fail(400, str(exc))
    except (LoyaltyError, ValidationError) as exc:
        # A rule said no (a reference used for another amount, the stored-value cap, a
        # refund larger than what is left): retrying will not change that; the log
        # keeps it for staff, as for v2 notices.
        log.error("WeChat Pay v3 notice %s not recorded: %s", notice.id, exc)
    return HttpResponse(status=204)
