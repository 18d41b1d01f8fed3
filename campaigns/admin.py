import hashlib

from django.contrib import admin
from django.core.cache import caches
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from members.admin import LargeTablePaginator, StoreScopedAdminMixin

from .channel_labels import ChannelFilter, channel_label
from .marketing import admin as marketing_admin  # noqa: F401 - registers the campaign screens
from .models import Message
from .outbox import outbox_summary
from .segments import admin as segment_admin  # noqa: F401 - registers the segment screens


@admin.register(Message)
class MessageAdmin(StoreScopedAdminMixin, admin.ModelAdmin):
    store_field = "member__store"
    paginator = LargeTablePaginator
    show_full_result_count = False
    list_display = ["created_at", "member", "event", "channel_name", "status", "attempts",
                    "sent_at", "title"]  # fmt: skip
    list_filter = ["status", ChannelFilter, "event"]
    list_select_related = ["member"]
    search_fields = ["member__member_no", "dedupe_key"]
    # The channel by its name for staff, in the code's place.
    # (Not the dedupe key: a code for the outbox, not for staff.)
    readonly_fields = [
        "channel_name" if f.name == "channel" else f.name
        for f in Message._meta.fields
        if f.name != "dedupe_key"
    ]
    exclude = ["dedupe_key"]

    # The summary scans the table's waiting and failed rows (no index has them all): once
    # a minute per process and scope at most, not on every page of the list.
    SUMMARY_SECONDS = 60

    def changelist_view(self, request, extra_context=None):
        if self.has_view_or_change_permission(request):
            extra_context = {**(extra_context or {}), "outbox_summary": self.summary(request)}
        return super().changelist_view(request, extra_context)

    def summary(self, request) -> dict | None:
        """The outbox's state above the list (templates/admin/campaigns/message/
        change_list.html): notices waiting by channel, given up in the last 24 hours,
        the oldest waiting, and why they wait (the reasons translated when known)."""
        messages = self.get_queryset(request)
        if messages.query.is_empty():
            return None
        key = "outbox-summary:" + hashlib.sha1(str(messages.query).encode()).hexdigest()
        summary = caches["local"].get(key)
        if summary is None:
            summary = outbox_summary(messages)
            caches["local"].set(key, summary, self.SUMMARY_SECONDS)
        return {
            **summary,
            "channels": [
                {**row, "label": channel_label(row["channel"])} for row in summary["channels"]
            ],
            "reasons": [
                (gettext(reason) if reason else _("Not tried yet"), count)
                for reason, count in summary["reasons"]
            ],
        }

    @admin.display(description=_("channel"), ordering="channel")
    def channel_name(self, obj):
        return channel_label(obj.channel)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
