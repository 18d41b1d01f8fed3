"""The POS / online mall JSON API at /api/v1/ (Django Ninja; OpenAPI at /api/v1/openapi.json).

Errors are JSON `{"code": ..., "message": ...}` in the request's language
(Accept-Language): 400 validation, 401 auth, 403 another store's data, 404 unknown,
409 conflict, 422 business rule. Bad input is never a 500.
"""

import datetime as dt
from decimal import Decimal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, NinjaAPI, Schema, Status
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import HttpBearer
from pydantic import field_validator

from members import crypto
from members.models import Member
from members.phones import normalize_phone
from members.services import DuplicatePhone, member_create

from .models import ApiKey, Card, LoyaltySettings, Purchase
from .money import yuan_down
from .services import LoyaltyError, purchase_record, purchase_refund

API_KEY_TOUCH_SECONDS = 60


class StoreKeyAuth(HttpBearer):
    """`Authorization: Bearer <key>`; the key says which store is calling."""

    def authenticate(self, request, token):
        key = (
            ApiKey.objects.select_related("store")
            .filter(key_hash=ApiKey.hash(token), revoked_at__isnull=True, store__active=True)
            .first()
        )
        if key is None:
            return None
        now = timezone.now()
        # Touch last_used_at at most once a minute: not a write on every request.
        if (
            key.last_used_at is None
            or (now - key.last_used_at).total_seconds() > API_KEY_TOUCH_SECONDS
        ):
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        request.api_store = key.store
        return key


api = NinjaAPI(
    title="Huiyuan POS / mall API",
    version="1",
    description=__doc__,
    auth=StoreKeyAuth(),
    urls_namespace="api-v1",
)


def _error(request, status: int, code: str, message: str, **details):
    return api.create_response(
        request, {"code": code, "message": message, **details}, status=status
    )


@api.exception_handler(NinjaValidationError)
def on_invalid_request(request, exc):
    return _error(
        request, 400, "validation_error", _("The request is not valid."), errors=exc.errors
    )


@api.exception_handler(DjangoValidationError)
def on_invalid_value(request, exc):
    if isinstance(exc, DuplicatePhone):
        return _error(request, 409, "duplicate_phone", exc.messages[0], member_no=exc.member_no)
    fields = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    return _error(request, 400, "validation_error", " ".join(exc.messages), errors=fields)


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request, exc):
    return _error(
        request, 401, "unauthorized", _("A valid API key is required (Authorization: Bearer …).")
    )


@api.exception_handler(Http404)
def on_not_found(request, exc):
    return _error(request, 404, "not_found", str(exc) if str(exc) else _("Not found."))


@api.exception_handler(LoyaltyError)
def on_business_rule(request, exc):
    return _error(request, exc.status, exc.code, exc.message, **exc.details)


@api.exception_handler(HttpError)
def on_http_error(request, exc):
    return _error(request, exc.status_code, "error", str(exc))


# --- schemas ------------------------------------------------------------------


def _decimal_string(value):
    # Money travels as a decimal string ("38.50"); a JSON float is refused, since
    # 0.1 + 0.2 style binary fractions are exactly what money must not be.
    if isinstance(value, float):
        raise ValueError('send amounts as decimal strings, e.g. "38.50"')
    return value


class MemberOut(Schema):
    member_no: str
    name: str
    tier: str | None
    points_balance: int
    points_value: Decimal = Field(description="What the points pay, in yuan")
    coupons: list[dict] = Field(default_factory=list, description="Usable coupons")


class MemberIn(Schema):
    phone: str = Field(max_length=32)
    name: str = Field("", max_length=50)
    gender: str = Field("", pattern="^(M|F|)$")
    birthday: dt.date | None = None


class MemberCreated(Schema):
    member_no: str
    name: str
    tier: str | None


class ErrorOut(Schema):
    code: str
    message: str


class PurchaseIn(Schema):
    external_ref: str = Field(
        min_length=1, max_length=64, description="Your order number: the idempotency key"
    )
    member_no: str | None = Field(None, max_length=12)
    phone: str | None = Field(None, max_length=32)
    amount: Decimal = Field(description='Gross amount in yuan as a decimal string, e.g. "38.50"')
    category: str = Field("", max_length=40)
    points_to_use: int = Field(0, ge=0, le=10_000_000)
    coupon_code: str | None = Field(None, max_length=32)
    apply_tier_discount: bool | None = Field(
        None, description="null: when applicable; true: required"
    )
    occurred_at: dt.datetime | None = None

    _amount_is_string = field_validator("amount", mode="before")(_decimal_string)


class PurchaseOut(Schema):
    external_ref: str
    member_no: str
    amount: Decimal
    discount: Decimal
    tier_discount: Decimal
    coupon_discount: Decimal
    points_used: int
    points_value: Decimal
    cash_paid: Decimal
    points_earned: int
    points_balance: int
    tier: str
    occurred_at: dt.datetime


class RefundIn(Schema):
    amount: Decimal | None = Field(None, description="Yuan to refund; omitted: all that is left")
    refund_ref: str | None = Field(
        None, max_length=64, description="Idempotency key of this refund"
    )
    reason: str = Field("", max_length=255)

    _amount_is_string = field_validator("amount", mode="before")(_decimal_string)


