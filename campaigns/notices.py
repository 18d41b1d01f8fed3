"""Loyalty events turned into notices in the outbox (the texts members read).

Texts are composed in the site's language (Chinese by default) and kept short:
a WeChat template field holds at most 20 characters, so the title fits one.
"""

import datetime as dt

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from loyalty.dates import last_valid_day
from loyalty.models import Coupon, PointsEntry, Tier
from loyalty.money import yuan

from .models import Message
from .outbox import notices_enqueue

SHORT_FIELD = 20  # characters of a notice's short form (a WeChat template field's limit)


def _lang():
    return translation.override(settings.LANGUAGE_CODE)


def _sentences(parts: list[str]) -> str:
    """Chinese sentences follow each other without a space; others take one."""
    return ("" if (translation.get_language() or "").startswith("zh") else " ").join(parts)


def points_expiring(sender, items, **kwargs):
    with _lang():
        rows = [
            (
                member_id,
                f"points_expiring:{member_id}:{day.isoformat()}",
                _("Points expiring soon"),
                _("%(points)d of your points expire after %(day)s. Use them before then.")
                % {"points": points, "day": day.isoformat()},
                {"points": points, "day": day.isoformat()},
            )
            for member_id, day, points in items
        ]
    notices_enqueue(rows, event=Message.Event.POINTS_EXPIRING)


def tier_downgrade_warning(sender, items, **kwargs):
    names = dict(Tier.objects.values_list("pk", "name"))
    with _lang():
        rows = []
        for member_id, tier_id, day, why in items:
            if why == "inactive":
                last = day - dt.timedelta(days=1)
                body = _("Make a purchase by %(day)s to keep your %(tier)s benefits.") % {
                    "day": last.isoformat(),
                    "tier": names.get(tier_id, ""),
                }
            else:
                body = _(
                    "Your %(tier)s review is on %(day)s and the keep threshold is not met yet."
                ) % {"day": day.isoformat(), "tier": names.get(tier_id, "")}
            rows.append(
                (
                    member_id,
                    f"tier_warning:{member_id}:{tier_id}:{day.isoformat()}",
                    _("Your tier is due for review"),
                    body,
                    {"tier": names.get(tier_id, ""), "day": day.isoformat(), "why": why},
                )
            )
    notices_enqueue(rows, event=Message.Event.TIER_WARNING)


def tier_changed(
    sender, member_id, from_tier_id, to_tier_id, reason, from_tier=None, to_tier=None, **kwargs
):
    if reason not in ("upgrade", "downgrade", "staff") or to_tier_id is None:
        return
    tier = to_tier or Tier.objects.get(pk=to_tier_id)
    if from_tier_id is None:
        up = True
    else:
        before = from_tier or Tier.objects.filter(pk=from_tier_id).first()
        up = before is None or tier.level > before.level
    with _lang():
        title = _("Tier upgraded") if up else _("Tier changed")
        body = (
            _("Congratulations, you are now %(tier)s: %(benefits)s")
            if up
            else _("Your tier is now %(tier)s: %(benefits)s")
        ) % {"tier": tier.name, "benefits": tier.benefits}
    key = f"tier:{member_id}:{from_tier_id}:{to_tier_id}:{timezone.localdate().isoformat()}"
    notices_enqueue(
        [(member_id, key, title, body, {"tier": tier.name})],
        event=Message.Event.TIER_UP if up else Message.Event.TIER_DOWN,
    )


def _coupon_text(coupon) -> str:
    last_day = last_valid_day(coupon.valid_until)
    return _("%(name)s, code %(code)s, valid until %(day)s.") % {
        "name": coupon.template.name,
        "code": coupon.display_code,
        "day": last_day.isoformat(),
    }


def coupon_issued(sender, coupon_id, coupon=None, **kwargs):
    coupon = coupon or Coupon.objects.select_related("template").get(pk=coupon_id)
    if coupon.source == Coupon.Source.WELCOME:
        return  # told in the welcome notice (welcome below)
    with _lang():
        body = _coupon_text(coupon)
        title = _("You received a coupon")
    notices_enqueue(
        [(coupon.member_id, f"coupon:{coupon.pk}", title, body, {"code": coupon.code})],
        event=Message.Event.COUPON_RECEIVED,
    )


def coupons_expiring(sender, items, **kwargs):
    """Coupons ending within the notice days (loyalty's notify_expiring_coupons job): told
    once per coupon and last day."""
    with _lang():
        title = _("Coupon expiring soon")
        rows = [
            (
                member_id,
                f"coupon_expiring:{coupon_id}:{day.isoformat()}",
                title,
                _("Your coupon %(name)s is valid until %(day)s. Use it before then.")
                % {"name": name, "day": day.isoformat()},
                {"coupon": coupon_id, "name": name, "day": day.isoformat()},
            )
            for member_id, coupon_id, name, day in items
        ]
    notices_enqueue(rows, event=Message.Event.COUPON_EXPIRING)


