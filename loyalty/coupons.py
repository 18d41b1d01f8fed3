"""Coupons: issue, check, redeem (核销), void, give back, expire.

Stock and state change by conditional UPDATEs (`... WHERE issued_count < stock`,
`... WHERE status = 'issued'`), so concurrent attempts cannot oversell a template
or use one coupon twice, on SQLite and PostgreSQL alike. Per-member limits are
checked under the member's card lock, the same lock the points services take.
Every state change appends a CouponEvent.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from config.platform.fixed_sql import FixedInsert, FixedRead, FixedUpdate
from members.models import Member, Store, User

from . import signals
from .models import Card, Coupon, CouponEvent, CouponTemplate, Purchase, normalize_code
from .money import ZERO, yuan
from .services import LoyaltyError, _local_midnight, _lock_card

ISSUE_CODE_TRIES = 5


class CouponNotIssued(LoyaltyError):
    code = "coupon_not_issued"


class CouponNotUsable(LoyaltyError):
    code = "coupon_not_usable"


class CouponNotFound(LoyaltyError):
    code = "coupon_not_found"
    status = 404


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
# Issuing (the welcome coupon of every registration, the nightly tier coupons).
_coupon_by_issue_key = FixedRead(Coupon, "t0.issue_key = %s")  # unique
_template_by_id = FixedRead(CouponTemplate, "t0.id = %s")
_insert_coupon = FixedInsert(Coupon)


def _take_from_stock(template_id: int) -> int:
    """issued_count + 1 while below the stock (or without one): 1, or 0 when sold out."""
    with connection.cursor() as cursor:
        cursor.execute(_TAKE_SQL, [template_id])
        return cursor.rowcount


_TAKE_SQL = (
    f"UPDATE {CouponTemplate._meta.db_table} SET issued_count = issued_count + 1 "
    "WHERE id = %s AND (stock IS NULL OR issued_count < stock)"
)


def coupon_by_code(code: str) -> Coupon:
    found = _coupon_by_code.first(normalize_code(code))
    if found is None:
        raise CouponNotFound(_("No coupon with code %(code)s.") % {"code": code})
    return found


def usable_coupons(member_id: int, *, now=None):
    """The member's coupons that can be used now, soonest to expire first."""
    now = now or timezone.now()
    return (
        Coupon.objects.filter(
            member_id=member_id,
            status=Coupon.Status.ISSUED,
            valid_from__lte=now,
            valid_until__gt=now,
        )
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


def why_unusable(
    coupon: Coupon,
    *,
    now,
    member: Member | None = None,
    base: Decimal | None = None,
    category: str | None = None,
) -> str:
    """Empty when the coupon can be used now (for this member, bill and category)."""
    if coupon.status == Coupon.Status.REDEEMED:
        when = timezone.localtime(coupon.redeemed_at).strftime("%Y-%m-%d %H:%M")
        return _("This coupon was already used on %(when)s.") % {"when": when}
    if coupon.status == Coupon.Status.VOID:
        return _("This coupon has been voided.")
    if coupon.status == Coupon.Status.EXPIRED or now >= coupon.valid_until:
        last = timezone.localdate(coupon.valid_until - dt.timedelta(microseconds=1))
        return _("This coupon expired after %(day)s.") % {"day": last.isoformat()}
    if now < coupon.valid_from:
        first = timezone.localdate(coupon.valid_from)
        return _("This coupon can be used from %(day)s.") % {"day": first.isoformat()}
    if member is not None and coupon.member_id != member.pk:
        return _("This coupon belongs to another member.")
    template = coupon.template
    if category is not None and template.category_set() and category not in template.category_set():
        return _("This coupon is only for: %(categories)s.") % {
            "categories": "、".join(sorted(template.category_set()))
        }
    if base is not None and base < template.min_spend:
        return _("This coupon needs a spend of at least %(min)s yuan.") % {
            "min": template.min_spend
        }
    return ""


@dataclass(frozen=True)
class CouponCheck:
    coupon: Coupon
    usable: bool
    reason: str
    discount: Decimal | None


def coupon_check(
    *, code: str, member: Member | None = None, amount=None, category: str | None = None, now=None
) -> CouponCheck:
    """Whether a coupon can be used now and, given a bill, what it would take off."""
    now = now or timezone.now()
    coupon = coupon_by_code(code)
    base = Decimal(amount) if amount is not None else None
    reason = why_unusable(coupon, now=now, member=member, base=base, category=category)
    discount = discount_for(coupon.template, base) if base is not None and not reason else None
    return CouponCheck(coupon, not reason, reason, discount)


# --- issuing --------------------------------------------------------------------


def _validity(template: CouponTemplate, now) -> tuple[dt.datetime, dt.datetime]:
    """From when and until when (exclusive) a coupon issued now is usable, in Shanghai days."""
    today = timezone.localdate(now)
    if template.valid_days:
        return now, _local_midnight(today + dt.timedelta(days=template.valid_days))
    start = _local_midnight(template.valid_from) if template.valid_from else now
    return start, _local_midnight(template.valid_until + dt.timedelta(days=1))


def _may_receive(template: CouponTemplate, member: Member, card: Card) -> bool:
    if template.audience == CouponTemplate.Audience.TIERS:
        return template.tiers.filter(pk=card.tier_id).exists()
    if template.audience == CouponTemplate.Audience.TAGS:
        return member.tags.filter(pk__in=template.tags.values("pk")).exists()
    return True


def _event(coupon: Coupon, kind: str, *, now, actor=None, store=None, purchase=None, note=""):
    _insert_event(
        CouponEvent(
            coupon=coupon, kind=kind, actor=actor, store=store, purchase=purchase, note=note, at=now
        )
    )


@transaction.atomic
def coupon_issue(
    *,
    template: CouponTemplate,
    member: Member,
    source: str = Coupon.Source.STAFF,
    actor: User | None = None,
    key: str | None = None,
    note: str = "",
    apply_limits: bool = True,
    now: dt.datetime | None = None,
) -> tuple[Coupon, bool]:
    """Give `member` one coupon of `template`. Returns (coupon, created).

    With `key`, at most one coupon is ever issued for it (a job, a check-in streak,
    a reward): the same key again returns the first coupon. Raises CouponNotIssued
    when the template is inactive or out of stock, the member is not in its
    audience, or already holds as many as the per-member limit allows.
    `apply_limits=False` (a reward bought with points, a check-in streak bonus)
    skips the audience and per-member limit, whose own rules already decided.
    """
    if key:
        existing = Coupon.objects.filter(issue_key=key).first()
        if existing:
            return existing, False
    card = _lock_card(member.pk)  # serialises this member's issues: the limit holds
    return _issue_coupon(
        card, template=template, member=member, source=source, actor=actor, key=key,
        note=note, apply_limits=apply_limits, now=now or timezone.now(),
    )  # fmt: skip


def _issue_coupon(
    card: Card, *, template, member, source, actor, key, note, apply_limits, now
) -> tuple[Coupon, bool]:
    """coupon_issue's work, in a transaction that holds the member's card: also called
    by the registration on the card it just made. No savepoint of its own: every
    refusal (CouponNotIssued) comes before the first write, so the caller's
    transaction goes on after catching it."""
    if key:
        existing = _coupon_by_issue_key.first(key)
        if existing:
            return existing, False
    template = _template_by_id.first(template.pk)
    if template is None:
        raise CouponTemplate.DoesNotExist
    if not template.active:
        raise CouponNotIssued(_("Coupon %(name)s is not active.") % {"name": template.name})
    valid_from, valid_until = _validity(template, now)
    if valid_until <= now:
        raise CouponNotIssued(
            _("Coupon %(name)s can no longer be issued: its window has ended.")
            % {"name": template.name}
        )
    if apply_limits and not _may_receive(template, member, card):
        raise CouponNotIssued(
            _("%(member)s may not receive coupon %(name)s.")
            % {"member": member.member_no, "name": template.name}
        )
    if apply_limits and template.per_member_limit:
        held = Coupon.objects.filter(template=template, member=member).exclude(
            status=Coupon.Status.VOID
        )
        if held.count() >= template.per_member_limit:
            raise CouponNotIssued(
                _("%(member)s already has the most coupons %(name)s allowed per member (%(n)d).")
                % {
                    "member": member.member_no,
                    "name": template.name,
                    "n": template.per_member_limit,
                }
            )
    # Take one from stock: a conditional UPDATE, so concurrent issues cannot oversell.
    taken = _take_from_stock(template.pk)
    if not taken:
        raise CouponNotIssued(_("Coupon %(name)s is out of stock.") % {"name": template.name})
    coupon = Coupon(
        template=template,
        member=member,
        valid_from=valid_from,
        valid_until=valid_until,
        source=source,
        issue_key=key or None,
        issued_by=actor,
        issued_at=now,
    )
    for _attempt in range(ISSUE_CODE_TRIES):
        coupon.code = Coupon.new_code()
        try:
            with transaction.atomic():
                _insert_coupon(coupon)
            break
        except IntegrityError:
            if key and Coupon.objects.filter(issue_key=key).exists():
                raise  # a concurrent twin with the same key won: the caller's transaction fails
            coupon.pk = None
    else:  # pragma: no cover - 30^10 codes: five collisions in a row is something else
        raise IntegrityError("could not allocate a coupon code")
    _event(coupon, CouponEvent.Kind.ISSUED, now=now, actor=actor, note=note)
    signals.coupon_issued.send(
        sender=Coupon, coupon_id=coupon.pk, member_id=member.pk, source=source, coupon=coupon
    )
    return coupon, True


@dataclass
class BulkIssueReport:
    issued: int = 0
    skipped: int = 0
    out_of_stock: int = 0
    reasons: dict | None = None

    def add_reason(self, reason: str) -> None:
        self.reasons = self.reasons or {}
        self.reasons[reason] = self.reasons.get(reason, 0) + 1


def coupons_issue_bulk(
    *,
    template: CouponTemplate,
    members,
    actor: User | None,
    source: str = Coupon.Source.STAFF,
    now=None,
) -> BulkIssueReport:
    """Issue one coupon to each member (a list, or a tag's members); count what was refused.

    Each member is its own transaction, so one refusal never undoes the others, and
    it stops at the first "out of stock" (nothing more can be issued).
    """
    report = BulkIssueReport()
    for member in members:
        try:
            coupon_issue(template=template, member=member, source=source, actor=actor, now=now)
        except CouponNotIssued as exc:
            if (
                not CouponTemplate.objects.filter(pk=template.pk)
                .filter(Q(stock__isnull=True) | Q(issued_count__lt=F("stock")))
                .exists()
            ):
                report.out_of_stock += 1
                break
            report.skipped += 1
            report.add_reason(exc.message)
        else:
            report.issued += 1
    return report


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
    _event(
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
    reason = why_unusable(coupon, now=now, member=member)
    if reason:
        raise CouponNotUsable(reason, coupon_code=coupon.code)
    value = coupon.template.value if coupon.template.kind != CouponTemplate.Kind.PERCENT else ZERO
    if not _claim(coupon, now=now, store=store, actor=actor, purchase=None, discount=value):
        coupon.refresh_from_db()
        raise CouponNotUsable(
            why_unusable(coupon, now=now) or _("This coupon cannot be used."),
            coupon_code=coupon.code,
        )
    _event(coupon, CouponEvent.Kind.REDEEMED, now=now, actor=actor, store=store)
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
    _event(coupon, CouponEvent.Kind.VOIDED, now=now, actor=actor, note=reason.strip())
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
        _event(
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
