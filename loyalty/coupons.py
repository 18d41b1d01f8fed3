"""Coupons in the books: read, check, use in a purchase, redeem (核销), void, give back,
expire. Giving coupons out (issue, bulk issue) is a benefit: loyalty/benefits/issuing.py.

State changes by conditional UPDATEs (`... WHERE status = 'issued'`), so concurrent
attempts cannot use one coupon twice, on SQLite and PostgreSQL alike. Every state
change appends a CouponEvent (`coupon_event`).
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from config.platform.fixed_sql import FixedInsert, FixedRead, FixedUpdate
from members.models import Member, Store, User

from .dates import last_valid_day
from .errors import CouponNotFound, CouponNotUsable, CouponNotValidHere
from .models import Coupon, CouponEvent, CouponTemplate, Purchase, normalize_code
from .money import ZERO, yuan

# --- reading ------------------------------------------------------------------


# A till reads the coupon it is given, and uses it with one conditional UPDATE: both
# written once (config/platform/fixed_sql.py), as the purchase they are part of.
_coupon_by_code = FixedRead(Coupon, "t0.code = %s", related=("template", "member"))  # unique
_claim_update = FixedUpdate(
    Coupon,
    ["status", "redeemed_at", "redeemed_store", "redeemed_by", "purchase", "discount"],
    where=(("status", "="), ("valid_from", "<="), ("valid_until", ">")),
)
_insert_event = FixedInsert(CouponEvent)  # no save() of its own, no receivers


def coupon_event(coupon: Coupon, kind: str, *, now, actor=None, store=None, purchase=None, note=""):
    _insert_event(
        CouponEvent(
            coupon=coupon, kind=kind, actor=actor, store=store, purchase=purchase, note=note, at=now
        )
    )


def coupon_by_code(code: str) -> Coupon:
    found = _coupon_by_code.first(normalize_code(code))
    if found is None:
        raise CouponNotFound(_("No coupon with code %(code)s.") % {"code": code})
    return found


def usable_at(now) -> Q:
    """A coupon that can be used at `now`: issued, its validity begun and not ended."""
    return Q(status=Coupon.Status.ISSUED, valid_from__lte=now, valid_until__gt=now)


def usable_coupons(member_id: int, *, now=None):
    """The member's coupons that can be used now, soonest to expire first."""
    now = now or timezone.now()
    return (
        Coupon.objects.filter(usable_at(now), member_id=member_id)
        .select_related("template")
        .order_by("valid_until", "id")
    )


def discount_for(template: CouponTemplate, base: Decimal) -> Decimal:
    """What the coupon takes off a bill of `base` yuan (never more than the bill)."""
    if template.kind in (CouponTemplate.Kind.CASH, CouponTemplate.Kind.THRESHOLD):
        off = template.value
    elif template.kind == CouponTemplate.Kind.PERCENT:
        off = yuan(base * (1 - template.value))
        if template.max_discount is not None:
            off = min(off, template.max_discount)
    else:  # a gift or free shipping takes nothing off the bill itself
        off = ZERO
    return min(off, base)


# why_unusable's `store` when the caller does not say where (a lookup, not a use).
ANY_STORE = object()


def store_refusal(template: CouponTemplate, store: Store | None) -> str:
    """Empty when the template's coupons can be used at `store` (None: no store)."""
    if template.usable_at_store(store):
        return ""
    names = "、".join(template.store_limits.values())
    if store is None:
        return _("This coupon can only be used at: %(stores)s.") % {"stores": names}
    return _("This coupon cannot be used at this store (valid at: %(stores)s).") % {"stores": names}


