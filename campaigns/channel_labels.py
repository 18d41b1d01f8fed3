"""What staff read for a message's channel: the registry's names (campaigns.channels,
wechat.channels) are codes (inbox, wechat, sms, console), shown nowhere as such."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

CHANNEL_LABELS = {
    "inbox": _("Member centre inbox"),
    "wechat": _("WeChat template message"),
    "sms": _("SMS"),
    "console": _("Development log"),
}


def channel_label(name: str) -> str:
    """The channel's name for staff; a channel not known here keeps its code."""
    return str(CHANNEL_LABELS.get(name, name))


class ChannelFilter(admin.SimpleListFilter):
    """The admin's filter by channel, by label: the known channels, without reading the
    table (Django's own filter would scan it for its distinct values on every page)."""

    title = _("channel")
    parameter_name = "channel"

    def lookups(self, request, model_admin):
        return list(CHANNEL_LABELS.items())

    def queryset(self, request, queryset):
        return queryset.filter(channel=self.value()) if self.value() else queryset
