"""Thin task entry points (django-q2 calls them by dotted path)."""

import datetime as dt
import logging

from django.utils import timezone

from . import client
from .models import Callback, CallbackNonce, Follower

log = logging.getLogger(__name__)


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
    the freshness window (minutes); both kept two days, then deleted."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=2)
    return {
        "deleted": Callback.objects.filter(received_at__lt=cutoff).delete()[0],
        "urls_deleted": CallbackNonce.objects.filter(received_at__lt=cutoff).delete()[0],
    }
