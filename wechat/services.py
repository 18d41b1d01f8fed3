"""Writes of the wechat app: followers, openid binding, QR scenes, callback dedupe, Pay."""

import datetime as dt
import hashlib
import logging
from functools import partial

from django.db import IntegrityError, transaction
from django.utils import timezone

from loyalty.models import Purchase, StoredValueEntry, Tender
from loyalty.money import from_fen
from loyalty.purchases import purchase_record
from loyalty.stored_value import OfferNotApplicable, stored_value_top_up
from members.models import Member, Store

from . import client
from .models import Callback, CallbackNonce, Follower, QrScene

log = logging.getLogger(__name__)


def callback_claim(*, key: str, kind: str) -> bool:
    """True the first time `key` is seen; False for WeChat's retries (call inside atomic)."""
    try:
        with transaction.atomic():
            Callback.objects.create(key=key[:128], kind=kind[:32])
    except IntegrityError:
        return False
    return True


def callback_nonce_claim(*, signature: str, body: bytes) -> bool:
    """False when the signed callback URL `signature` already came with another body.

    The first body with a signature is remembered; the same body again (WeChat retrying)
    is True, left to callback_claim. Atomic across processes: the unique index decides.
    """
    digest = hashlib.sha256(body).hexdigest()
    try:
        with transaction.atomic():
            CallbackNonce.objects.create(signature=signature, body_sha256=digest)
    except IntegrityError:
        return CallbackNonce.objects.filter(signature=signature, body_sha256=digest).exists()
    return True


def follower_subscribe(*, openid: str, scene: str = "", now=None) -> Follower:
    """Record a follow; a QR scene attributes the follower to its store and staff member."""
    now = now or timezone.now()
    qr = QrScene.objects.filter(scene=scene).select_related("store").first() if scene else None
    follower, _created = Follower.objects.get_or_create(openid=openid)
    follower.subscribed, follower.subscribed_at, follower.unsubscribed_at = True, now, None
    fields = ["subscribed", "subscribed_at", "unsubscribed_at"]
    if qr is not None:
        follower.scene, follower.store, follower.staff_id = qr, qr.store, qr.staff_id
        fields += ["scene", "store", "staff"]
    follower.save(update_fields=fields)
    return follower


def follower_unsubscribe(*, openid: str, now=None) -> None:
    """The member stops getting WeChat messages (the outbox skips the channel)."""
    now = now or timezone.now()
    follower, _created = Follower.objects.get_or_create(openid=openid)
    follower.subscribed, follower.unsubscribed_at = False, now
    follower.save(update_fields=["subscribed", "unsubscribed_at"])


def member_by_openid(openid: str) -> Member | None:
    if not openid:
        return None
    return Member.objects.filter(wechat_openid=openid, status=Member.Status.ACTIVE).first()


def member_wechat_bind(*, member: Member, openid: str) -> bool:
    """Bind `openid` to `member`: one openid per member and one member per openid.

    A member already bound keeps their openid, and an openid already bound to
    someone else stays there; both are a False, never an error.
    """
    if not openid or member.wechat_openid == openid:
        return member.wechat_openid == openid
    try:
        with transaction.atomic():
            # Conditional: two logins racing bind once; the unique index guards the openid.
            bound = Member.objects.filter(
                pk=member.pk, wechat_openid__isnull=True, status=Member.Status.ACTIVE
            ).update(wechat_openid=openid)
    except IntegrityError:
        bound = 0
    if bound:
        member.wechat_openid = openid
        Follower.objects.get_or_create(openid=openid, defaults={"subscribed_at": timezone.now()})
    else:
        log.info("openid not bound to member %s (already bound on one side)", member.pk)
    return bool(bound)


def qrscene_create(*, scene: QrScene) -> QrScene:
    """Ask WeChat for the scene's permanent QR code (network: call outside transactions)."""
    result = client.qrcode_create(scene.scene)
    scene.ticket, scene.url = result.get("ticket", ""), result.get("url", "")
    scene.save(update_fields=["ticket", "url"])
    return scene


class PayNoticeRejected(Exception):
    """A verified notice we will not record (wrong app or merchant, bad amount)."""


# The bounds the POS API puts on a purchase's occurred_at (loyalty/api.py): not in the
# future (a few minutes of clock skew allowed), not before 2000.
EARLIEST_OCCURRED_AT = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
CLOCK_SKEW = dt.timedelta(minutes=5)