def why_unusable(
    coupon: Coupon,
    *,
    now,
    member: Member | None = None,
    base: Decimal | None = None,
    category: str | None = None,
    store=ANY_STORE,
) -> str:
    """Empty when the coupon can be used now (for this member, bill, category and store:
    a Store, or None for a purchase of no store; ANY_STORE does not check the store)."""
    if coupon.status == Coupon.Status.REDEEMED:
        when = timezone.localtime(coupon.redeemed_at).strftime("%Y-%m-%d %H:%M")
        return _("This coupon was already used on %(when)s.") % {"when": when}
    if coupon.status == Coupon.Status.VOID:
        return _("This coupon has been voided.")
    if coupon.status == Coupon.Status.EXPIRED or now >= coupon.valid_until:
        last = last_valid_day(coupon.valid_until)
        return _("This coupon expired after %(day)s.") % {"day": last.isoformat()}
    if now < coupon.valid_from:
        first = timezone.localdate(coupon.valid_from)
        return _("This coupon can be used from %(day)s.") % {"day": first.isoformat()}
    if member is not None and coupon.member_id != member.pk:
        return _("This coupon belongs to another member.")
    template = coupon.template
    if store is not ANY_STORE and (refusal := store_refusal(template, store)):
        return refusal
    if category is not None and template.category_set() and category not in template.category_set():
        return _("This coupon is only for: %(categories)s.") % {
            "categories": "、".join(sorted(template.category_set()))
        }
    if base is not None and base < template.min_spend:
        return _("This coupon needs a spend of at least %(min)s yuan.") % {
            "min": template.min_spend
        }
    return ""


def coupon_refuse_unless_usable(coupon: Coupon, *, now, store=ANY_STORE, **conditions) -> None:
    """Raise the business error of why_unusable, if any: CouponNotValidHere (its own
    code, for the POS) when only the store is wrong, else CouponNotUsable."""
    reason = why_unusable(coupon, now=now, store=store, **conditions)
    if not reason:
        return
    if store is not ANY_STORE and reason == store_refusal(coupon.template, store):
        raise CouponNotValidHere(
            reason, coupon_code=coupon.code, stores=list(coupon.template.store_limits.values())
        )
    raise CouponNotUsable(reason, coupon_code=coupon.code)


@dataclass(frozen=True)
class CouponCheck:
    coupon: Coupon
    usable: bool
    reason: str
    discount: Decimal | None


def coupon_check(
    *,
    code: str,
    member: Member | None = None,
    amount=None,
    category: str | None = None,
    store=ANY_STORE,
    now=None,
) -> CouponCheck:
    """Whether a coupon can be used now (at `store`, when given) and, given a bill, what
    it would take off."""
    now = now or timezone.now()
    coupon = coupon_by_code(code)
    base = Decimal(amount) if amount is not None else None
    reason = why_unusable(coupon, now=now, member=member, base=base, category=category, store=store)
    discount = discount_for(coupon.template, base) if base is not None and not reason else None
    return CouponCheck(coupon, not reason, reason, discount)


# --- using ------------------------------------------------------------------------


def _claim(coupon: Coupon, *, now, store, actor, purchase, discount) -> bool:
    """Mark the coupon used if it still is usable: one conditional UPDATE."""
    changed = _claim_update.set(
        coupon.pk,
        {
            "status": Coupon.Status.REDEEMED,
            "redeemed_at": now,
            "redeemed_store": store,
            "redeemed_by": actor,
            "purchase": purchase,
            "discount": discount,
        },
        Coupon.Status.ISSUED,  # WHERE status = issued AND valid_from <= now < valid_until
        now,
        now,
    )
    return bool(changed)


def coupon_apply_to_purchase(*, coupon: Coupon, purchase: Purchase, discount: Decimal, now) -> None:
    """Inside the purchase transaction: use the coupon for it, or raise CouponNotUsable."""
    if not _claim(
        coupon,
        now=now,
        store=purchase.store,
        actor=purchase.staff,
        purchase=purchase,
        discount=discount,
    ):
        coupon.refresh_from_db()
        raise CouponNotUsable(
            why_unusable(coupon, now=now) or _("This coupon cannot be used."),
            coupon_code=coupon.code,
        )
    coupon_event(
        coupon,
        CouponEvent.Kind.REDEEMED,
        now=now,
        actor=purchase.staff,
        store=purchase.store,
        purchase=purchase,
    )


