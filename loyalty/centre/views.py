"""The loyalty part of the member centre (/me/): card, points, purchases, coupons,
rewards, check-in and referral. The signed-in member comes from the session
(members.member_auth), never from the URL.

Reads are small selectors here; every change is one call of a loyalty service.
"""

import datetime as dt
import secrets
from decimal import Decimal

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Q, Sum
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from loyalty.benefits.engagement import AlreadyCheckedIn, checkin, profile_is_complete, streak_on
from loyalty.benefits.rewards import available_rewards, reward_redeem
from loyalty.centre.forms import RedeemForm
from loyalty.centre.invite import invite_link
from loyalty.count_cards import count_cards_of
from loyalty.coupons import usable_coupons
from loyalty.dates import last_valid_day
from loyalty.errors import LoyaltyError
from loyalty.ledger import card_seen
from loyalty.models import (
    CheckIn,
    CountCardEntry,
    Coupon,
    LoyaltySettings,
    PointsEntry,
    Purchase,
    Redemption,
    Referral,
    StoredValueEntry,
)
from loyalty.money import yuan_down
from loyalty.rules import shown_rules
from loyalty.selectors import card_of, expiring_points, tier_perks, tier_progress
from loyalty.stored_value import offers_running
from members.barcodes import code128_svg, qr_svg
from members.dynamic_code import code_for, code_used, seconds_left
from members.member_auth import member_required
from members.models import Member
from members.otp import CODE_MINUTES, OtpError, otp_issue
from members.services import member_referral_code

PAGE_SIZE = 20


# --- selectors (read-only) ---------------------------------------------------------


def _checkin_state(member: Member, now) -> dict:
    today = timezone.localdate(now, timezone.get_default_timezone())
    done = CheckIn.objects.filter(member=member, day=today).first()
    streak = done.streak if done else streak_on(member.pk, today - dt.timedelta(days=1))
    return {"done_today": done is not None, "streak": streak}


def card_summary(member: Member, now=None) -> dict:
    now = now or timezone.now()
    conf = shown_rules().conf
    card = card_of(member)
    progress = tier_progress(card, conf, now)
    return {
        "card": card,
        "conf": conf,
        "cash_value": yuan_down(Decimal(card.points_balance) / conf.points_per_cash_yuan),
        "progress": progress,
        "my_perks": tier_perks(card.tier),
        "next_perks": tier_perks(progress["tier"]) if progress else [],
        "expiring": expiring_points(member, now),
        "checkin": _checkin_state(member, now),
        "usable_coupons": usable_coupons(member.pk, now=now).count(),
        "profile_complete": profile_is_complete(member),
    }


COUPON_TABS = ("usable", "used", "expired")


def coupons_of(member: Member, tab: str, now):
    qs = Coupon.objects.filter(member=member).select_related("template", "redeemed_store")
    qs = qs.prefetch_related("template__stores")  # where each can be used
    if tab == "used":
        return qs.filter(status=Coupon.Status.REDEEMED).order_by("-redeemed_at", "-id")
    if tab == "expired":
        return qs.filter(
            Q(status__in=[Coupon.Status.EXPIRED, Coupon.Status.VOID])
            | Q(status=Coupon.Status.ISSUED, valid_until__lte=now)
        ).order_by("-valid_until", "-id")
    return qs.filter(status=Coupon.Status.ISSUED, valid_until__gt=now).order_by("valid_until", "id")


def _page(request, queryset):
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


# --- pages ---------------------------------------------------------------------------


def dynamic_code_state(member: Member, now=None) -> dict:
    """The card's code to scan now: the dynamic member code (members.dynamic_code) as
    text, grouped for reading, as a barcode and a QR code (inline SVG), the seconds
    until the next one, and whether a purchase used it already."""
    now = now or timezone.now()
    code = code_for(member, now=now)
    label = _("Dynamic member code")
    return {
        "code": code,
        "display": " ".join([code[:2], *(code[i : i + 4] for i in range(2, len(code), 4))]),
        "seconds_left": seconds_left(now=now),
        "used": code_used(code),
        "barcode": str(code128_svg(code, label=label)),
        "qr": str(qr_svg(code, label=label)),
    }


