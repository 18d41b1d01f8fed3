"""Recording WeChat Pay API v3 notices: payments through v2's rules, refunds beside them.

A payment notice (TRANSACTION.SUCCESS) is mapped onto the v2 notice's fields and
recorded by services.pay_notice_record: one rule for both versions (app id, merchant id,
a positive CNY amount, once per transaction_id, a purchase or a stored-value top-up by
`attach`). A refund notice (REFUND.SUCCESS) refunds the purchase recorded under its
transaction_id through loyalty's purchase_refund, once per WeChat refund_id: the points
earned on the refunded part are clawed back. Every notice is claimed by its id first, in
the same transaction: a notice WeChat sends again is answered without a second look.
"""

import hashlib
import logging

from django.db import transaction
from django.utils.translation import gettext as _

from loyalty.models import Purchase, Refund, StoredValueEntry
from loyalty.money import from_fen
from loyalty.purchases import purchase_refund

from .pay_v3 import Notice, beijing_time_end
from .services import (
    PayNoticeRejected,
    callback_claim,
    callback_nonce_claim,
    pay_notice_record,
)

log = logging.getLogger(__name__)

PAYMENT = "TRANSACTION.SUCCESS"
REFUND = "REFUND.SUCCESS"
# A refund that failed or was closed: acknowledged, nothing to record.
REFUND_UNDONE = ("REFUND.ABNORMAL", "REFUND.CLOSED")
REF_MAX = 64  # a purchase's external_ref, a refund's key: WeChat's ids are ~30 characters


def nonce_claim(*, nonce: str, body: bytes) -> bool:
    """False when this Wechatpay-Nonce already came with another body (a nonce is used
    once; the same body again is a resend, left to the notice id)."""
    # CallbackNonce keeps 40 characters: the nonce stands there as a SHA-1 of it.
    key = hashlib.sha1(f"pay_v3:{nonce}".encode()).hexdigest()
    return callback_nonce_claim(signature=key, body=body)


def notice_record(
    *, notice: Notice, app_id: str, mch_id: str
) -> Purchase | StoredValueEntry | Refund | None:
    """Record a verified v3 notice once; None when there is nothing to record (a resend,
    a payer who is no member, a refund that failed, another event).

    PayNoticeRejected when it will not be recorded (another app or merchant, a bad
    amount): nothing is kept, WeChat sends it again. A loyalty rule that says no
    (LoyaltyError, ValidationError) goes up too, also with nothing kept.
    """
    with transaction.atomic():
        if not callback_claim(key=f"pay_v3:{notice.id}", kind="pay_v3"):
            log.info("WeChat Pay v3 notice %s: already handled", notice.id)
            return None
        if notice.event_type == PAYMENT:
            if notice.original_type != "transaction":
                raise PayNoticeRejected("a payment notice without a transaction")
            return pay_notice_record(data=v2_fields(notice.resource), app_id=app_id, mch_id=mch_id)
        if notice.event_type == REFUND:
            if notice.original_type != "refund":
                raise PayNoticeRejected("a refund notice without a refund")
            return refund_record(data=notice.resource, mch_id=mch_id)
        if notice.event_type in REFUND_UNDONE:
            log.warning("WeChat Pay refund %s of %s: %s, nothing recorded",
                        _text(notice.resource, "refund_id"),
                        _text(notice.resource, "transaction_id"), notice.event_type)  # fmt: skip
        else:
            log.info("WeChat Pay v3 notice %s: event %s ignored", notice.id, notice.event_type)
        return None


def _text(data: dict, name: str) -> str:
    value = data.get(name)
    return value if isinstance(value, str) else ""


def _fen(data, name: str) -> int | None:
    value = data.get(name) if isinstance(data, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def v2_fields(transaction_data: dict) -> dict:
    """A v3 transaction as the v2 notice's fields (strings), for pay_notice_record."""
    amount = transaction_data.get("amount")
    amount = amount if isinstance(amount, dict) else {}
    payer = transaction_data.get("payer")
    payer = payer if isinstance(payer, dict) else {}
    total = _fen(amount, "total")
    data = {
        "return_code": "SUCCESS",
        "result_code": "SUCCESS" if _text(transaction_data, "trade_state") == "SUCCESS"
        else "FAIL",
        "appid": _text(transaction_data, "appid"),
        "mch_id": _text(transaction_data, "mchid"),
        "total_fee": "" if total is None else str(total),
        "transaction_id": _text(transaction_data, "transaction_id"),
        "out_trade_no": _text(transaction_data, "out_trade_no"),
        "openid": _text(payer, "openid"),
        "attach": _text(transaction_data, "attach"),
        "time_end": beijing_time_end(_text(transaction_data, "success_time")),
    }  # fmt: skip
    if "currency" in amount:
        data["fee_type"] = _text(amount, "currency")
    return data


def refund_record(*, data: dict, mch_id: str) -> Refund | None:
    """Refund the purchase paid by `data`'s transaction (a REFUND.SUCCESS resource), once
    per refund_id; None when there is no purchase to refund (a payer who was no member,
    a top-up: see below). PayNoticeRejected for another merchant or a bad amount."""
    if _text(data, "mchid") != mch_id:
        raise PayNoticeRejected("merchant id does not match")
    if _text(data, "refund_status") != "SUCCESS":
        raise PayNoticeRejected("not a successful refund")
    transaction_id, refund_id = _text(data, "transaction_id"), _text(data, "refund_id")
    if not (0 < len(transaction_id) <= REF_MAX and 0 < len(refund_id) <= REF_MAX):
        raise PayNoticeRejected("no transaction_id or refund_id")
    amount = data.get("amount")
    total, refund = _fen(amount, "total"), _fen(amount, "refund")
    if total is None or refund is None or not 0 < refund <= total:
        raise PayNoticeRejected("refund must be a positive amount, at most the total")
    purchase = Purchase.objects.filter(external_ref=transaction_id).first()
    if purchase is None:
        # The top-up's key (loyalty.stored_value: "top_up:<external ref>") is unique.
        top_up = StoredValueEntry.objects.filter(idempotency_key=f"top_up:{transaction_id}").first()
        if top_up is not None:
            # No loyalty service takes a top-up back (only the staff's cash-out of the
            # whole balance): staff adjust the member's stored value by hand.
            log.error("WeChat Pay refund %s of top-up %s (%s fen, member %s) not taken "
                      "back from stored value: adjust it by hand",
                      refund_id, transaction_id, refund, top_up.member_id)  # fmt: skip
        else:
            log.info("WeChat Pay refund %s: transaction %s is no recorded purchase",
                     refund_id, transaction_id)  # fmt: skip
        return None
    if purchase.channel != Purchase.Channel.WECHAT_PAY:
        log.error("WeChat Pay refund %s: purchase %s was not paid by WeChat Pay",
                  refund_id, purchase.pk)  # fmt: skip
        return None
    if purchase.gross_amount != from_fen(total):
        raise PayNoticeRejected("the refund's order total is not the purchase's amount")
    # All of the order, or all that is left of it: the purchase's whole refundable rest
    # (what the member paid after a discount may be less than WeChat's total).
    part = from_fen(refund)
    full = refund == total or part >= purchase.refundable_amount
    created_refund, created = purchase_refund(
        purchase=purchase,
        amount=None if full else part,
        key=refund_id,
        reason=_("Refunded in WeChat Pay (refund %(refund_id)s)") % {"refund_id": refund_id},
    )
    if not created:
        log.info("WeChat Pay refund %s: already recorded", refund_id)
    return created_refund
