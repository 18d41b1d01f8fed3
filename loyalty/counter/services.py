"""What staff do at the counter and on the member 360 page, as services.

Each wraps the loyalty service that does the work and records the staff action in
the audit trail (members.audit) in the same transaction, so "who did what, when"
is searchable in the admin (操作日志) whatever screen it came from. Services that
audit themselves (points_adjust, purchase_refund, tier_set, member_update) are
called directly by the views.
"""

from decimal import Decimal

from django.db import transaction

from loyalty.benefits.issuing import coupon_issue
from loyalty.benefits.rewards import redemption_fulfil
from loyalty.count_cards import count_card_sell
from loyalty.coupons import coupon_redeem
from loyalty.models import (
    CountCard,
    Coupon,
    CouponTemplate,
    Purchase,
    Redemption,
    StoredValueEntry,
)
from loyalty.purchases import purchase_record
from loyalty.stored_value import stored_value_top_up
from members.audit import audit_record
from members.models import Member, Store, User


@transaction.atomic
def counter_purchase(
    *,
    member: Member,
    actor: User,
    store: Store | None,
    amount: Decimal,
    token: str,
    category: str = "",
    coupon_code: str = "",
    points_to_use: int = 0,
    stored_value_to_use: Decimal = Decimal("0.00"),
    confirmation_code: str = "",
) -> tuple[Purchase, bool]:
    """A purchase at the counter. `token` is the confirm form's one-time token, so a
    double click (or a resent form) records the purchase once. Stored value above the
    settings' confirmation limit needs the member's SMS code (`confirmation_code`)."""
    purchase, created = purchase_record(
        member=member,
        amount=amount,
        external_ref=f"counter:{token}",
        store=store,
        staff=actor,
        category=category,
        points_to_use=points_to_use,
        coupon_code=coupon_code,
        stored_value_to_use=stored_value_to_use,
        confirmation_code=confirmation_code,
        channel=Purchase.Channel.COUNTER,
    )
    if created:
        audit_record(
            actor=actor,
            action="purchase.record",
            obj=member,
            changes={
                "purchase": [None, purchase.external_ref],
                "amount": [None, str(purchase.gross_amount)],
                "paid": [None, str(purchase.cash_paid)],
                "points_used": [None, purchase.points_used],
                "points_earned": [None, purchase.points_earned],
                **(
                    {"stored_value_used": [None, str(purchase.stored_value_used)]}
                    if purchase.stored_value_used
                    else {}
                ),
            },
            store=store,
        )
    return purchase, created


def counter_top_up(
    *,
    member: Member,
    actor: User,
    store: Store | None,
    amount: Decimal,
    token: str,
    tender: str,
    offer_code: str = "",
) -> tuple[StoredValueEntry, bool]:
    """A stored-value top-up at the counter, once per form token (a double click or a
    resent form tops up once), audited with who took the money and how."""
    with transaction.atomic():
        entry, created = stored_value_top_up(
            member=member,
            amount=amount,
            external_ref=f"counter:{token}",
            tender=tender,
            offer_code=offer_code,
            store=store,
            actor=actor,
        )
        if created:
            audit_record(
                actor=actor,
                action="stored_value.top_up",
                obj=member,
                changes={
                    "top_up": [None, f"{entry.principal_delta:.2f}"],
                    "bonus": [None, f"{entry.bonus_delta:.2f}"],
                    "tender": [None, entry.tender],
                    "stored_value": [None, f"{entry.principal_after + entry.bonus_after:.2f}"],
                },
                store=store,
            )
    return entry, created


def counter_count_card_sell(
    *,
    member: Member,
    actor: User,
    store: Store | None,
    template_code: str,
    token: str,
    tender: str,
    confirmation_code: str = "",
) -> tuple[CountCard, bool]:
    """A count card (次卡) sold at the counter, once per form token, audited."""
    with transaction.atomic():
        card, created = count_card_sell(
            member=member,
            template_code=template_code,
            external_ref=f"counter:{token}",
            tender=tender,
            store=store,
            actor=actor,
            confirmation_code=confirmation_code,
        )
        if created:
            audit_record(
                actor=actor,
                action="count_card.sell",
                obj=member,
                changes={
                    "count_card": [None, f"{card.name} ×{card.uses_total}"],
                    "price": [None, f"{card.price_paid:.2f}"],
                    "tender": [None, card.tender],
                },
                store=store,
            )
    return card, created


@transaction.atomic
def counter_coupon_verify(
    *, code: str, actor: User, store: Store | None, member: Member | None = None
) -> Coupon:
    """核销 a coupon without a purchase (a gift item, a free drink): exactly once."""
    coupon = coupon_redeem(code=code, store=store, actor=actor, member=member)
    audit_record(
        actor=actor,
        action="coupon.redeem",
        obj=coupon.member,
        changes={"coupon": [coupon.display_code, Coupon.Status.REDEEMED.value]},
        store=store,
    )
    return coupon


@transaction.atomic
def counter_pickup(*, code: str, actor: User, store: Store | None) -> Redemption:
    """Hand over a reward bought with points (its pickup code): exactly once."""
    redemption = redemption_fulfil(code=code, store=store, actor=actor)
    audit_record(
        actor=actor,
        action="redemption.fulfil",
        obj=redemption.member,
        changes={
            "pickup": [
                f"{redemption.reward.name} {redemption.pickup_code}",
                Redemption.Status.FULFILLED.value,
            ]
        },
        store=store,
    )
    return redemption


@transaction.atomic
def staff_coupon_issue(*, template: CouponTemplate, member: Member, actor: User) -> Coupon:
    """A manager gives a member one coupon (within the template's stock and limits)."""
    coupon, _created = coupon_issue(
        template=template, member=member, source=Coupon.Source.STAFF, actor=actor
    )
    audit_record(
        actor=actor,
        action="coupon.issue",
        obj=member,
        changes={"coupon": [None, f"{template.name} {coupon.display_code}"]},
        store=member.store,
    )
    return coupon