@never_cache
@require_GET
@member_required
def home(request, member):
    """The card: the dynamic code to scan, tier and progress, points, check-in."""
    card_seen(member.pk)  # a visit keeps the member "active" (lifecycle_counts_visits)
    context = {"member": member, "code": dynamic_code_state(member), **card_summary(member)}
    return render(request, "loyalty/centre/home.html", context)


@never_cache
@require_GET
@member_required
def card_code(request, member):
    """The card's dynamic code as JSON: static/js/dynamic_code.js asks for it when the
    code changes, so the page shows a fresh one without reloading."""
    return JsonResponse(dynamic_code_state(member))


@require_GET
@member_required
def points(request, member):
    entries = PointsEntry.objects.filter(member=member).order_by("-created_at", "-id")
    return render(
        request,
        "loyalty/centre/points.html",
        {"member": member, "card": card_of(member), "page": _page(request, entries)},
    )


@never_cache
@require_http_methods(["GET", "POST"])
@member_required
def stored_value(request, member):
    """储值: the balance (paid in and bonus), the offers running today, the history;
    POST: a one-time pay code that confirms a large spend at the counter."""
    entries = (
        StoredValueEntry.objects.filter(member=member)
        .select_related("offer", "store")
        .order_by("-created_at", "-id")
    )
    card = card_of(member)
    context = {
        "member": member,
        "card": card,
        "offers": offers_running(),
        "page": _page(request, entries),
        "conf": LoyaltySettings.current(),
        "count_cards": count_cards_of(member),
    }
    if request.method == "POST" and card.stored_value:
        # The one-time pay code: shown once, in this answer only (stored as a hash).
        try:
            context["pay_code"] = otp_issue(
                phone=member.phone, ip=request.META.get("REMOTE_ADDR", "")
            )
            context["pay_code_minutes"] = CODE_MINUTES
        except OtpError as exc:
            context["pay_code_error"] = exc.message
    return render(request, "loyalty/centre/stored_value.html", context)


@require_GET
@member_required
def purchases(request, member):
    rows = Purchase.objects.filter(member=member).select_related("store").order_by("-occurred_at")
    return render(
        request, "loyalty/centre/purchases.html", {"member": member, "page": _page(request, rows)}
    )


@never_cache
@require_GET
@member_required
def coupons(request, member):
    tab = request.GET.get("status", "usable")
    tab = tab if tab in COUPON_TABS else "usable"
    now = timezone.now()
    page = _page(request, coupons_of(member, tab, now))
    for coupon in page:
        # valid_until is the first instant it no longer works: show the last valid day.
        coupon.last_day = last_valid_day(coupon.valid_until)
    return render(
        request,
        "loyalty/centre/coupons.html",
        {"member": member, "tab": tab, "now": now, "page": page},
    )


@never_cache
@require_GET
@member_required
def rewards(request, member):
    """The rewards catalog, each with a fresh form token (the redemption's idempotency key)."""
    items = list(available_rewards())
    for item in items:
        item.token = secrets.token_urlsafe(16)
    mine = (
        Redemption.objects.filter(member=member)
        .select_related("reward", "coupon")
        .order_by("-created_at", "-id")[:20]
    )
    return render(
        request,
        "loyalty/centre/rewards.html",
        {"member": member, "card": card_of(member), "rewards": items, "redemptions": mine},
    )


@require_POST
@member_required
def redeem(request, member):
    form = RedeemForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("This reward cannot be redeemed. Please try again."))
        return redirect("centre:rewards")
    reward, token = form.cleaned_data["reward"], form.cleaned_data["token"]
    try:
        redemption, created = reward_redeem(
            member=member, reward=reward, key=f"centre:{member.pk}:{token}"
        )
    except LoyaltyError as exc:
        messages.error(request, exc.message)
        return redirect("centre:rewards")
    if redemption.status == Redemption.Status.AWAITING_PICKUP:
        text = _("Redeemed %(name)s. Show pickup code %(code)s in store.")
    else:
        text = _("Redeemed %(name)s. The coupon is in your coupons.")
    messages.success(request, text % {"name": reward.name, "code": redemption.pickup_code})
    return redirect("centre:rewards")