def points_changed(sender, member_id, entry_id, entry=None, **kwargs):
    entry = entry or PointsEntry.objects.filter(pk=entry_id).first()
    if entry is None or entry.source.startswith("checkin:"):
        return  # a daily check-in shows on the page; no message for it
    if entry.source == "welcome":
        return  # told in the welcome notice (welcome below)
    if entry.delta > 0 and entry.kind in ("earn", "adjust", "refund"):
        event = Message.Event.POINTS_EARNED
    elif entry.delta < 0 and entry.kind in ("redeem", "adjust"):
        event = Message.Event.POINTS_SPENT
    else:
        return
    with _lang():
        title = _("Points received") if entry.delta > 0 else _("Points used")
        body = _("%(delta)+d points (%(reason)s). Balance: %(balance)d.") % {
            "delta": entry.delta,
            "reason": entry.reason,
            "balance": entry.balance_after,
        }
    notices_enqueue(
        [(member_id, f"points:{entry.pk}", title, body, {"delta": entry.delta})], event=event
    )


def welcome(sender, member, points=0, coupon=None, **kwargs):
    """One notice for a welcomed registration (loyalty's `welcomed`), with the gift in
    it: not three (welcome, points received, coupon received) at the same second."""
    with _lang():
        parts = [
            _("Welcome, %(name)s! Your member number is %(no)s.")
            % {"name": member.name or _("member"), "no": member.member_no}
        ]
        if points:
            parts.append(_("Your welcome gift: %(points)d points.") % {"points": points})
        if coupon is not None:
            parts.append(_("Your welcome coupon: %(coupon)s") % {"coupon": _coupon_text(coupon)})
        title = _("Welcome")
        body = _sentences(parts)
        # For channels with short fields (a WeChat template's 20 characters): the gift
        # first, which the body's opening sentence would push out.
        gifts = []
        if points:
            gifts.append(_("%(points)d points") % {"points": points})
        if coupon is not None:
            gifts.append(coupon.template.name)
        summary = (
            _("Welcome gift: %(gift)s") % {"gift": " + ".join(gifts)}
            if gifts
            else _("Member number %(no)s") % {"no": member.member_no}
        )
        if gifts and len(summary) > SHORT_FIELD:
            summary = " + ".join(gifts)  # a long coupon name: the gift itself first
    pk, no = member.pk, member.member_no
    data = {
        "member_no": no,
        "points": points,
        "code": coupon.code if coupon else "",
        "summary": summary,
    }
    notices_enqueue([(pk, f"welcome:{pk}", title, body, data)], event=Message.Event.WELCOME)


def purchase_recorded(sender, purchase_id, member_id, purchase=None, **kwargs):
    from loyalty.models import Purchase

    purchase = purchase or Purchase.objects.filter(pk=purchase_id).first()
    if purchase is None:
        return
    if purchase.stored_value_used:
        _stored_value_spent(purchase)
        return
    if not (purchase.points_earned or purchase.points_used):
        return
    with _lang():
        title = _("Points received") if purchase.points_earned else _("Points used")
        body = _(
            "Purchase of %(amount)s yuan: +%(earned)d points, %(used)d used. Balance: %(balance)d."
        ) % {
            "amount": yuan(purchase.gross_amount),  # as stored: 38.50, not the request's 38.5
            "earned": purchase.points_earned,
            "used": purchase.points_used,
            "balance": purchase.points_balance_after,
        }
    event = Message.Event.POINTS_EARNED if purchase.points_earned else Message.Event.POINTS_SPENT
    notices_enqueue(
        [(member_id, f"purchase:{purchase.pk}", title, body, {"ref": purchase.external_ref})],
        event=event,
    )


def _stored_value_spent(purchase) -> None:
    """A purchase paid (in part) from stored value: what it took, the balance left, and
    the points, in one notice (the member checks every spend of their prepaid money)."""
    after = getattr(purchase, "stored_value_after", None)  # set by purchase_record
    if after is None:
        from loyalty.stored_value import stored_value_after

        after = stored_value_after(purchase)
    with _lang():
        title = _("Stored value used")
        body = _(
            "Purchase of %(amount)s yuan: %(used)s yuan paid from stored value, balance "
            "%(balance)s yuan. Points: +%(earned)d."
        ) % {
            "amount": yuan(purchase.gross_amount),
            "used": yuan(purchase.stored_value_used),
            "balance": after["balance"],
            "earned": purchase.points_earned,
        }
    data = {"ref": purchase.external_ref, "used": str(yuan(purchase.stored_value_used))}
    notices_enqueue(
        [(purchase.member_id, f"purchase:{purchase.pk}", title, body, data)],
        event=Message.Event.STORED_VALUE,
    )


