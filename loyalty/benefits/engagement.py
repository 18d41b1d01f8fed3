"""Daily check-in (签到), referral rewards (邀请有礼) and action points.

Every point given here is a lot written by the points services (or, inside a
purchase, by the same helpers on the purchase's locked card), each under a unique
idempotency key, so no reward can be earned twice by a retry or a double tap.
"""

import contextlib
import datetime as dt

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.benefits.issuing import CouponNotIssued, coupon_issue
from loyalty.dates import local_midnight
from loyalty.errors import LoyaltyError
from loyalty.ledger import (
    card_lock,
    card_seen,
    entry_by_key,
    expiry_for,
    lot_add,
    person_key,
    points_award,
    points_clawback,
    points_notify,
)
from loyalty.models import (
    Card,
    CheckIn,
    Coupon,
    GrowthEntry,
    LoyaltySettings,
    PointsEntry,
    Purchase,
    Referral,
)
from loyalty.tiers import growth_add, growth_award, tier_upgrade_if_qualified
from members.models import Member


class AlreadyCheckedIn(LoyaltyError):
    code = "already_checked_in"
    status = 409


def _shanghai_day(now: dt.datetime) -> dt.date:
    # The merchant's day (TIME_ZONE), not the active one: a request that activated
    # another time zone must not move the check-in day or the referral month.
    return timezone.localdate(now, timezone.get_default_timezone())


# --- check-in ---------------------------------------------------------------------


def streak_on(member_id: int, day: dt.date) -> int:
    """The member's unbroken streak counting `day`, or 0 when they missed the day before."""
    row = CheckIn.objects.filter(member_id=member_id, day=day).values_list("streak", flat=True)
    return row.first() or 0


@transaction.atomic
def checkin(*, member: Member, now: dt.datetime | None = None) -> CheckIn:
    """Check in for today (Shanghai day). Raises AlreadyCheckedIn on a second try.

    The streak grows by one when yesterday has a check-in and starts again at 1
    after a missed day; every `checkin_streak_days`-th day of a streak brings the
    bonus points and the bonus coupon from the settings.
    """
    now = now or timezone.now()
    day = _shanghai_day(now)
    card = card_lock(member.pk)  # one check-in per member at a time: no double day
    if CheckIn.objects.filter(member_id=member.pk, day=day).exists():
        raise AlreadyCheckedIn(_("You have already checked in today."))
    card_seen(member.pk, now=now)
    conf = LoyaltySettings.current()
    streak = streak_on(member.pk, day - dt.timedelta(days=1)) + 1
    bonus_due = bool(conf.checkin_streak_days) and streak % conf.checkin_streak_days == 0
    bonus_points = conf.checkin_streak_points if bonus_due else 0
    row = CheckIn(member=member, day=day, streak=streak, created_at=now)
    key = f"checkin:{member.pk}:{day.isoformat()}"
    expires_at = expiry_for(now, conf)
    entries = []
    if conf.checkin_points:
        entry = lot_add(
            card,
            kind=PointsEntry.Kind.EARN,
            points=conf.checkin_points,
            key=key,
            now=now,
            expires_at=expires_at,
            reason=_("Daily check-in"),
            source=f"checkin:{day.isoformat()}",
        )
        entries.append(entry)
        row.points = conf.checkin_points
    if bonus_points:
        entry = lot_add(
            card,
            kind=PointsEntry.Kind.EARN,
            points=bonus_points,
            key=f"{key}:streak",
            now=now,
            expires_at=expires_at,
            reason=_("Check-in streak: day %(n)d") % {"n": streak},
            source=f"checkin:{day.isoformat()}",
        )
        entries.append(entry)
        row.bonus_points = bonus_points
    if bonus_due and conf.checkin_streak_coupon_id:
        # Out of stock or switched off: no coupon, but the points still count.
        with contextlib.suppress(CouponNotIssued):
            row.coupon, _created = coupon_issue(
                template=conf.checkin_streak_coupon,
                member=member,
                source=Coupon.Source.CHECKIN,
                key=f"{key}:coupon",
                apply_limits=False,
                now=now,
            )
    figures = ["points_balance", "points_debt"]
    if conf.checkin_growth:
        growth_add(card, conf.checkin_growth, key=f"{key}:growth", reason=_("Daily check-in"),
                    now=now)  # fmt: skip
        figures.append("growth_value")
        if conf.tier_basis == LoyaltySettings.TierBasis.GROWTH and tier_upgrade_if_qualified(
            card, conf, now
        ):
            figures += ["tier", "tier_since", "tier_review_on"]
    try:
        with transaction.atomic():
            row.save(force_insert=True)
    except IntegrityError as exc:  # pragma: no cover - the card lock makes this a race of none
        raise AlreadyCheckedIn(_("You have already checked in today.")) from exc
    card.save(update_fields=figures)
    for entry in entries:
        points_notify(member.pk, entry)
    return row


