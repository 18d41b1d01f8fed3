"""The mini-program's member API at /api/mp/v1/ (Django Ninja; OpenAPI at
/api/mp/v1/openapi.json, docs at /api/mp/v1/docs).

Log in with wx.login()'s code (POST /login): the answer is a session token (send it as
`Authorization: Bearer <token>`), and the member the WeChat user is, or `"member": null`
with the registration step (POST /register with the phone number button's code). The
member endpoints are the member centre's (/me/): the same figures, the same rules.

Errors are JSON `{"code": ..., "message": ...}` in the request's language
(Accept-Language): 400 validation or a code WeChat refused, 401 no or a bad token
(`unauthorized`, `token_expired`, `token_revoked`: log in again), 403
`registration_required`, 404 unknown, 409 conflict (`already_checked_in`,
`privacy_notice_changed`), 422 business rule (`not_enough_points`, ...), 429
`rate_limited` and 503 `wechat_unavailable`, both with Retry-After. Money is a string of
yuan ("12.50"), points are integers.
"""

import secrets
from typing import Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from ninja import NinjaAPI, Path, Query, Status
from ninja.errors import AuthenticationError
from ninja.security import HttpBearer

from loyalty.api import StrictJSON
from loyalty.api_base import ErrorOut, shared_error_handlers
from loyalty.benefits.engagement import checkin
from loyalty.benefits.rewards import available_rewards, reward_redeem
from loyalty.centre.views import card_summary, coupons_of, dynamic_code_state
from loyalty.ledger import card_seen
from loyalty.models import PointsEntry, Redemption, Reward
from loyalty.selectors import card_of
from members.member_auth import client_ip
from members.member_forms import JoinContextForm
from members.models import Member
from members.privacy import current_notice

from ..client import WeChatError
from . import client as mp
from . import schemas as s
from .models import MiniProgramToken
from .ratelimit import RateLimited, rate_check_address, rate_check_member
from .services import (
    TOKEN_PREFIX,
    MiniProgramError,
    active_member,
    mp_login,
    mp_logout,
    mp_register,
)

PAGE_SIZE = 20
TOUCH_SECONDS = 60  # last_used_at: at most one write a minute per token
RETRY_WECHAT = 30  # seconds: Retry-After when WeChat is down
MAX_ID = 2**31 - 1


class TokenExpired(MiniProgramError):
    code = "token_expired"
    status = 401


class TokenRevoked(MiniProgramError):
    code = "token_revoked"
    status = 401


class InvalidCode(MiniProgramError):
    """WeChat refused wx.login()'s code: `errcode` and `errmsg` say how."""

    code = "invalid_code"


class InvalidPhoneCode(MiniProgramError):
    code = "invalid_phone_code"


class RegistrationRequired(MiniProgramError):
    code = "registration_required"
    status = 403


class MiniProgramAuth(HttpBearer):
    """`Authorization: Bearer <token>` from POST /login. Every request counts against its
    address's limit (before the token is looked up), then its member's."""

    def __call__(self, request):
        rate_check_address(client_ip(request))
        return super().__call__(request)

    def authenticate(self, request, token):
        if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
            return None
        row = (
            MiniProgramToken.objects.select_related("user__member")
            .filter(token_hash=MiniProgramToken.hash(token))
            .first()
        )
        if row is None:
            return None
        now = timezone.now()
        if row.revoked_at is not None:
            raise TokenRevoked(_("Your session was ended. Please log in again."))
        if row.expires_at <= now:
            raise TokenExpired(_("Your session has expired. Please log in again."))
        member = active_member(row.user)
        rate_check_member(f"{member.pk}" if member else f"u{row.user_id}")
        if row.last_used_at is None or (now - row.last_used_at).total_seconds() > TOUCH_SECONDS:
            MiniProgramToken.objects.filter(pk=row.pk).update(last_used_at=now)
        request.mp_user, request.mp_member = row.user, member
        return row


api = NinjaAPI(
    title="Huiyuan mini-program API",
    version="1",
    description=__doc__,
    auth=MiniProgramAuth(),
    parser=StrictJSON(),
    urls_namespace="api-mp-v1",
)


def _error(request, http_status: int, code: str, message: str, /, retry_after=None, **details):
    response = api.create_response(
        request, {"code": code, "message": message, **details}, status=http_status
    )
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