def occurred_at_plausible(value: dt.datetime, now: dt.datetime | None = None) -> bool:
    """Whether an aware time is one a purchase can have happened at (the API's bounds)."""
    now = now or timezone.now()
    return EARLIEST_OCCURRED_AT <= value <= now + CLOCK_SKEW


def _paid_at(time_end: str):
    """The notice's time_end, or None (the time it arrived) when it is no plausible time."""
    try:
        # WeChat writes Beijing time without an offset.
        paid_at = dt.datetime.strptime(f"{time_end}+0800", "%Y%m%d%H%M%S%z")
        if occurred_at_plausible(paid_at):
            return paid_at
    except (TypeError, ValueError, OverflowError):
        return None
    log.warning("WeChat Pay time_end %s out of bounds: recorded at its arrival", time_end)
    return None


TOP_UP_MARK = "top_up"  # attach "top_up[:store code[:offer code]]": a stored-value top-up


def pay_notice_record(
    *, data: dict, app_id: str, mch_id: str
) -> Purchase | StoredValueEntry | None:
    """Record a verified WeChat Pay notice (idempotent on transaction_id): a purchase, or
    a stored-value top-up when its `attach` starts with "top_up" (the mall's or the
    member centre's top-up order: "top_up", "top_up:SH01", "top_up:SH01:500-50").

    Returns None when the payer is no member (nothing to record; WeChat still gets SUCCESS).
    """
    if data.get("return_code") != "SUCCESS" or data.get("result_code") != "SUCCESS":
        raise PayNoticeRejected("not a successful payment")
    if data.get("appid") != app_id or data.get("mch_id") != mch_id:
        raise PayNoticeRejected("app id or merchant id does not match")
    try:
        total_fee = int(data.get("total_fee", ""))
    except (TypeError, ValueError):
        raise PayNoticeRejected("total_fee is not an integer") from None
    if total_fee <= 0 or data.get("fee_type", "CNY") != "CNY":
        raise PayNoticeRejected("amount must be a positive CNY amount")
    transaction_id = data.get("transaction_id", "")
    if not transaction_id:
        raise PayNoticeRejected("no transaction_id")
    member = member_by_openid(data.get("openid", ""))
    if member is None:
        if data.get("attach", "").partition(":")[0] == TOP_UP_MARK:
            # Money paid for stored value and no member to hold it (unbound, erased):
            # staff refund it by hand in the WeChat Pay merchant platform.
            log.error("WeChat Pay top-up %s (%s fen) not credited: the payer is no member",
                      transaction_id, total_fee)  # fmt: skip
        else:
            log.info("WeChat Pay %s: payer is not a member", transaction_id)
        return None
    attach = data.get("attach", "")  # the store code, when the mall passes one
    mark, _sep, rest = attach.partition(":")
    if mark == TOP_UP_MARK:
        store_code, _sep, offer_code = rest.partition(":")
        store = Store.objects.filter(code=store_code).first() if store_code else None
        return _top_up(member, from_fen(total_fee), transaction_id, store, offer_code.strip())
    store = Store.objects.filter(code=attach).first() if attach else None
    purchase, _created = purchase_record(
        member=member,
        amount=from_fen(total_fee),
        external_ref=transaction_id,
        store=store,
        channel=Purchase.Channel.WECHAT_PAY,
        occurred_at=_paid_at(data.get("time_end", "")),
        # The money WeChat took is what was paid: any member price was the mall's, before
        # the order. A tier discount taken off it again would record less than was paid.
        apply_tier_discount=False,
    )
    return purchase


def _top_up(member, amount, transaction_id, store, offer_code) -> StoredValueEntry:
    """The money has been paid: an offer that no longer applies (ended between the order
    and the payment) does not refuse it; it is credited without the offer's bonus."""
    top_up = partial(
        stored_value_top_up, member=member, amount=amount, external_ref=transaction_id,
        tender=Tender.WECHAT_PAY, store=store,
    )  # fmt: skip
    if offer_code:
        try:
            return top_up(offer_code=offer_code)[0]
        except OfferNotApplicable as exc:
            log.warning("WeChat Pay top-up %s credited without its offer: %s", transaction_id, exc)
    return top_up()[0]
