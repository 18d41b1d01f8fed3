"""The welcome offer (新人礼): points and/or a coupon from the settings, once per member."""

from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty import signals
from loyalty.benefits.issuing import CouponNotIssued, coupon_issue, coupon_issue_on_card
from loyalty.ledger import expiry_for, person_key, points_award, points_award_on_card
from loyalty.models import Card, Coupon, CouponTemplate
from loyalty.rules import purchase_rules
from members.models import Member

# Members who come in from the old system (import) or are typed in by staff in the
# admin already had their welcome, or never asked for one.
WELCOMED_SOURCES = {
    Member.Source.QR,
    Member.Source.COUNTER,
    Member.Source.WECHAT,
    Member.Source.REFERRAL,
    Member.Source.API,
}


def welcome_grant(*, member: Member, now=None, card: Card | None = None) -> dict:
    """Give the welcome points and coupon; the same member again gets nothing more.

    `card`: the member's card when the caller's transaction holds it (registration:
    the card made in that transaction), so nothing is locked or read again here."""
    conf = purchase_rules().conf  # kept beside the rules' stamp: read-only
    now = now or timezone.now()
    given = {"points": 0, "coupon": None}
    key = f"welcome:{person_key(member)}"  # rejoining with the number brings no second gift
    if conf.welcome_points:
        points = {
            "points": conf.welcome_points,
            "key": key,
            "reason": _("Welcome gift"),
            "source": "welcome",
            "now": now,
            "expires_at": expiry_for(now, conf),
        }
        _entry, created = (
            points_award_on_card(card, **points) if card else points_award(member=member, **points)
        )
        given["points"] = conf.welcome_points if created else 0
    if conf.welcome_coupon_id:
        coupon = {
            # read by the issue itself (under the lock): no read here
            "template": CouponTemplate(pk=conf.welcome_coupon_id),
            "member": member,
            "source": Coupon.Source.WELCOME,
            "key": key,
            "apply_limits": False,
            "now": now,
        }
        try:
            issued, created = (
                coupon_issue_on_card(card, actor=None, note="", **coupon)
                if card
                else coupon_issue(**coupon)
            )
            given["coupon"] = issued if created else None
        except CouponNotIssued:
            pass  # out of stock or inactive: the points still count, the member still joins
    signals.welcomed.send(
        sender=Member, member=member, points=given["points"], coupon=given["coupon"]
    )
    return given