# --- action points --------------------------------------------------------------


def award_action(
    *, member: Member, action: str, points: int, reason: str, now=None
) -> tuple[PointsEntry | None, bool]:
    """Points, and the settings' growth value, for an action a member can do once. The
    one such action today is completing the profile ("profile", profile_reward). The
    keys are per person (person_key: the phone) and action: never twice, also not after
    deleting the account and joining again. Returns the points entry (None without
    points)."""
    growth = LoyaltySettings.current().action_growth
    if points <= 0 and growth <= 0:
        return None, False
    key = f"action:{person_key(member)}:{action}"
    # Given to this member already, under any key (an earlier phone number's, or the
    # per-member keys used before): not again. The person key covers a new member
    # with the same phone (deleted and joined again).
    given = PointsEntry.objects.filter(member=member, source=f"action:{action}").first()
    if given is not None or GrowthEntry.objects.filter(
        member=member, idempotency_key__startswith="action:",
        idempotency_key__endswith=f":{action}:growth",
    ).exists():  # fmt: skip
        return given, False
    with transaction.atomic():
        entry, created = None, False
        if points > 0:
            entry, created = points_award(
                member=member,
                points=points,
                key=key,
                reason=reason,
                source=f"action:{action}",
                now=now,
            )
        growth_award(member=member, growth=growth, key=f"{key}:growth", reason=reason, now=now)
    return entry, created


def profile_is_complete(member: Member) -> bool:
    return bool(member.name and member.gender and member.birthday)


def profile_reward(*, member: Member, now=None) -> tuple[PointsEntry | None, bool]:
    """Points for name + gender + birthday, once, when all three are filled in."""
    if not profile_is_complete(member):
        return None, False
    conf = LoyaltySettings.current()
    return award_action(
        member=member,
        action="profile",
        points=conf.profile_points,
        reason=_("Completed the profile"),
        now=now,
    )


# --- referral ---------------------------------------------------------------------


def is_self_referral(referrer: Member, invitee: Member) -> bool:
    """The same person on both sides: one member, one phone, or one WeChat account."""
    if referrer.pk == invitee.pk:
        return True
    if referrer.phone_hash and referrer.phone_hash == invitee.phone_hash:
        return True
    if referrer.wechat_openid and referrer.wechat_openid == invitee.wechat_openid:
        return True
    return bool(referrer.wechat_unionid and referrer.wechat_unionid == invitee.wechat_unionid)


def _month_start(now) -> dt.datetime:
    return local_midnight(_shanghai_day(now).replace(day=1))


