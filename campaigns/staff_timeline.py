"""The campaigns part of the member 360 timeline (loyalty.counter.selectors.TIMELINE_SOURCES):
the notices and campaign messages the member was sent, one line per notice whatever
the number of channels it went out by."""

from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from loyalty.counter.selectors import Event

from .channel_labels import channel_label
from .models import Message


def timeline_messages(member, before, limit) -> list[Event]:
    rows = (
        Message.objects.filter(member=member, created_at__lt=before)
        .order_by("-created_at", "-id")
        .values("dedupe_key", "channel", "event", "title", "body", "status", "created_at")[
            : limit * 3
        ]
    )
    notices: dict[str, dict] = {}
    for row in rows:
        # One notice goes out once per channel: the key without its ":channel" suffix.
        key = row["dedupe_key"].rsplit(":", 1)[0]
        seen = notices.setdefault(key, {**row, "channels": []})
        seen["channels"].append(
            _("%(channel)s (%(status)s)")
            % {
                "channel": channel_label(row["channel"]),
                "status": Message.Status(row["status"]).label,
            }
        )
    separator = pgettext("list separator", ", ")
    return [
        Event(
            n["created_at"],
            "message",
            _("Message: %(title)s") % {"title": n["title"]},
            f"{n['body'][:120]} · {separator.join(n['channels'])}",
        )
        for n in list(notices.values())[:limit]
    ]
