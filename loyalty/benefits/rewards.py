"""The rewards catalog (积分商城): redeem points for goods or coupons, pick up, cancel.

Points and stock are taken in one transaction: the member's card is locked (so
their balance and per-member limit hold), and the stock is taken by a conditional
UPDATE (so the last item goes to exactly one of many members redeeming at once).
"""

import datetime as dt

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.benefits.issuing import CouponNotIssued, coupon_issue
from loyalty.errors import LoyaltyError, ReferenceConflict
from loyalty.ledger import card_lock, expiry_for, lot_add, points_notify, points_take
from loyalty.models import Coupon, LoyaltySettings, PointsEntry, Redemption, Reward, normalize_code
from loyalty.models import random_code as _random_code
from members.models import Member, Store, User


class RewardNotAvailable(LoyaltyError):
    code = "reward_not_available"


class RedemptionNotPossible(LoyaltyError):
    code = "redemption_not_possible"


class RedemptionNotFound(LoyaltyError):
    code = "redemption_not_found"
    status = 404


def _coupon_issuable(now) -> Q:
    """Goods, or a coupon reward whose coupon can still be issued (as coupon_issue decides)."""
    today = timezone.localdate(now, timezone.get_default_timezone())
    return Q(kind=Reward.Kind.GOODS) | (
        Q(coupon_template__active=True)
        & (
            Q(coupon_template__stock__isnull=True)
            | Q(coupon_template__issued_count__lt=F("coupon_template__stock"))
        )
        & (
            Q(coupon_template__valid_until__isnull=True)
            | Q(coupon_template__valid_until__gte=today)
        )
    )


def available_rewards(*, now=None):
    now = now or timezone.now()
    return (
        Reward.objects.filter(active=True)
        .filter(Q(starts_at__isnull=True) | Q(starts_at__lte=now))
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .filter(Q(stock__isnull=True) | Q(redeemed_count__lt=F("stock")))
        .filter(_coupon_issuable(now))
        .select_related("coupon_template")
    )


def _same_request(existing: Redemption, member: Member, reward: Reward, key: str):
    # A key reused by another member must not hand them this member's pickup code.
    if existing.member_id != member.pk or existing.reward_id != reward.pk:
        raise ReferenceConflict(
            _("Reference %(ref)s was already used for another redemption.") % {"ref": key},
            key=key,
        )
    return existing, False


@transaction.atomic
def reward_redeem(
    *,
    member: Member,
    reward: Reward,
    key: str,
    actor: User | None = None,
    now: dt.datetime | None = None,
) -> tuple[Redemption, bool]:
    """Spend the reward's points on it, once per `key` (the form's token).

    Goods wait for pickup with a code staff verify; a coupon reward issues the
    coupon at once and is fulfilled. Raises NotEnoughPoints, RewardNotAvailable, and
    ReferenceConflict for a key already used by another member or for another reward.
    """
    now = now or timezone.now()
    existing = Redemption.objects.filter(idempotency_key=key).first()
    if existing:
        return _same_request(existing, member, reward, key)
    card = card_lock(member.pk)
    # Checked again under the lock: a twin request may have committed meanwhile.
    existing = Redemption.objects.filter(idempotency_key=key).first()
    if existing:
        return _same_request(existing, member, reward, key)
    reward = Reward.objects.select_related("coupon_template").get(pk=reward.pk)
    if not reward.available(now):
        raise RewardNotAvailable(
            _("%(name)s cannot be redeemed now (out of stock or not on offer).")
            % {"name": reward.name}
        )
    if reward.per_member_limit:
        had = Redemption.objects.filter(member=member, reward=reward).exclude(
            status=Redemption.Status.CANCELLED
        )
        if had.count() >= reward.per_member_limit:
            raise RewardNotAvailable(
                _("Each member may redeem %(name)s at most %(n)d time(s).")
                % {"name": reward.name, "n": reward.per_member_limit}
            )
    taken = (
        Reward.objects.filter(pk=reward.pk)
        .filter(Q(stock__isnull=True) | Q(redeemed_count__lt=F("stock")))
        .update(redeemed_count=F("redeemed_count") + 1)
    )
    if not taken:
        raise RewardNotAvailable(_("%(name)s is out of stock.") % {"name": reward.name})
    redemption = Redemption(
        member=member,
        reward=reward,
        points=reward.points_cost,
        cash_part=reward.cash_part,
        idempotency_key=key,
        created_at=now,
    )
    entry = points_take(
        card,
        points=reward.points_cost,
        kind=PointsEntry.Kind.REDEEM,
        key=f"reward:{key}",
        now=now,
        reason=_("Redeemed: %(name)s") % {"name": reward.name},
        source=f"reward:{reward.pk}",
        actor=actor,
    )
    if reward.kind == Reward.Kind.COUPON:
        try:
            redemption.coupon, _created = coupon_issue(
                template=reward.coupon_template,
                member=member,
                source=Coupon.Source.REWARD,
                actor=actor,
                key=f"reward:{key}",
                apply_limits=False,
                now=now,
            )
        except CouponNotIssued as exc:
            # The coupon ran out or was switched off: the reward is what is not
            # available; the points and stock taken above roll back with this error.
            raise RewardNotAvailable(exc.message) from exc
        redemption.status = Redemption.Status.FULFILLED
        redemption.fulfilled_at = now
    for _attempt in range(5):
        redemption.pickup_code = _random_code(Redemption.PICKUP_CODE_LENGTH)
        try:
            with transaction.atomic():
                redemption.save(force_insert=True)
            break
        except IntegrityError:
            redemption.pk = None
    else:  # pragma: no cover
        raise IntegrityError("could not allocate a pickup code")
    card.save(update_fields=["points_balance"])
    points_notify(member.pk, entry)
    return redemption, True