@transaction.atomic
def referral_register(*, invitee: Member, now=None) -> Referral | None:
    """A friend registered with a member's referral code: link them, reward the referrer.

    One Referral per invitee (a retry returns it); no reward for a self-referral, for a
    person rewarded for before (an account deleted and made again), or past the
    referrer's monthly cap (the link is still kept, for the first purchase reward the
    friend gets and for the referrer's record).
    """
    if not invitee.referred_by_id:
        return None
    existing = Referral.objects.filter(invitee=invitee).first()
    if existing:
        return existing
    now = now or timezone.now()
    referrer = Member.objects.get(pk=invitee.referred_by_id)
    conf = LoyaltySettings.current()
    card_lock(referrer.pk)  # serialises the referrer's cap count, and twin calls
    # Checked again under the lock: a concurrent call for the same friend may have
    # committed the Referral meanwhile (the unique invitee would fail this one).
    existing = Referral.objects.filter(invitee=invitee).first()
    if existing:
        return existing
    person = person_key(invitee)
    registered_key = f"referral:{person}:registered"
    if is_self_referral(referrer, invitee):
        status = Referral.Status.REFUSED
    elif Referral.objects.filter(person=person).exists() or entry_by_key(registered_key):
        # This person was brought in before, deleted the account and joined again
        # through a link (theirs before this field: a registration reward in the
        # ledger): linked, no registration reward again, none of the cap used.
        status = Referral.Status.REJOINED
    else:
        rewarded_this_month = Referral.objects.filter(
            referrer=referrer,
            status=Referral.Status.REWARDED,
            created_at__gte=_month_start(now),
        ).count()
        over = conf.referral_monthly_cap and rewarded_this_month >= conf.referral_monthly_cap
        status = Referral.Status.OVER_CAP if over else Referral.Status.REWARDED
    referral = Referral.objects.create(
        referrer=referrer, invitee=invitee, status=status, created_at=now, person=person
    )
    if status == Referral.Status.REWARDED and conf.referral_points_on_registration:
        # Per friend's phone: a friend who deletes the account and joins again through
        # the link brings the referrer nothing more.
        _entry, created = points_award(
            member=referrer,
            points=conf.referral_points_on_registration,
            key=registered_key,
            reason=_("A friend registered with your referral link"),
            source=f"referral:{invitee.member_no}",
            now=now,
        )
        if created:
            referral.registered_points = conf.referral_points_on_registration
            referral.save(update_fields=["registered_points"])
    return referral


def referral_first_purchase(
    *, card: Card, invitee: Member, purchase: Purchase, now, conf: LoyaltySettings
) -> None:
    """Inside the friend's first purchase (its card is locked): reward both sides once.

    The friend's points go on the purchase's locked card; the referrer's through
    points_award, which locks the referrer's card after it (always invitee, then
    referrer: one order, no deadlock).
    """
    referral = Referral.objects.filter(invitee_id=invitee.pk).first()
    if referral is None or referral.status == Referral.Status.REFUSED:
        return
    if referral.first_purchase_at is not None:
        return
    friend_key = f"referral:{person_key(invitee)}:first_purchase:friend"
    if conf.referral_points_friend_first_purchase and not entry_by_key(friend_key):
        lot_add(
            card,
            kind=PointsEntry.Kind.EARN,
            points=conf.referral_points_friend_first_purchase,
            key=friend_key,
            now=now,
            expires_at=expiry_for(now, conf),
            reason=_("First purchase after joining through a friend"),
            source=f"referral:{referral.referrer_id}",
            purchase=purchase,
        )
    # A rejoined friend's first purchase still rewards the referrer if nobody was
    # rewarded for this person's first purchase yet (the key is per person).
    rewarding = (Referral.Status.REWARDED, Referral.Status.REJOINED)
    if referral.status in rewarding and conf.referral_points_referrer_first_purchase:
        points_award(
            member=referral.referrer,
            points=conf.referral_points_referrer_first_purchase,
            key=f"referral:{person_key(invitee)}:first_purchase:referrer",
            reason=_("Your friend made their first purchase"),
            source=f"referral:{invitee.member_no}",
            now=now,
            purchase=purchase,
        )
    referral.first_purchase_at = now
    referral.save(update_fields=["first_purchase_at"])


def referral_refund(*, card: Card, purchase: Purchase, actor=None, now) -> int:
    """A fully refunded first purchase takes its referral rewards back (both sides).

    Inside the refund (the friend's card is locked; the referrer's is locked after
    it, the order of referral_first_purchase). What a balance no longer covers is
    owed, as for any refund. The rewards are not given again on a later purchase:
    one reward per friend, and buy-then-refund earns nothing.
    """
    given = PointsEntry.objects.filter(
        purchase=purchase, idempotency_key__startswith="referral:", delta__gt=0
    ).order_by("pk")
    taken = 0
    for entry in given:
        key = f"{entry.idempotency_key}:clawback"
        if entry_by_key(key):
            continue
        owner = card if entry.member_id == card.pk else card_lock(entry.member_id)
        points_clawback(
            owner,
            points=entry.delta,
            key=key,
            now=now,
            reason=_("Referral reward taken back: the purchase was refunded"),
            reason_owed=_("Referral reward owed back: the purchase was refunded"),
            purchase=purchase,
            actor=actor,
        )
        if owner is not card:
            owner.save(update_fields=["points_balance", "points_debt"])
        taken += entry.delta
    return taken