@api.exception_handler(DjangoValidationError)
def on_invalid_value(request, exc):
    fields = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    return _error(request, 400, "validation_error", " ".join(exc.messages), errors=fields)


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request, exc):
    return _error(
        request,
        401,
        "unauthorized",
        _("Log in first: a valid session token is required (Authorization: Bearer …)."),
    )


@api.exception_handler(MiniProgramError)
def on_refused(request, exc):
    return _error(request, exc.status, exc.code, exc.message, **exc.details)


@api.exception_handler(RateLimited)
def on_rate_limited(request, exc):
    message = _("Too many requests. Please try again in %(n)d seconds.") % {"n": exc.retry_after}
    return _error(request, 429, "rate_limited", message, retry_after=exc.retry_after)


@api.exception_handler(WeChatError)
def on_wechat_down(request, exc):
    message = _("WeChat could not be reached. Please try again shortly.")
    return _error(request, 503, "wechat_unavailable", message, retry_after=RETRY_WECHAT)


@api.exception_handler(mp.NotConfigured)
def on_not_configured(request, exc):
    message = _("The mini-program is not set up on this server.")
    return _error(request, 503, "mp_not_configured", message)


shared_error_handlers(api, _error)  # validation, 404, business rules, unparsable bodies


def _refused(exc: WeChatError, what: str) -> Exception:
    """A code WeChat refused (not WeChat down: a 503), as the API's error: 400 with
    WeChat's errcode in words; its frequency limit a 429."""
    if exc.errcode == mp.TOO_FREQUENT:
        return RateLimited(60)
    if exc.errcode == mp.CODE_USED:
        reason = _("it was already used")
    elif exc.errcode == mp.INVALID_CODE:
        reason = _("it is not valid, has expired or was already used")
    else:
        reason = exc.errmsg or "?"
    if what == "login":
        error = InvalidCode
        message = _("WeChat refused the login code: %(reason)s (errcode %(errcode)s).")
    else:
        error = InvalidPhoneCode
        message = _("WeChat refused the phone number code: %(reason)s (errcode %(errcode)s).")
    params = {"reason": reason, "errcode": exc.errcode}
    return error(message % params, errcode=exc.errcode, errmsg=exc.errmsg)


def _member(request) -> Member:
    if request.mp_member is None:
        raise RegistrationRequired(_("Please register as a member first."))
    return request.mp_member


def _registration_step() -> dict:
    notice = current_notice()
    return {
        "endpoint": reverse("api-mp-v1:register"),
        "privacy_notice": {
            "version": notice.version,
            "title": str(notice.title),
            "paragraphs": [str(p) for p in notice.paragraphs],
        },
    }


# --- session ----------------------------------------------------------------------------

ERRORS = {400: ErrorOut, 401: ErrorOut, 429: ErrorOut}
WECHAT_ERRORS = {400: ErrorOut, 429: ErrorOut, 503: ErrorOut}
MEMBER_ERRORS = {401: ErrorOut, 403: ErrorOut, 429: ErrorOut}


@api.post(
    "/login",
    auth=None,
    response={200: s.LoginOut, **WECHAT_ERRORS},
    summary="Log in with wx.login()'s code: a session token, and the member or null",
)
def login(request, payload: s.LoginIn):
    rate_check_address(client_ip(request))
    try:
        done = mp_login(code=payload.code)
    except WeChatError as exc:
        if exc.unavailable:
            raise  # 503
        raise _refused(exc, "login") from exc
    member = done.member
    return {
        "token": done.token,
        "expires_at": timezone.localtime(done.expires_at),
        "member": s.member_brief(member) if member else None,
        "registration": None if member else _registration_step(),
    }


@api.post(
    "/register",
    response={200: s.RegisterOut, 201: s.RegisterOut, 409: ErrorOut, **ERRORS, 503: ErrorOut},
    summary="Become a member with the phone WeChat gives (a member's phone binds to them)",
)
def register(request, payload: s.RegisterIn):
    context = JoinContextForm(
        {"store": payload.store or "", "staff": payload.guide or "", "ref": payload.ref or ""}
    ).context()  # as /join/'s query string: anything unknown is ignored
    try:
        member, created = mp_register(
            user=request.mp_user,
            phone_code=payload.phone_code,
            consent_version=payload.consent_version or "",
            name=payload.name,
            marketing_consent=payload.marketing_consent,
            **context,
        )
    except WeChatError as exc:
        if exc.unavailable:
            raise  # 503
        raise _refused(exc, "phone") from exc
    return Status(201 if created else 200, {"member": s.member_brief(member), "created": created})


