"""The WeChat template-message channel of the outbox (campaigns/channels.py).

Available when the member has a bound openid that follows the official account.
A notice becomes a template message with the event's template id
(WECHAT_TEMPLATE_<EVENT>, else WECHAT_TEMPLATE_CAMPAIGN as a general notice) and the
owner's fixed texts (TemplateText); every field fits WeChat's 20 characters.
Errors: 40001 refreshes the token and retries once (client.call_with). WeChat down or
refusing the account (HTTP errors, timeouts, -1 busy, 45009 over quota, the token
refused) raise ChannelUnavailable: the outbox backs off and the channel's other messages
wait with this one (after 45009 an hour at least: WeChat's quota is counted per day, and
trying every minute only spends it). 43004 (no longer a follower) marks the follower
unsubscribed, so the next try skips; WeChat's other refusals are this message's
ChannelError. The last error is the client's reason, in words.
"""

import datetime as dt
import logging

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from campaigns.channels import ChannelError, ChannelSkip
from campaigns.outbox import ChannelUnavailable

from . import client
from .models import TEMPLATE_FIELD_MAX, Follower, TemplateText

log = logging.getLogger(__name__)
NOT_FOLLOWING = {43004, 43101}
QUOTA_PAUSE = dt.timedelta(hours=1)


def fit(text: str, limit: int = TEMPLATE_FIELD_MAX) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def template_for(event: str) -> str:
    templates = settings.WECHAT_TEMPLATES
    return templates.get(event) or templates.get("campaign") or ""


def template_data(message, texts: TemplateText | None) -> dict:
    sent_at = timezone.localtime(message.created_at).strftime("%Y-%m-%d %H:%M")
    data = {
        "first": fit((texts.first if texts else "") or message.title),
        "keyword1": fit(message.title),
        # A notice may carry its own short form (the welcome: the gift) for 20 characters.
        "keyword2": fit((message.data or {}).get("summary") or message.body),
        "keyword3": sent_at,
        "remark": fit(texts.remark if texts else ""),
    }
    return {key: {"value": value} for key, value in data.items()}


class WeChatTemplateChannel:
    name = "wechat"

    def available(self, member) -> bool:
        openid = member.wechat_openid
        return bool(openid) and Follower.objects.filter(openid=openid, subscribed=True).exists()

    def send(self, message) -> None:
        texts = TemplateText.objects.filter(event=message.event).first()
        template_id = template_for(message.event)
        if texts is not None and not texts.enabled:
            return  # the owner switched this notice off for WeChat
        if not template_id:
            raise ChannelSkip(f"no WeChat template configured for {message.event}")
        openid = message.member.wechat_openid
        try:
            client.template_send(
                openid=openid,
                template_id=template_id,
                data=template_data(message, texts),
                url=f"{settings.WECHAT_SITE_URL}{reverse('inbox:list')}",
            )
        except client.WeChatError as exc:
            # The outbox logs the reason in words; the technical detail is here.
            log.info("template message %s not sent: %s", message.pk, exc)
            if exc.errcode in NOT_FOLLOWING:
                Follower.objects.filter(openid=openid).update(subscribed=False)
            if exc.unavailable:
                pause = QUOTA_PAUSE if exc.errcode == client.RATE_LIMITED else dt.timedelta(0)
                raise ChannelUnavailable(exc.reason, pause) from exc
            raise ChannelError(exc.reason) from exc