@transaction.atomic
def coupon_redeem(
    *,
    code: str,
    store: Store | None,
    actor: User | None = None,
    member: Member | None = None,
    now: dt.datetime | None = None,
) -> Coupon:
    """核销 outside a recorded purchase (a gift item, a free drink): exactly once.

    Sixteen tills verifying one code at once: one UPDATE changes the row, the other
    fifteen change nothing and are told the coupon was already used.
    """
    now = now or timezone.now()
    coupon = coupon_by_code(code)
    coupon_refuse_unless_usable(coupon, now=now, member=member, store=store)
    value = coupon.template.value if coupon.template.kind != CouponTemplate.Kind.PERCENT else ZERO
    if not _claim(coupon, now=now, store=store, actor=actor, purchase=None, discount=value):
        coupon.refresh_from_db()
        raise CouponNotUsable(
            why_unusable(coupon, now=now) or _("This coupon cannot be used."),
            coupon_code=coupon.code,
        )
    coupon_event(coupon, CouponEvent.Kind.REDEEMED, now=now, actor=actor, store=store)
    coupon.refresh_from_db()
    return coupon


@transaction.atomic
def coupon_void(*, coupon: Coupon, actor: User, reason: str, now=None) -> Coupon:
    """Cancel a usable coupon (issued by mistake, a customer complaint). Audited by its event."""
    if not reason or not reason.strip():
        raise ValidationError({"reason": _("A reason is required to void a coupon.")})
    now = now or timezone.now()
    changed = Coupon.objects.filter(pk=coupon.pk, status=Coupon.Status.ISSUED).update(
        status=Coupon.Status.VOID
    )
    coupon.refresh_from_db()
    if not changed:
        raise CouponNotUsable(
            _("Only a usable coupon can be voided; this one is %(status)s.")
            % {"status": coupon.get_status_display()}
        )
    coupon_event(coupon, CouponEvent.Kind.VOIDED, now=now, actor=actor, note=reason.strip())
    return coupon


def coupons_restore_for_refund(*, purchase: Purchase, actor=None, now) -> int:
    """A fully refunded purchase gives its coupon back while the coupon is still valid."""
    restored = 0
    for coupon in Coupon.objects.filter(purchase=purchase, status=Coupon.Status.REDEEMED):
        if coupon.valid_until <= now:
            continue
        Coupon.objects.filter(pk=coupon.pk, status=Coupon.Status.REDEEMED).update(
            status=Coupon.Status.ISSUED,
            redeemed_at=None,
            redeemed_store=None,
            redeemed_by=None,
            purchase=None,
            discount=ZERO,
        )
        coupon_event(
            coupon,
            CouponEvent.Kind.RESTORED,
            now=now,
            actor=actor,
            purchase=purchase,
            note=purchase.external_ref,
        )
        restored += 1
    return restored


def coupons_expire(*, now=None, batch: int = 5000) -> int:
    """Mark usable coupons past their last day expired, in batches; safe to run twice.

    Each batch is one transaction: the rows are taken with SKIP LOCKED on PostgreSQL
    (two workers never take the same coupon) and under SQLite's write lock, then
    updated only while still usable, and an event is written for each.
    """
    now = now or timezone.now()
    total = 0
    while True:
        with transaction.atomic():
            due = Coupon.objects.filter(status=Coupon.Status.ISSUED, valid_until__lte=now)
            if connection.features.has_select_for_update_skip_locked:
                due = due.select_for_update(skip_locked=True)
            ids = list(due.order_by("valid_until", "id").values_list("pk", flat=True)[:batch])
            if not ids:
                return total
            Coupon.objects.filter(pk__in=ids, status=Coupon.Status.ISSUED).update(
                status=Coupon.Status.EXPIRED
            )
            CouponEvent.objects.bulk_create(
                [CouponEvent(coupon_id=pk, kind=CouponEvent.Kind.EXPIRED, at=now) for pk in ids]
            )
        total += len(ids)


# --- reports ----------------------------------------------------------------------


def template_usage(queryset):
    """Issued / used / expired counts and the discount given, per template."""
    return queryset.annotate(
        n_issued=Count("coupons"),
        n_redeemed=Count("coupons", filter=Q(coupons__status=Coupon.Status.REDEEMED)),
        n_expired=Count("coupons", filter=Q(coupons__status=Coupon.Status.EXPIRED)),
        discount_given=Sum(
            "coupons__discount", filter=Q(coupons__status=Coupon.Status.REDEEMED), default=0
        ),
    )