@api.post("/logout", response={200: s.LoggedOut, **ERRORS}, summary="End this session")
def logout(request):
    mp_logout(token=request.auth)
    return {"logged_out": True}


# --- the member centre ---------------------------------------------------------------------


@api.get("/me", response={200: s.MeOut, **MEMBER_ERRORS}, summary="The card: code, tier, points")
def me(request):
    member = _member(request)
    now = timezone.now()
    card_seen(member.pk, now=now)  # a visit keeps the member "active", as /me/ does
    coupons = coupons_of(member, "usable", now)[:50]
    return s.me_out(member, card_summary(member, now), dynamic_code_state(member, now), coupons)


@api.get(
    "/code",
    response={200: s.DynamicCodeOut, **MEMBER_ERRORS},
    summary="The dynamic member code alone: ask again when seconds_left runs out",
)
def code(request):
    state = dynamic_code_state(_member(request))
    return {k: state[k] for k in ("code", "display", "seconds_left", "used")}


@api.get("/points", response={200: s.PointsPageOut, **MEMBER_ERRORS}, summary="Points history")
def points(request, page: int = Query(1, ge=1, le=100_000)):
    member = _member(request)
    entries = PointsEntry.objects.filter(member=member).order_by("-created_at", "-id")
    shown = Paginator(entries, PAGE_SIZE).get_page(page)
    return {
        "balance": card_of(member).points_balance,
        "page": shown.number,
        "pages": shown.paginator.num_pages,
        "entries": [s.entry_out(entry) for entry in shown],
    }


@api.get("/coupons", response={200: s.CouponsPageOut, **MEMBER_ERRORS}, summary="Coupons")
def coupons(
    request,
    status: Literal["usable", "used", "expired"] = "usable",
    page: int = Query(1, ge=1, le=100_000),
):
    member = _member(request)
    shown = Paginator(coupons_of(member, status, timezone.now()), PAGE_SIZE).get_page(page)
    return {
        "status": status,
        "page": shown.number,
        "pages": shown.paginator.num_pages,
        "coupons": [s.coupon_out(coupon) for coupon in shown],
    }


@api.post(
    "/checkin",
    response={200: s.CheckinOut, 409: ErrorOut, 422: ErrorOut, **MEMBER_ERRORS},
    summary="Check in for today (Shanghai): once a day",
)
def do_checkin(request):
    member = _member(request)
    row = checkin(member=member)
    text = ngettext(
        "Checked in: +%(points)d points. %(n)d day in a row.",
        "Checked in: +%(points)d points. %(n)d days in a row.",
        row.streak,
    )
    return {
        "day": row.day,
        "streak": row.streak,
        "points": row.points,
        "bonus_points": row.bonus_points,
        "coupon": s.coupon_out(row.coupon) if row.coupon_id else None,
        "points_balance": card_of(member).points_balance,
        "message": text % {"points": row.points + row.bonus_points, "n": row.streak},
    }


@api.get("/rewards", response={200: s.RewardsOut, **MEMBER_ERRORS}, summary="Rewards catalog")
def rewards(request):
    member = _member(request)
    balance = card_of(member).points_balance
    mine = (
        Redemption.objects.filter(member=member)
        .select_related("reward", "coupon__template")
        .prefetch_related("coupon__template__stores")
        .order_by("-created_at", "-id")[:20]
    )
    return {
        "points_balance": balance,
        "rewards": [s.reward_out(request, item, balance) for item in available_rewards()],
        "redemptions": [s.redemption_out(redemption) for redemption in mine],
    }


@api.post(
    "/rewards/{reward_id}/redeem",
    response={
        200: s.RedeemOut,
        201: s.RedeemOut,
        404: ErrorOut,
        409: ErrorOut,
        422: ErrorOut,
        **MEMBER_ERRORS,
    },  # fmt: skip
    summary="Redeem points for a reward (idempotent on idempotency_key)",
)
def redeem(request, reward_id: int = Path(..., ge=1, le=MAX_ID), payload: s.RedeemIn | None = None):
    member = _member(request)
    reward = Reward.objects.filter(pk=reward_id).first()
    if reward is None:
        raise Http404(_("No reward with that id."))
    key = (payload and payload.idempotency_key) or secrets.token_urlsafe(16)
    redemption, created = reward_redeem(member=member, reward=reward, key=f"mp:{member.pk}:{key}")
    out = {**s.redemption_out(redemption), "points_balance": card_of(member).points_balance}
    return Status(201 if created else 200, out)
