"""The POS / online mall JSON API at /api/v1/ (Django Ninja; OpenAPI at /api/v1/openapi.json).

Errors are JSON `{"code": ..., "message": ...}` in the request's language
(Accept-Language): 400 validation, 401 auth, 403 another store's data, 404 unknown,
409 conflict, 422 business rule, 429 too many SMS codes, 503 SMS not sent. Bad input
is never a 500.

A key belongs to one store of the merchant. Members and coupons are the chain's: any
store's key finds a member by an exact phone, member_no or member_code, and reads and
redeems any member's coupon by its code (the purchase is recorded at the key's store).
Purchases are the store's: reading or refunding another store's purchase is 403.

Members found by `member_code`, the dynamic code of their member centre (18 digits,
changes every minute, valid for two, one purchase each), are at the till. Spending
points, stored value or a count card of a member found only by phone or member_no
needs their `confirmation_code` (the pay code of their member centre, or the SMS code
POST /confirmation-codes sends) while the merchant's setting "spending needs a dynamic
code" is on: else 422 `confirmation_required`.
"""

import datetime as dt
import hashlib
import json
from decimal import Decimal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, NinjaAPI, Query, Schema, Status
from ninja.errors import AuthenticationError
from ninja.parser import Parser
from ninja.security import HttpBearer
from pydantic import field_validator

from config.platform.fixed_sql import FixedRead
from loyalty.count_cards import count_cards_of
from loyalty.coupons import coupon_check, coupon_redeem, usable_coupons
from loyalty.errors import ReferenceConflict
from loyalty.money import clean_amount
from loyalty.purchases import purchase_record, purchase_refund
from loyalty.spending import spend_confirm, spend_needs_confirmation
from loyalty.stored_value import (
    stored_value_after,
    stored_value_of,
)
from members.models import Member
from members.services import DuplicatePhone, member_by_referral_code, member_create

from .api_base import (
    EARLIEST_BIRTHDAY,
    MEMBER_CODE_DESCRIPTION,
    PURCHASE_MEMBER_FIELDS,
    AnotherStores,
    ErrorOut,
    MoneyIn,
    MoneyQuery,
    StoredValueOut,
    UnstorableText,
    clean_code,
    decimal_string,
    member_by,
    money_refused,
    money_text,
    shared_error_handlers,
    spend_or_give_back,
    spending_member,
    unstorable,
)
from .api_prepaid import CountCardOut
from .api_prepaid import router as prepaid_router
from .dates import last_valid_day
from .models import ApiKey, Card, Coupon, LoyaltySettings, Purchase
from .money import yuan, yuan_down

API_KEY_TOUCH_SECONDS = 60
# Older purchase dates are typos or junk; before year 1 they would not even load back
# from PostgreSQL (a BC timestamp), which would lock the member out of the API.
EARLIEST_PURCHASE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
REFUND_KEY_MAX = 100  # Refund.idempotency_key


def _check_text(data) -> None:
    if isinstance(data, str):
        if unstorable(data):
            raise UnstorableText(data)
    elif isinstance(data, dict):
        for key, value in data.items():
            _check_text(key)
            _check_text(value)
    elif isinstance(data, list):
        for value in data:
            _check_text(value)


class StrictJSON(Parser):
    """JSON bodies whose strings the database can store (PostgreSQL refuses NUL)."""

    def parse_body(self, request):
        data = json.loads(request.body)
        _check_text(data)
        return data


# Every API request reads its key (and the key's store): written once, config/platform/fixed_sql.py.
_live_key = FixedRead(
    ApiKey,
    "t0.key_hash = %s AND t0.revoked_at IS NULL AND t1.active = %s",  # the hash is unique
    related=("store",),
)


class StoreKeyAuth(HttpBearer):
    """`Authorization: Bearer <key>`; the key says which store is calling."""

    def authenticate(self, request, token):
        key = _live_key.first(ApiKey.hash(token), True)
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
    parser=StrictJSON(),
    urls_namespace="api-v1",
)


