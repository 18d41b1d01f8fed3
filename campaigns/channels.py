"""Channels a Message can leave by. Each is a small class with `available(member)` and
`send(message)`; the registry maps names to instances. The inbox (the member centre)
always works; the console writes to the log (development, and the stand-in for
channels whose issue has not landed yet). Apps register theirs from their
AppConfig.ready(): campaigns these two, the wechat app its own.
"""

import logging

from django.conf import settings

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


# name -> channel, filled from AppConfig.ready() (never on import).
CHANNELS: dict[str, object] = {}


def register(channel) -> None:
    CHANNELS[channel.name] = channel


def channels_for_notices() -> list[str]:
    """The channels every notice goes to: settings.NOTICE_CHANNELS, the inbox always."""
    names = list(getattr(settings, "NOTICE_CHANNELS", ["inbox", "console"]))
    return ["inbox", *[n for n in names if n != "inbox"]]