def redemption_by_code(code: str) -> Redemption:
    found = (
        Redemption.objects.select_related("reward", "member")
        .filter(pickup_code=normalize_code(code))
        .first()
    )
    if found is None:
        raise RedemptionNotFound(_("No redemption with pickup code %(code)s.") % {"code": code})
    return found


@transaction.atomic
def redemption_fulfil(
    *, code: str, store: Store | None, actor: User | None, now=None
) -> Redemption:
    """Staff hand over the item (核销 of the pickup code): exactly once."""
    now = now or timezone.now()
    redemption = redemption_by_code(code)
    changed = Redemption.objects.filter(
        pk=redemption.pk, status=Redemption.Status.AWAITING_PICKUP
    ).update(
        status=Redemption.Status.FULFILLED,
        fulfilled_at=now,
        fulfilled_store=store,
        handled_by=actor,
    )
    redemption.refresh_from_db()
    if not changed:
        raise RedemptionNotPossible(
            _("This pickup code is %(status)s, not awaiting pickup.")
            % {"status": redemption.get_status_display()}
        )
    return redemption


@transaction.atomic
def redemption_cancel(*, redemption: Redemption, actor: User | None, reason: str, now=None):
    """Cancel an item not yet picked up: the points come back, the stock too."""
    now = now or timezone.now()
    card = card_lock(redemption.member_id)
    changed = Redemption.objects.filter(
        pk=redemption.pk, status=Redemption.Status.AWAITING_PICKUP
    ).update(status=Redemption.Status.CANCELLED, cancelled_at=now, handled_by=actor, note=reason)
    redemption.refresh_from_db()
    if not changed:
        raise RedemptionNotPossible(
            _("Only a redemption awaiting pickup can be cancelled; this one is %(status)s.")
            % {"status": redemption.get_status_display()}
        )
    Reward.objects.filter(pk=redemption.reward_id).update(redeemed_count=F("redeemed_count") - 1)
    entry = lot_add(
        card,
        kind=PointsEntry.Kind.REFUND,
        points=redemption.points,
        key=f"reward:{redemption.idempotency_key}:cancel",
        now=now,
        expires_at=expiry_for(now, LoyaltySettings.current()),
        reason=_("Redemption cancelled: %(name)s") % {"name": redemption.reward.name},
        source=f"reward:{redemption.reward_id}",
        actor=actor,
    )
    card.save(update_fields=["points_balance", "points_debt"])
    points_notify(redemption.member_id, entry)
    return redemption