@require_POST
@member_required
def do_checkin(request, member):
    try:
        row = checkin(member=member)
    except AlreadyCheckedIn as exc:
        messages.info(request, exc.message)
    except LoyaltyError as exc:
        messages.error(request, exc.message)
    else:
        text = ngettext(
            "Checked in: +%(points)d points. %(n)d day in a row.",
            "Checked in: +%(points)d points. %(n)d days in a row.",
            row.streak,
        )
        messages.success(request, text % {"points": row.points + row.bonus_points, "n": row.streak})
    return redirect("centre:home")


@require_GET
@member_required
def referral(request, member):
    """The member's invitation link and its QR code, to show or share."""
    link = invite_link(request, member)
    made = Referral.objects.filter(referrer=member).aggregate(
        friends=Count("id"), points=Sum("registered_points")
    )
    return render(
        request,
        "loyalty/centre/referral.html",
        {
            "member": member,
            "link": link,
            "friends": made["friends"],
            "points": made["points"] or 0,
            "conf": LoyaltySettings.current(),
        },
    )


@require_POST
@member_required
def referral_create(request, member):
    member_referral_code(member)
    return redirect("centre:referral")


# --- "download my data": the loyalty part ---------------------------------------------


def _iso(value):
    return value.isoformat() if value else None


def loyalty_export(member: Member) -> tuple[str, dict]:
    card = card_of(member)
    return "loyalty", {
        "card": {
            "tier": card.tier.name if card.tier else None,
            "points_balance": card.points_balance,
            "points_owed": card.points_debt,
            "growth_value": card.growth_value,
            "total_spent": str(card.total_spent),
            "purchase_count": card.purchase_count,
            "stored_value_principal": str(card.stored_principal),
            "stored_value_bonus": str(card.stored_bonus),
        },
        "stored_value": [
            {
                "at": _iso(e.created_at),
                "kind": e.kind,
                "principal": str(e.principal_delta),
                "bonus": str(e.bonus_delta),
                "reference": e.reference,
            }
            for e in StoredValueEntry.objects.filter(member=member).order_by("created_at", "id")
        ],
        "count_cards": count_cards_of(member),
        "count_card_entries": [
            {
                "at": _iso(e.created_at),
                "card": e.card_id,
                "kind": e.kind,
                "uses": e.delta,
                "left_after": e.left_after,
                "service": e.service,
                "amount": str(e.amount),
            }
            for e in CountCardEntry.objects.filter(member=member).order_by("created_at", "id")
        ],
        "purchases": [
            {
                "reference": p.external_ref,
                "at": _iso(p.occurred_at),
                "store": p.store.name if p.store_id else None,
                "category": p.category,
                "amount": str(p.gross_amount),
                "discount": str(p.tier_discount + p.coupon_discount),
                "points_used": p.points_used,
                "paid": str(p.cash_paid),
                "points_earned": p.points_earned,
                "refunded": str(p.refunded_amount),
                "status": p.status,
            }
            for p in Purchase.objects.filter(member=member)
            .select_related("store")
            .order_by("occurred_at", "id")
        ],
        "points": [
            {
                "at": _iso(e.created_at),
                "kind": e.kind,
                "points": e.delta,
                "balance_after": e.balance_after,
                "reason": e.reason,
                "expires_at": _iso(e.expires_at),
            }
            for e in PointsEntry.objects.filter(member=member).order_by("created_at", "id")
        ],
        "coupons": [
            {
                "code": c.code,
                "name": c.template.name,
                "status": c.status,
                "valid_from": _iso(c.valid_from),
                "valid_until": _iso(c.valid_until),
                "issued_at": _iso(c.issued_at),
                "used_at": _iso(c.redeemed_at),
            }
            for c in Coupon.objects.filter(member=member)
            .select_related("template")
            .order_by("issued_at", "id")
        ],
        "redemptions": [
            {
                "reward": r.reward.name,
                "points": r.points,
                "status": r.status,
                "at": _iso(r.created_at),
            }
            for r in Redemption.objects.filter(member=member)
            .select_related("reward")
            .order_by("created_at", "id")
        ],
        "check_ins": [
            {"day": c.day.isoformat(), "streak": c.streak, "points": c.points + c.bonus_points}
            for c in CheckIn.objects.filter(member=member).order_by("day")
        ],
    }
