"""The POS API's prepaid endpoints (储值 stored value, 次卡 count cards) and the SMS code
that confirms a spend, a router of loyalty/api.py's NinjaAPI under /api/v1/: the same
key auth, errors and languages."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status
from pydantic import field_validator

from loyalty.count_cards import (
    count_card_as_dict,
    count_card_sell,
    count_card_template_for,
    count_card_use,
)
from loyalty.errors import ReferenceConflict
from loyalty.models import Card, CountCardEntry, Tender
from loyalty.spending import spend_confirm, spend_needs_confirmation
from loyalty.stored_value import entry_balance, stored_value_of, stored_value_top_up
from members.otp import PAY, OtpError, otp_send
from members.sms import SmsError

from .api_base import (
    MEMBER_CODE_DESCRIPTION,
    ErrorOut,
    MoneyIn,
    SmsFailed,
    StoredValueOut,
    TooManyCodes,
    clean_code,
    decimal_string,
    member_by,
    spend_or_give_back,
    spending_member,
)

router = Router(tags=["prepaid"])

# --- stored value -------------------------------------------------------------------


class TopUpIn(Schema):
    member_no: str = Field(max_length=12)
    amount: MoneyIn = Field(description='Yuan paid in, as a decimal string: "500.00"')
    external_ref: str = Field(
        min_length=1, max_length=64, description="Your payment's number: the idempotency key"
    )
    offer: str | None = Field(None, max_length=32, description="A top-up offer's code")
    tender: Tender = Field(Tender.CASH, description="cash | wechat_pay | alipay | card")

    _amount_is_string = field_validator("amount", mode="before")(decimal_string)


class TopUpOut(Schema):
    external_ref: str
    member_no: str
    amount: str
    bonus: str
    stored_value: StoredValueOut


@router.post(
    "/stored-value/top-ups",
    response={
        200: TopUpOut,
        201: TopUpOut,
        400: ErrorOut,
        404: ErrorOut,
        409: ErrorOut,
        422: ErrorOut,
    },  # fmt: skip
    summary="Top up a member's stored value (idempotent on external_ref)",
)
def top_up_create(request, payload: TopUpIn):
    member = member_by(
        member_no=payload.member_no, only=("id", "member_no", "store_id"), store=request.api_store
    )
    entry, created = stored_value_top_up(
        member=member,
        amount=payload.amount,
        external_ref=clean_code(payload.external_ref),
        tender=payload.tender,
        offer_code=clean_code(payload.offer),
        store=request.api_store,
    )
    if not created and entry.store_id != request.api_store.pk:
        raise ReferenceConflict(
            _("Reference %(ref)s was already used for a different top-up.")
            % {"ref": entry.reference},
            external_ref=entry.reference,
        )
    body = {
        "external_ref": entry.reference,
        "member_no": member.member_no,
        "amount": f"{entry.principal_delta:.2f}",
        "bonus": f"{entry.bonus_delta:.2f}",
        "stored_value": entry_balance(entry),
    }
    return Status(201 if created else 200, body)


# --- count cards ---------------------------------------------------------------------


class CountCardOut(Schema):
    id: int
    name: str
    template: str = Field(description="The count card template's code")
    uses_left: int
    uses_total: int
    expires_at: str | None = Field(
        description="ISO 8601, Shanghai time: the first instant it is no longer valid; null: never"
    )
    last_day: str | None = Field(description="Its last valid day (ISO date); null: never")
    status: str = Field(description="active | used_up | expired | refunded")


class CountCardSaleIn(Schema):
    member_no: str | None = Field(None, max_length=12, description="Or member_code")
    member_code: str | None = Field(None, max_length=32, description=MEMBER_CODE_DESCRIPTION)
    template: str = Field(max_length=32, description="A count card template's code")
    external_ref: str = Field(
        min_length=1, max_length=64, description="Your order number: the idempotency key"
    )
    tender: str = Field(
        "cash",
        pattern="^(cash|wechat_pay|alipay|card|stored_value)$",
        description="cash | wechat_pay | alipay | card | stored_value (from the member's 储值)",
    )
    confirmation_code: str = Field(
        "",
        max_length=8,
        description="The member's pay code or SMS code, for stored value above the limit "
        "and for any stored value paid by a member found without member_code",
    )


class CountCardSaleOut(Schema):
    external_ref: str
    member_no: str
    price: str
    count_card: CountCardOut
    stored_value: StoredValueOut


class CountCardUseIn(Schema):
    member_no: str | None = Field(None, max_length=12, description="Or member_code")
    member_code: str | None = Field(None, max_length=32, description=MEMBER_CODE_DESCRIPTION)
    card_id: int = Field(description="The count card's id (GET /members lists them)")
    external_ref: str = Field(
        min_length=1, max_length=64, description="Your reference of this use: the idempotency key"
    )
    service: str = Field("", max_length=60, description="The service given, when it matters")
    confirmation_code: str = Field(
        "",
        max_length=8,
        description="The member's pay code or SMS code, when found without member_code",
    )


class CountCardUseOut(Schema):
    external_ref: str
    member_no: str
    count_card: CountCardOut


@router.post(
    "/count-cards",
    response={
        200: CountCardSaleOut,
        201: CountCardSaleOut,
        400: ErrorOut,
        404: ErrorOut,
        409: ErrorOut,
        422: ErrorOut,
    },  # fmt: skip
    summary="Sell a member a count card (次卡), idempotent on external_ref",
)
def count_card_create(request, payload: CountCardSaleIn):
    code_ref = f"count_card:{payload.external_ref.strip()}"
    member, dynamic = spending_member(
        member_no=_member_no(payload),
        member_code=clean_code(payload.member_code),
        ref=code_ref,
        only=("id", "member_no", "phone", "store_id"),
        store=request.api_store,
    )
    retry = CountCardEntry.objects.filter(idempotency_key=code_ref)
    with spend_or_give_back(payload.member_code, code_ref, retry.exists):
        if payload.tender == "stored_value" and not retry.exists():
            template = count_card_template_for(
                clean_code(payload.template), store=request.api_store
            )
            spend_confirm(
                member=member,
                dynamic=dynamic,
                stored_value=template.price,
                confirmation_code=clean_code(payload.confirmation_code),
            )
        card, created = count_card_sell(
            member=member,
            template_code=clean_code(payload.template),
            external_ref=clean_code(payload.external_ref),
            tender=payload.tender,
            store=request.api_store,
            confirmation_code=clean_code(payload.confirmation_code),
        )
    body = {
        "external_ref": payload.external_ref,
        "member_no": member.member_no,
        "price": f"{card.price_paid:.2f}",
        "count_card": count_card_as_dict(card),
        "stored_value": stored_value_of(Card.objects.get(pk=member.pk)),
    }
    return Status(201 if created else 200, body)


@router.post(
    "/count-cards/uses",
    response={
        200: CountCardUseOut,
        201: CountCardUseOut,
        400: ErrorOut,
        404: ErrorOut,
        409: ErrorOut,
        422: ErrorOut,
    },  # fmt: skip
    summary="Use one use of a member's count card, idempotent on external_ref",
)
def count_card_use_create(request, payload: CountCardUseIn):
    code_ref = f"count_card_use:{payload.external_ref.strip()}"
    member, dynamic = spending_member(
        member_no=_member_no(payload),
        member_code=clean_code(payload.member_code),
        ref=code_ref,
        only=("id", "member_no", "phone", "store_id"),
        store=request.api_store,
    )
    retry = CountCardEntry.objects.filter(idempotency_key=code_ref)
    with spend_or_give_back(payload.member_code, code_ref, retry.exists):
        if spend_needs_confirmation(dynamic=dynamic, count_card=True) and not retry.exists():
            spend_confirm(
                member=member,
                dynamic=dynamic,
                count_card=True,
                confirmation_code=clean_code(payload.confirmation_code),
            )
        entry, created = count_card_use(
            member=member,
            card_id=payload.card_id,
            key=clean_code(payload.external_ref),
            service=clean_code(payload.service),
            store=request.api_store,
        )
    body = {
        "external_ref": payload.external_ref,
        "member_no": member.member_no,
        "count_card": count_card_as_dict(entry.card),
    }
    return Status(201 if created else 200, body)


def _member_no(payload) -> str | None:
    # Named by member_no or member_code: neither is a 400, as GET /members says.
    if payload.member_no is None and not payload.member_code:
        raise ValidationError(_("Give a member_no or a member_code."))
    return payload.member_no


# --- the member's confirmation --------------------------------------------------------


class ConfirmationCodeIn(Schema):
    member_no: str | None = Field(None, max_length=12)
    phone: str | None = Field(None, max_length=32)


class ConfirmationCodeOut(Schema):
    member_no: str
    sent_to: str = Field(description="The member's phone, masked: 138****8000")


@router.post(
    "/confirmation-codes",
    response={202: ConfirmationCodeOut, 400: ErrorOut, 404: ErrorOut, 429: ErrorOut, 503: ErrorOut},
    summary="Send the member the SMS code that confirms a spend (confirmation_code)",
)
def confirmation_code_send(request, payload: ConfirmationCodeIn):
    member = member_by(
        phone=payload.phone,
        member_no=payload.member_no,
        only=("id", "member_no", "phone", "store_id"),
        store=request.api_store,
    )
    try:
        # A pay code: it confirms a spend, it cannot sign in (members.otp).
        otp_send(phone=member.phone, source=f"api_key:{request.auth.pk}", purpose=PAY)
    except OtpError as exc:
        raise TooManyCodes(exc.message, retry_after=exc.retry_after) from exc
    except SmsError as exc:
        raise SmsFailed(_("The SMS could not be sent. Try again in a minute.")) from exc
    return Status(202, {"member_no": member.member_no, "sent_to": member.masked_phone})
