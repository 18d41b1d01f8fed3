from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from members.admin import LargeTablePaginator, StoreScopedAdminMixin

from .channel_labels import ChannelFilter, channel_label
from .marketing import admin as marketing_admin  # noqa: F401 - registers the campaign screens
from .models import Message
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

    @admin.display(description=_("channel"), ordering="channel")
    def channel_name(self, obj):
        return channel_label(obj.channel)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
