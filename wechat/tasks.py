"""Thin task entry points (django-q2 calls them by dotted path)."""

import datetime as dt
import logging

from django.utils import timezone

from . import client
from .card_sync import card_updates_send, cards_reconcile
from .member_card import card_activate as activate
from .member_card import claim_links_refresh, claims_retry
from .models import Callback, CallbackNonce, CardUpdate, Follower
from .mp.services import mp_tokens_prune

log = logging.getLogger(__name__)
CARD_UPDATES_KEPT_DAYS = 30


def follower_refresh(openid: str) -> None:
    """Ask WeChat whether `openid` follows (after a subscribe event or a binding)."""
    try:
        info = client.user_info(openid)
    except client.WeChatError as exc:
        log.warning("user info for a follower failed: %s", exc)
        return
    Follower.objects.filter(openid=openid).update(subscribed=bool(info.get("subscribe")))


def prune_wechat_callbacks(day=None, now=None) -> dict:
    """Dedupe rows are needed for WeChat's retries (seconds) and used callback URLs for
    the freshness window (minutes); both kept two days, then deleted. Member card updates
    sent (or dropped) are kept 30 days for support, then deleted."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=2)
    sent = CardUpdate.objects.filter(sent_at__lt=now - dt.timedelta(days=CARD_UPDATES_KEPT_DAYS))
    return {
        "deleted": Callback.objects.filter(received_at__lt=cutoff).delete()[0],
        "urls_deleted": CallbackNonce.objects.filter(received_at__lt=cutoff).delete()[0],
        "card_updates_deleted": sent.delete()[0],
    }


def card_activate(holding_id: int) -> None:
    """Activate a claimed member card (after user_get_card or the activation form)."""
    try:
        activate(holding_id)
    except client.WeChatError as exc:
        # Left claimed: the nightly reconciliation tries again.
        log.warning("member card %s not activated: %s", holding_id, exc)


def send_card_updates(day=None, now=None) -> dict:
    """Push waiting member card changes to WeChat (a task after each change, and every
    minute for what a lost task left)."""
    return card_updates_send(now=now)


def reconcile_member_cards(day=None, now=None) -> dict:
    """Nightly: cards that drifted from the ledger are repaired; claims not activated
    are tried again."""
    counts = cards_reconcile(now=now, day=day)
    counts["activated"] = claims_retry(now=now)
    counts["claim_links"] = claim_links_refresh(now=now)
    return counts


def prune_mp_tokens(day=None, now=None) -> dict:
    """Mini-program sessions expired (or revoked) over 30 days ago are deleted."""
    return {"sessions_deleted": mp_tokens_prune(now=now)}
