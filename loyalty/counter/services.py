"""What staff do at the counter and on the member 360 page, as services.

Each wraps the loyalty service that does the work and records the staff action in
the audit trail (members.audit) in the same transaction, so "who did what, when"
is searchable in the admin (操作日志) whatever screen it came from. Services that
audit themselves (points_adjust, purchase_refund, tier_set, member_update) are
called directly by the views.
"""

import datetime as dt
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.benefits.issuing import coupon_issue
from loyalty.benefits.rewards import redemption_fulfil
from loyalty.count_cards import count_card_sell
from loyalty.coupons import coupon_redeem
from loyalty.models import (
    CountCard,
    CountCardTemplate,
    Coupon,
    CouponTemplate,
    Purchase,
    Redemption,
    StoredValueEntry,
)
from loyalty.purchases import purchase_record
from loyalty.spending import spend_confirm, spend_needs_confirmation
from loyalty.stored_value import stored_value_top_up
from members.audit import audit_record
from members.dynamic_code import DynamicCodeError, code_use
from members.models import AuditEntry, Member, Store, User

SERVED_ELSEWHERE = "member.served_elsewhere"


def counter_member_served(*, actor: User, member: Member, store: Store | None, now=None) -> bool:
    """A counter opened a member of another store (the chain rule): audited once a day
    per staff member and member, with the store that served and the member's home store,
    so the home store sees who served their member. True when a row was written."""
    if store is None or member.store_id == store.pk:
        return False
    now = now or timezone.now()
    day = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    seen = AuditEntry.objects.filter(
        action=SERVED_ELSEWHERE,
        actor=actor,
        object_type=Member._meta.label_lower,
        object_id=str(member.pk),
        at__gte=day,
        at__lt=day + dt.timedelta(days=1),
    )
    if seen.exists():
        return False
    home = member.store.name if member.store_id else None
    audit_record(
        actor=actor,
        action=SERVED_ELSEWHERE,
        obj=member,
        changes={"store": [home, store.name]},
        store=store,
    )
    return True


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
    member_code: str = "",
) -> tuple[Purchase, bool]:
    """A purchase at the counter. `token` is the confirm form's one-time token, so a
    double click (or a resent form) records the purchase once. Stored value above the
    settings' confirmation limit needs the member's SMS code (`confirmation_code`).

    `member_code`: the dynamic code of the member centre that found the member, used
    up by this purchase; without one, spending points or stored value needs the
    member's confirmation (loyalty.spending, the setting spend_needs_dynamic_code).
    Refused, the purchase records nothing and the code stays unused (one transaction)."""
    dynamic = False
    if member_code:
        try:
            found = code_use(member_code, purchase_ref=f"counter:{token}")
        except DynamicCodeError as exc:
            spends = {"points": points_to_use, "stored_value": stored_value_to_use}
            if spend_needs_confirmation(dynamic=False, **spends):
                raise ValidationError(exc.message) from exc
            found = None  # expired while the basket was rung up: it spends nothing
        if found is not None and found.pk != member.pk:
            raise ValidationError(_("This member code belongs to another member."))
        dynamic = found is not None
    spend_confirm(
        member=member,
        dynamic=dynamic,
        points=points_to_use,
        stored_value=stored_value_to_use,
        confirmation_code=confirmation_code,
    )
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
    dynamic: bool = False,
) -> tuple[CountCard, bool]:
    """A count card (次卡) sold at the counter, once per form token, audited. Paid from
    stored value by a member found with the static number only, it needs the member's
    pay code (loyalty.spending); refused, nothing is written and the code stays unused."""
    with transaction.atomic():
        if tender == "stored_value":
            template = CountCardTemplate.objects.filter(code=template_code).first()
            spend_confirm(
                member=member,
                dynamic=dynamic,
                stored_value=template.price if template else Decimal("0"),
                confirmation_code=confirmation_code,
            )
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
