from django.contrib import admin

from members.admin import LargeTablePaginator, StoreScopedAdminMixin

from .marketing import admin as marketing_admin  # noqa: F401 - registers the campaign screens
from .models import Message
from .segments import admin as segment_admin  # noqa: F401 - registers the segment screens


@admin.register(Message)
class MessageAdmin(StoreScopedAdminMixin, admin.ModelAdmin):
    store_field = "member__store"
    paginator = LargeTablePaginator
    show_full_result_count = False
    list_display = ["created_at", "member", "event", "channel", "status", "attempts", "sent_at",
                    "title"]  # fmt: skip
    list_filter = ["status", "channel", "event"]
    list_select_related = ["member"]
    search_fields = ["member__member_no", "dedupe_key"]
    readonly_fields = [f.name for f in Message._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
