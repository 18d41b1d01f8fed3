"""Coupons given out: one to a member (staff, a job, a reward, the welcome offer), or one
to each of many members (the admin's "Issue to members…").

Stock changes by a conditional UPDATE (`... WHERE issued_count < stock`), so
concurrent issues cannot oversell a template. Per-member limits are checked under the
member's card lock (ledger.card_lock), the lock the points services take. Each issue
appends a CouponEvent and sends `coupon_issued`.
"""

import datetime as dt
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from config.platform.fixed_sql import FixedInsert, FixedRead
from loyalty.coupons import coupon_event
from members.models import Member, User

from .. import signals
from ..dates import local_midnight
from ..errors import LoyaltyError
from ..ledger import card_lock
from ..models import Card, Coupon, CouponEvent, CouponTemplate

ISSUE_CODE_TRIES = 5


class CouponNotIssued(LoyaltyError):
    code = "coupon_not_issued"


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


def _validity(template: CouponTemplate, now) -> tuple[dt.datetime, dt.datetime]:
    """From when and until when (exclusive) a coupon issued now is usable, in Shanghai days."""
    today = timezone.localdate(now)
    if template.valid_days:
        return now, local_midnight(today + dt.timedelta(days=template.valid_days))
    start = local_midnight(template.valid_from) if template.valid_from else now
    return start, local_midnight(template.valid_until + dt.timedelta(days=1))


def _may_receive(template: CouponTemplate, member: Member, card: Card) -> bool:
    if template.audience == CouponTemplate.Audience.TIERS:
        return template.tiers.filter(pk=card.tier_id).exists()
    if template.audience == CouponTemplate.Audience.TAGS:
        return member.tags.filter(pk__in=template.tags.values("pk")).exists()
    return True


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
    card = card_lock(member.pk)  # serialises this member's issues: the limit holds
    return coupon_issue_on_card(
        card, template=template, member=member, source=source, actor=actor, key=key,
        note=note, apply_limits=apply_limits, now=now or timezone.now(),
    )  # fmt: skip


def coupon_issue_on_card(
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
    coupon_event(coupon, CouponEvent.Kind.ISSUED, now=now, actor=actor, note=note)
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
