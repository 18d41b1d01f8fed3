"""What the official account does with each message and event, and the text it answers.

Called inside the callback's transaction, after the dedupe claim; only database work
here (fast): nothing waits on WeChat. Asking WeChat about a new follower goes to a task
after the commit, queued without depending on the broker (members.queue).
"""

from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from loyalty.benefits.engagement import AlreadyCheckedIn, checkin
from loyalty.models import Card
from members.queue import enqueue

from . import member_card
from .services import follower_subscribe, follower_unsubscribe, member_by_openid

KEYWORDS = {"会员": "card", "会员卡": "card", "积分": "points", "签到": "checkin",
            "member": "card", "points": "points", "checkin": "checkin"}  # fmt: skip
CLICK_KEYS = {"MEMBER": "card", "POINTS": "points", "CHECKIN": "checkin"}


def site_url(path: str) -> str:
    return f"{settings.WECHAT_SITE_URL}{path}"


def handle(message) -> str | None:
    with translation.override(settings.LANGUAGE_CODE):
        if message.type == "text":
            action = KEYWORDS.get((message.content or "").strip().lower())
            return _answer(action, message.source) if action else None
        if message.type != "event":
            return None
        event = message.event
        if event in ("subscribe", "subscribe_scan"):
            return _subscribe(message.source, getattr(message, "scene_id", "") or "")
        if event == "scan":
            return _welcome(message.source, _scene_store(message.scene_id))
        if event == "unsubscribe":
            follower_unsubscribe(openid=message.source)
            return None
        if event in CARD_EVENTS:
            CARD_EVENTS[event](message)
            return None
        if event == "click":
            action = CLICK_KEYS.get(message.key)
            return _answer(action, message.source) if action else None
        return None  # VIEW (a menu link was opened) and the rest: nothing to say


def _card_claimed(message) -> None:
    member_card.holding_claimed(
        card_id=message.card_id or "",
        code=message.code or "",
        openid=message.source,
        outer_str=message.outer_str or "",
        unionid=message.union_id or "",
        restored=bool(message.is_restore_member_card),
        now=message.create_time,
    )


def _card_deleted(message) -> None:
    member_card.holding_deleted(
        card_id=message.card_id or "", code=message.code or "", now=message.create_time
    )


def _card_viewed(message) -> None:
    member_card.holding_viewed(
        card_id=message.card_id or "", code=message.code or "", now=message.create_time
    )


def _card_form(message) -> None:
    member_card.holding_form_submitted(card_id=message.card_id or "", code=message.card_code or "")


def _card_updated(message) -> None:
    member_card.holding_updated(
        card_id=message.card_id or "",
        code=message.code or "",
        bonus=message.modify_bonus,
        balance=message.modify_balance,
    )


# The member card's events (卡包): database work only, WeChat is asked by a task.
CARD_EVENTS = {
    "user_get_card": _card_claimed,
    "user_del_card": _card_deleted,
    "user_view_card": _card_viewed,
    "submit_membercard_user_info": _card_form,
    "update_member_card": _card_updated,
}


def _scene_store(scene: str):
    from .models import QrScene

    return QrScene.objects.filter(scene=scene).first()


def _subscribe(openid: str, scene: str) -> str:
    follower = follower_subscribe(openid=openid, scene=scene)
    transaction.on_commit(lambda: _refresh_later(openid))
    return _welcome(openid, follower.scene)


def _refresh_later(openid: str) -> None:
    # Through members.queue: with the broker down the subscribe is still answered (the
    # follower is recorded; a later subscribe or binding asks WeChat again).
    enqueue("wechat.tasks.follower_refresh", openid)


def _welcome(openid: str, qr) -> str:
    member = member_by_openid(openid)
    if member is not None:
        url = site_url(reverse("centre:home"))
        return _("Welcome back! Your member card: %(url)s") % {"url": url}
    params = {}
    if qr is not None:
        params["store"] = qr.store.code
        if qr.staff_id:
            params["staff"] = qr.staff_id
    join = reverse("me:join") + (f"?{urlencode(params)}" if params else "")
    return _("Welcome! Join as a member here: %(url)s") % {"url": site_url(join)}


def _answer(action: str, openid: str) -> str:
    member = member_by_openid(openid)
    if member is None:
        return _("You are not a member yet. Join here: %(url)s") % {
            "url": site_url(reverse("me:join"))
        }
    if action == "card":
        return _("Your member card (No. %(no)s): %(url)s") % {
            "no": member.member_no,
            "url": site_url(reverse("centre:home")),
        }
    if action == "points":
        balance = Card.objects.filter(pk=member.pk).values_list("points_balance", flat=True)
        return _("Your points balance: %(points)d.") % {"points": balance.first() or 0}
    try:
        row = checkin(member=member)
    except AlreadyCheckedIn:
        return _("You have already checked in today.")
    return _("Checked in: +%(points)d points, %(streak)d days in a row.") % {
        "points": row.points + row.bonus_points,
        "streak": row.streak,
    }