def _error(request, http_status: int, code: str, message: str, /, **details):
    # Positional-only: a business error's details may name "status" (a count card's).
    return api.create_response(
        request, {"code": code, "message": message, **details}, status=http_status
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


shared_error_handlers(api, _error)  # validation, 404, business rules, unparsable bodies


# --- schemas ------------------------------------------------------------------


class CouponOut(Schema):
    code: str = Field(description="Upper case, no dash: what to send back in coupon_code")
    display_code: str
    name: str
    kind: str = Field(description="cash | threshold | percent | shipping | gift")
    value: Decimal = Field(description="Yuan off; for percent, the share paid (0.90 = 10% off)")
    min_spend: Decimal
    categories: list[str]
    status: str = Field(description="issued | redeemed | expired | void")
    valid_from: dt.datetime
    valid_until: dt.date = Field(description="The last day it can be used (Shanghai)")
    member_no: str


class CouponCheckOut(CouponOut):
    usable: bool
    reason: str = Field(description="Why not, in the request's language; empty when usable")
    discount: Decimal | None = Field(description="What it takes off `amount`, when given")


class CouponRedeemIn(Schema):
    member_no: str | None = Field(
        None, max_length=12, description="When given, the coupon must be this member's"
    )


class MemberOut(Schema):
    member_no: str
    name: str
    tier: str | None
    points_balance: int
    points_value: Decimal = Field(description="What the points pay, in yuan")
    stored_value: StoredValueOut
    count_cards: list[CountCardOut] = Field(
        default_factory=list, description="Count cards (次卡): usable first"
    )
    coupons: list[CouponOut] = Field(default_factory=list, description="Usable coupons")


class MemberIn(Schema):
    phone: str = Field(max_length=32)
    name: str = Field("", max_length=50)
    gender: str = Field("", pattern="^(M|F|)$")
    birthday: dt.date | None = None
    referral_code: str | None = Field(
        None, max_length=16, description="The code of the member who referred them"
    )


class MemberCreated(Schema):
    member_no: str
    name: str
    tier: str | None


class PurchaseIn(Schema):
    external_ref: str = Field(
        min_length=1, max_length=64, description="Your order number: the idempotency key"
    )
    member_no: str | None = Field(None, max_length=12)
    phone: str | None = Field(None, max_length=32)
    member_code: str | None = Field(None, max_length=32, description=MEMBER_CODE_DESCRIPTION)
    amount: MoneyIn = Field(description='Gross amount in yuan as a decimal string, e.g. "38.50"')
    category: str = Field("", max_length=40)
    points_to_use: int = Field(0, ge=0, le=10_000_000)
    stored_value_to_use: MoneyIn | None = Field(
        None, description='Yuan paid from stored value (储值), e.g. "12.50"'
    )
    confirmation_code: str | None = Field(
        None,
        max_length=12,
        description="The member's pay code or SMS code: for stored value above the "
        "confirmation limit, and for any points or stored value spent by a member found "
        "without member_code",
    )
    coupon_code: str | None = Field(None, max_length=32)
    apply_tier_discount: bool | None = Field(
        None, description="null: when applicable; true: required"
    )
    occurred_at: dt.datetime | None = None

    _amount_is_string = field_validator("amount", "stored_value_to_use", mode="before")(
        decimal_string
    )


class PurchaseOut(Schema):
    external_ref: str
    member_no: str
    amount: Decimal
    discount: Decimal
    tier_discount: Decimal
    coupon_discount: Decimal
    points_used: int
    points_value: Decimal
    cash_paid: Decimal = Field(description="Money paid: stored value and the rest")
    stored_value_used: Decimal = Field(description="Of cash_paid, paid from stored value")
    points_earned: int
    points_balance: int
    stored_value: StoredValueOut = Field(description="The member's stored value after")
    tier: str
    occurred_at: dt.datetime


class RefundIn(Schema):
    amount: MoneyIn | None = Field(None, description="Yuan to refund; omitted: all that is left")
    refund_ref: str | None = Field(
        None, max_length=64, description="Idempotency key of this refund"
    )
    reason: str = Field("", max_length=255)

    _amount_is_string = field_validator("amount", mode="before")(decimal_string)


class RefundOut(Schema):
    external_ref: str
    refunded: Decimal
    refunded_total: Decimal
    status: str
    points_clawed_back: int
    points_returned: int
    points_owed: int
    points_balance: int
    stored_value_returned: Decimal
    stored_value: StoredValueOut


# --- endpoints ------------------------------------------------------------------


def _coupon_out(coupon: Coupon, member_no: str | None = None) -> dict:
    template = coupon.template
    return {
        "code": coupon.code,
        "display_code": coupon.display_code,
        "name": template.name,
        "kind": template.kind,
        "value": yuan(template.value),
        "min_spend": yuan(template.min_spend),
        "categories": sorted(template.category_set()),
        "status": coupon.status,
        "valid_from": timezone.localtime(coupon.valid_from),
        "valid_until": last_valid_day(coupon.valid_until),
        "member_no": member_no or coupon.member.member_no,
    }


def _member_out(member: Member) -> dict:
    card = getattr(member, "card", None) or Card(member=member)
    conf = LoyaltySettings.current()
    return {
        "member_no": member.member_no,
        "name": member.name,
        "tier": card.tier.name if card.tier else None,
        "points_balance": card.points_balance,
        "points_value": yuan_down(Decimal(card.points_balance) / conf.points_per_cash_yuan),
        "stored_value": stored_value_of(card),
        "count_cards": count_cards_of(member),
        "coupons": [_coupon_out(c, member.member_no) for c in usable_coupons(member.pk)[:50]],
    }


@api.get(
    "/members",
    response={200: MemberOut, 400: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Find a member of the chain (by phone, member_no or member_code; two: they "
    "must name the same member)",
)
def member_get(
    request,
    phone: str | None = None,
    member_no: str | None = None,
    member_code: str | None = Query(None, max_length=32, description=MEMBER_CODE_DESCRIPTION),
):
    # Reading a member_code does not use it up: the purchase that follows does.
    return _member_out(
        member_by(
            phone=phone, member_no=member_no, member_code=member_code, store=request.api_store
        )
    )


@api.post(
    "/members",
    response={201: MemberCreated, 400: ErrorOut, 409: ErrorOut},
    summary="Register a member",
)
def member_register(request, payload: MemberIn):
    if payload.birthday and payload.birthday < EARLIEST_BIRTHDAY:
        raise DjangoValidationError({"birthday": [_("Please check the year.")]})
    referrer = None
    if payload.referral_code:
        referrer = member_by_referral_code(payload.referral_code)
        if referrer is None:
            raise DjangoValidationError({"referral_code": [_("No member has that referral code.")]})
    member = member_create(
        referred_by=referrer,
        phone=payload.phone,
        name=payload.name,
        gender=payload.gender,
        birthday=payload.birthday,
        source=Member.Source.API,
        store=request.api_store,
    )
    card = Card.objects.select_related("tier").get(pk=member.pk)
    return Status(
        201,
        {
            "member_no": member.member_no,
            "name": member.name,
            "tier": card.tier.name if card.tier else None,
        },
    )


def _purchase_out(purchase: Purchase) -> dict:
    # The first answer is built from the objects just saved, a replay from the database
    # row: money to two places ("100.0" arrives as 100.0) and the time in Shanghai, so
    # both answers are the same JSON.
    return {
        "external_ref": purchase.external_ref,
        "member_no": purchase.member.member_no,
        "amount": yuan(purchase.gross_amount),
        "discount": yuan(purchase.tier_discount + purchase.coupon_discount),
        "tier_discount": yuan(purchase.tier_discount),
        "coupon_discount": yuan(purchase.coupon_discount),
        "points_used": purchase.points_used,
        "points_value": yuan(purchase.points_value),
        "cash_paid": yuan(purchase.cash_paid),
        "stored_value_used": yuan(purchase.stored_value_used),
        "points_earned": purchase.points_earned,
        "points_balance": purchase.points_balance_after,
        "stored_value": getattr(purchase, "stored_value_after", None)
        or stored_value_after(purchase),
        "tier": purchase.tier_after,
        "occurred_at": timezone.localtime(purchase.occurred_at),
    }


def _clean_occurred_at(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    if timezone.is_naive(value):
        value = timezone.make_aware(value)  # a till's local clock: Asia/Shanghai
    if value > timezone.now() + dt.timedelta(minutes=5):
        raise DjangoValidationError({"occurred_at": [_("A purchase cannot be in the future.")]})
    if value < EARLIEST_PURCHASE:
        raise DjangoValidationError(
            {"occurred_at": [_("A purchase cannot be dated before the year 2000.")]}
        )
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
    code_ref = f"purchase:{payload.external_ref.strip()}"  # as purchase_record keys it
    member, dynamic = spending_member(
        phone=payload.phone,
        member_no=payload.member_no,
        member_code=clean_code(payload.member_code),
        ref=code_ref,
        only=PURCHASE_MEMBER_FIELDS,
        store=request.api_store,
    )
    recorded = Purchase.objects.filter(external_ref=payload.external_ref.strip()).exists
    with spend_or_give_back(payload.member_code, code_ref, recorded):
        purchase, created = _purchase_record(request, payload, member, dynamic)
    if not created and purchase.store_id != request.api_store.pk:
        # Another store's order with the same number is not a retry of this one:
        # answering 200 would silently drop this store's purchase.
        raise ReferenceConflict(
            _("Reference %(ref)s was already used for a different purchase.")
            % {"ref": purchase.external_ref},
            external_ref=purchase.external_ref,
        )
    return Status(201 if created else 200, _purchase_out(purchase))


def _purchase_record(request, payload: PurchaseIn, member: Member, dynamic: bool):
    spends = {"points": payload.points_to_use, "stored_value": payload.stored_value_to_use}
    if spend_needs_confirmation(dynamic=dynamic, **spends) and not (
        Purchase.objects.filter(external_ref=payload.external_ref.strip()).exists()  # a retry
    ):
        spend_confirm(
            member=member,
            dynamic=dynamic,
            confirmation_code=payload.confirmation_code or "",
            **spends,
        )
    return purchase_record(
        member=member,
        amount=payload.amount,
        external_ref=payload.external_ref,
        store=request.api_store,
        category=payload.category,
        points_to_use=payload.points_to_use,
        stored_value_to_use=payload.stored_value_to_use,
        confirmation_code=payload.confirmation_code or "",
        apply_tier_discount=payload.apply_tier_discount,
        coupon_code=clean_code(payload.coupon_code),
        channel=Purchase.Channel.API,
        occurred_at=_clean_occurred_at(payload.occurred_at),
    )


def _own_purchase(request, external_ref: str) -> Purchase:
    """The purchase `external_ref` of the key's store: 404 unknown, 403 another store's."""
    purchase = (
        Purchase.objects.select_related("member").filter(external_ref=external_ref).first()
        if not unstorable(external_ref)
        else None
    )
    if purchase is None:
        raise Http404(_("No purchase with that reference."))
    if purchase.store_id != request.api_store.pk:
        raise AnotherStores(_("This purchase was recorded by another store."))
    return purchase


@api.get(
    "/purchases/{external_ref}",
    response={200: PurchaseOut, 403: ErrorOut, 404: ErrorOut},
    summary="Read a purchase this store recorded (another store's: 403)",
)
def purchase_get(request, external_ref: str):
    return _purchase_out(_own_purchase(request, external_ref))


def _refund_key(external_ref: str, amount: Decimal | None, refund_ref: str | None) -> str:
    """The refund's idempotency key; without refund_ref, the same amount again is a retry."""
    if not refund_ref:
        # "10", "10.0" and "10.00" are one retried request, not three refunds.
        return f"{external_ref}:refund:{'full' if amount is None else _fen_text(amount)}"
    key = f"{external_ref}:refund:{refund_ref}"
    if len(key) > REFUND_KEY_MAX:
        # 64 + 64 characters do not fit the column (nor the ledger keys made from it).
        key = f"{external_ref}:refund:#{hashlib.sha256(refund_ref.encode()).hexdigest()[:24]}"
    return key


def _fen_text(amount: Decimal) -> str:
    # Only a well-formed amount is canonicalised; anything else reaches the service as
    # sent, so it refuses it with its usual 400.
    try:
        return str(yuan(amount)) if amount == yuan(amount) else str(amount)
    except ArithmeticError:
        return str(amount)


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
    purchase = _own_purchase(request, external_ref)
    refund, _created = purchase_refund(
        purchase=purchase,
        amount=payload.amount,
        key=_refund_key(external_ref, payload.amount, payload.refund_ref),
        reason=payload.reason,
    )
    purchase.refresh_from_db()
    card = Card.objects.get(pk=purchase.member_id)
    return {
        "external_ref": external_ref,
        "refunded": yuan(refund.amount),
        "refunded_total": yuan(purchase.refunded_amount),
        "status": purchase.status,
        "points_clawed_back": refund.points_clawed_back,
        "points_returned": refund.points_returned,
        "points_owed": refund.points_debt,
        "points_balance": card.points_balance,
        "stored_value_returned": yuan(refund.stored_value_returned),
        "stored_value": stored_value_of(card),
    }


# --- coupons ------------------------------------------------------------------------


@api.get(
    "/coupons/{code}",
    response={200: CouponCheckOut, 400: ErrorOut, 404: ErrorOut},
    summary="Is this coupon usable now, and what would it take off?",
)
def coupon_get(
    request,
    code: str,
    member_no: str | None = None,
    amount: MoneyQuery | None = None,
    category: str | None = None,
):
    member = member_by(member_no=member_no, store=request.api_store) if member_no else None
    base = None
    if amount is not None:
        if not money_text(amount):  # as the JSON bodies' amounts (MoneyIn)
            raise DjangoValidationError({"amount": [money_refused()]})
        base = clean_amount(amount)
    check = coupon_check(
        code=clean_code(code),
        member=member,
        amount=base,
        category=category,
        store=request.api_store,  # a coupon limited to stores: usable here?
    )
    return {
        **_coupon_out(check.coupon),
        "usable": check.usable,
        "reason": check.reason,
        "discount": yuan(check.discount) if check.discount is not None else None,
    }


@api.post(
    "/coupons/{code}/redeem",
    response={200: CouponOut, 400: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Use a coupon outside a recorded purchase (a gift item): exactly once",
)
def coupon_redeem_view(request, code: str, payload: CouponRedeemIn | None = None):
    payload = payload or CouponRedeemIn()
    member = (
        member_by(member_no=payload.member_no, store=request.api_store)
        if payload.member_no
        else None
    )
    coupon = coupon_redeem(code=clean_code(code), store=request.api_store, member=member)
    return _coupon_out(coupon)


# Stored value (储值) and count cards (次卡): loyalty/api_prepaid.py, under /api/v1/ too.
api.add_router("", prepaid_router)