def stored_value_changed(sender, member_id, entry, **kwargs):
    """A top-up or a cash-out (loyalty's stored_value_changed): told to the member."""
    from loyalty.models import StoredValueEntry

    Kind = StoredValueEntry.Kind
    if entry.kind not in (Kind.TOP_UP, Kind.CASH_OUT):
        return
    balance = yuan(entry.principal_after + entry.bonus_after)
    with _lang():
        if entry.kind == Kind.TOP_UP:
            title = _("Stored value topped up")
            body = _("Topped up %(amount)s yuan, bonus %(bonus)s yuan. Balance: %(balance)s yuan.")
            amount, bonus = entry.principal_delta, entry.bonus_delta
        else:
            title = _("Stored value cashed out")
            body = _(
                "%(amount)s yuan paid back to you; the bonus of %(bonus)s yuan is forfeited. "
                "Balance: %(balance)s yuan."
            )
            amount, bonus = -entry.principal_delta, -entry.bonus_delta
        body %= {"amount": yuan(amount), "bonus": yuan(bonus), "balance": balance}
    data = {"kind": entry.kind, "amount": str(yuan(amount)), "balance": str(balance)}
    notices_enqueue(
        [(member_id, f"stored_value:{entry.pk}", title, body, data)],
        event=Message.Event.STORED_VALUE,
    )


def count_card_changed(sender, member_id, card, entry, stored_value_entry=None, **kwargs):
    """A count card (次卡) sold, used or refunded: told to the member, with what is left."""
    from loyalty.models import CountCardEntry

    Kind = CountCardEntry.Kind
    if entry.kind == Kind.EXPIRE:  # found past its date at a use or a refund
        count_cards_expired(sender, items=[(member_id, card.pk, card.name, -entry.delta)])
        return
    if entry.kind not in (Kind.SALE, Kind.USE, Kind.REFUND):
        return
    with _lang():
        if entry.kind == Kind.SALE:
            title = _("Count card bought")
            last_day = card.last_day()
            parts = [_("%(name)s: %(uses)d uses.") % {"name": card.name, "uses": card.uses_total}]
            if last_day:
                parts.append(_("Valid until %(day)s.") % {"day": last_day.isoformat()})
        elif entry.kind == Kind.USE:
            title = _("Count card used")
            parts = [
                _("%(name)s used once: %(left)d of %(total)d uses left.")
                % {"name": card.name, "left": entry.left_after, "total": card.uses_total}
            ]
        else:
            title = _("Count card refunded")
            parts = [
                _("%(name)s refunded: %(amount)s yuan back for the unused uses.")
                % {"name": card.name, "amount": yuan(entry.amount)}
            ]
        if stored_value_entry is not None:
            balance = yuan(stored_value_entry.principal_after + stored_value_entry.bonus_after)
            parts.append(_("Stored value balance: %(balance)s yuan.") % {"balance": balance})
        body = _sentences(parts)
    data = {"card": card.pk, "name": card.name, "left": entry.left_after}
    notices_enqueue(
        [(member_id, f"count_card:{entry.pk}", title, body, data)],
        event=Message.Event.COUNT_CARD,
    )


def count_cards_expired(sender, items, **kwargs):
    """The nightly expiry's cards: each member told what was lost."""
    with _lang():
        title = _("Count card expired")
        rows = [
            (
                member_id,
                f"count_card_expired:{card_id}",
                title,
                _("%(name)s has expired: %(uses)d unused uses are lost.")
                % {"name": name, "uses": uses},
                {"card": card_id, "name": name, "uses": uses},
            )
            for member_id, card_id, name, uses in items
        ]
    notices_enqueue(rows, event=Message.Event.COUNT_CARD)


def count_cards_expiring(sender, items, **kwargs):
    """Cards ending within the notice days (loyalty's notify_expiring_count_cards job):
    told once per card and last day."""
    with _lang():
        title = _("Count card ending soon")
        rows = [
            (
                member_id,
                f"count_card_expiring:{card_id}:{day.isoformat()}",
                title,
                _("%(name)s: %(uses)d uses left, valid until %(day)s. Use them before then.")
                % {"name": name, "uses": uses, "day": day.isoformat()},
                {"card": card_id, "name": name, "uses": uses, "day": day.isoformat()},
            )
            for member_id, card_id, name, uses, day in items
        ]
    notices_enqueue(rows, event=Message.Event.COUNT_CARD)


def tiers_downgraded(sender, items, **kwargs):
    """The review_tiers job's downgrades, a batch at a time: one bulk write of notices."""
    tiers = {t.pk: t for t in Tier.objects.all()}
    today = timezone.localdate().isoformat()
    with _lang():
        title = _("Tier changed")
        # One text and one data object per tier: a night's batch shares a few of them.
        texts = {
            tier.pk: (
                _("Your tier is now %(tier)s: %(benefits)s")
                % {"tier": tier.name, "benefits": tier.benefits},
                {"tier": tier.name},
            )
            for tier in tiers.values()
        }
        rows = [
            (member_id, f"tier:{member_id}:{from_id}:{to_id}:{today}", title, *texts[to_id])
            for member_id, from_id, to_id in items
        ]
    notices_enqueue(rows, event=Message.Event.TIER_DOWN)