class RefundOut(Schema):
    external_ref: str
    refunded: Decimal
    refunded_total: Decimal
    status: str
    points_clawed_back: int
    points_returned: int
    points_owed: int
    points_balance: int


# --- endpoints ------------------------------------------------------------------


def _member_by(*, phone: str | None = None, member_no: str | None = None) -> Member:
    if phone:
        e164 = normalize_phone(phone)
        query = Q(phone_hash=crypto.phone_hash(e164))
    elif member_no:
        query = Q(member_no=member_no.strip())
    else:
        raise DjangoValidationError(_("Give a phone or a member_no."))
    member = (
        Member.objects.filter(query, status=Member.Status.ACTIVE)
        .select_related("card__tier")
        .first()
    )
    if member is None:
        raise Http404(_("No member with that phone or number."))
    return member


def _member_out(member: Member) -> dict:
    card = getattr(member, "card", None) or Card(member=member)
    conf = LoyaltySettings.current()
    return {
        "member_no": member.member_no,
        "name": member.name,
        "tier": card.tier.name if card.tier else None,
        "points_balance": card.points_balance,
        "points_value": yuan_down(Decimal(card.points_balance) / conf.points_per_cash_yuan),
        "coupons": [],
    }


@api.get(
    "/members", response={200: MemberOut, 400: ErrorOut, 404: ErrorOut}, summary="Find a member"
)
def member_get(request, phone: str | None = None, member_no: str | None = None):
    return _member_out(_member_by(phone=phone, member_no=member_no))


@api.post(
    "/members",
    response={201: MemberCreated, 400: ErrorOut, 409: ErrorOut},
    summary="Register a member",
)
def member_register(request, payload: MemberIn):
    member = member_create(
        phone=payload.phone,
        name=payload.name,
        gender=payload.gender,
        birthday=payload.birthday,
        source=Member.Source.API,
        store=request.api_store,
    )
    card = Card.objects.select_related("tier").get(pk=member.pk)
    return 201, {
        "member_no": member.member_no,
        "name": member.name,
        "tier": card.tier.name if card.tier else None,
    }


def _purchase_out(purchase: Purchase) -> dict:
    return {
        "external_ref": purchase.external_ref,
        "member_no": purchase.member.member_no,
        "amount": purchase.gross_amount,
        "discount": purchase.tier_discount + purchase.coupon_discount,
        "tier_discount": purchase.tier_discount,
        "coupon_discount": purchase.coupon_discount,
        "points_used": purchase.points_used,
        "points_value": purchase.points_value,
        "cash_paid": purchase.cash_paid,
        "points_earned": purchase.points_earned,
        "points_balance": purchase.points_balance_after,
        "tier": purchase.tier_after,
        "occurred_at": purchase.occurred_at,
    }


def _clean_occurred_at(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    if timezone.is_naive(value):
        value = timezone.make_aware(value)  # a till's local clock: Asia/Shanghai
    if value > timezone.now() + dt.timedelta(minutes=5):
        raise DjangoValidationError({"occurred_at": [_("A purchase cannot be in the future.")]})
    return value


@api.post(
    "/purchases",
    response={
        200: PurchaseOut,
        201: PurchaseOut,
        400: ErrorOut,
        404: ErrorOut,
        409: ErrorOut,
        422: ErrorOut,
    },
    summary="Record a purchase (idempotent on external_ref)",
)
def purchase_create(request, payload: PurchaseIn):
    if payload.coupon_code:
        raise HttpError(422, _("Coupons are not enabled yet."))
    member = _member_by(phone=payload.phone, member_no=payload.member_no)
    purchase, created = purchase_record(
        member=member,
        amount=payload.amount,
        external_ref=payload.external_ref,
        store=request.api_store,
        category=payload.category,
        points_to_use=payload.points_to_use,
        apply_tier_discount=payload.apply_tier_discount,
        channel=Purchase.Channel.API,
        occurred_at=_clean_occurred_at(payload.occurred_at),
    )
    return Status(201 if created else 200, _purchase_out(purchase))


@api.post(
    "/purchases/{external_ref}/refund",
    response={
        200: RefundOut,
        400: ErrorOut,
        403: ErrorOut,
        404: ErrorOut,
        409: ErrorOut,
        422: ErrorOut,
    },
    summary="Refund all or part of a purchase",
)
def purchase_refund_view(request, external_ref: str, payload: RefundIn | None = None):
    payload = payload or RefundIn()
    purchase = get_object_or_404(
        Purchase.objects.select_related("member"), external_ref=external_ref
    )
    if purchase.store_id != request.api_store.pk:
        return _error(request, 403, "forbidden", _("This purchase was recorded by another store."))
    key = f"{external_ref}:refund:{payload.refund_ref}" if payload.refund_ref else None
    refund, _created = purchase_refund(
        purchase=purchase, amount=payload.amount, key=key, reason=payload.reason
    )
    purchase.refresh_from_db()
    return {
        "external_ref": external_ref,
        "refunded": refund.amount,
        "refunded_total": purchase.refunded_amount,
        "status": purchase.status,
        "points_clawed_back": refund.points_clawed_back,
        "points_returned": refund.points_returned,
        "points_owed": refund.points_debt,
        "points_balance": Card.objects.get(pk=purchase.member_id).points_balance,
    }
