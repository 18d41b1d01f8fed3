"""Channels a Message can leave by. Each is a small class with `available(member)` and
`send(message)`; the registry maps names to instances. The inbox (the member centre)
always works; the console writes to the log (development, and the stand-in for
channels whose issue has not landed yet); "sms" sends marketing texts (营销短信) to
members who consented, never notices. Apps register theirs from their
AppConfig.ready(): campaigns these three, the wechat app its own.
"""

import logging
import re

from django.conf import settings

from members import sms
from members.models import Member

from .models import Message

log = logging.getLogger("huiyuan.messages")


class ChannelError(Exception):
    """A send failed in a way worth retrying (network, rate limit)."""


class ChannelSkip(Exception):
    """This message cannot go out by this channel at all (e.g. no template for its
    event): marked skipped at once, never retried."""


class InboxChannel:
    name = "inbox"

    def available(self, member) -> bool:
        return True

    def send(self, message) -> None:
        pass  # the row is the inbox item: nothing leaves the building


class ConsoleChannel:
    name = "console"

    def available(self, member) -> bool:
        return True

    def send(self, message) -> None:
        log.info("message to %s [%s] %s: %s", message.member_id, message.event, message.title,
                 message.body)  # fmt: skip


# What carriers require at the end of a marketing SMS, and one SMS's length (70
# characters of Chinese text; a longer text is billed as several).
SMS_UNSUBSCRIBE = "回T退订"
SMS_MAX_CHARS = 70
# An instruction the author already wrote at the end ("回 T 退订。"): replaced, not doubled.
_WRITTEN_UNSUBSCRIBE = re.compile(r"[\s,，;；]*回\s*T\s*退订[\s。.!！]*$", re.IGNORECASE)
_PUNCTUATION_END = tuple("。！？!?，,；;：:…")


def sms_text(body: str) -> str:
    """The SMS of a marketing message: its text on one line, cut with an ellipsis so
    that it and the unsubscribe instruction after it fit one SMS."""
    text = _WRITTEN_UNSUBSCRIBE.sub("", " ".join((body or "").split()))
    separator = "" if not text or text.endswith(_PUNCTUATION_END) else " "
    if len(text) + len(separator) + len(SMS_UNSUBSCRIBE) > SMS_MAX_CHARS:
        room = SMS_MAX_CHARS - len(SMS_UNSUBSCRIBE) - 1  # the ellipsis
        text, separator = text[:room].rstrip() + "…", ""
    return f"{text}{separator}{SMS_UNSUBSCRIBE}"


class SmsMarketingChannel:
    """Marketing SMS through members.sms (Tencent Cloud's marketing template; the console
    in development): only to active members with a phone who said yes to marketing,
    only for campaign messages. A failed send is retried by the outbox."""

    name = "sms"

    def available(self, member) -> bool:
        return bool(
            member.marketing_consent is True
            and member.status == Member.Status.ACTIVE
            and member.phone
        )

    def send(self, message) -> None:
        if message.event != Message.Event.CAMPAIGN:
            raise ChannelSkip("SMS carries marketing messages only, not notices")
        if not " ".join((message.body or "").split()):
            raise ChannelSkip("empty text")
        try:
            sms.send_marketing(phone=message.member.phone, text=sms_text(message.body))
        except sms.SmsError as exc:
            raise ChannelError(f"SMS not sent: {exc}") from exc


# Channels only for marketing: never among the notices', whatever NOTICE_CHANNELS says.
MARKETING_ONLY = {SmsMarketingChannel.name}

# name -> channel, filled from AppConfig.ready() (never on import).
CHANNELS: dict[str, object] = {}


def register(channel) -> None:
    CHANNELS[channel.name] = channel


def channels_for_notices() -> list[str]:
    """The channels every notice goes to: settings.NOTICE_CHANNELS, the inbox always."""
    names = list(getattr(settings, "NOTICE_CHANNELS", ["inbox", "console"]))
    return ["inbox", *[n for n in names if n != "inbox" and n not in MARKETING_ONLY]]
