"""Count cards (次卡): the templates the owner sets, the members' cards and their ledger
(read-only: sales, uses, refunds go through loyalty/count_cards.py)."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from loyalty.models import CountCard, CountCardEntry, CountCardTemplate
from members.admin import StoreScopedAdminMixin

from .base import MemberSearchMixin, ReadOnlyAdmin


@admin.register(CountCardTemplate)
class CountCardTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "uses", "price", "valid_months", "services", "active"]
    list_filter = ["active"]
    list_editable = ["active"]
    search_fields = ["code", "name"]
    filter_horizontal = ["stores"]
    fieldsets = [
        (None, {"fields": ["name", "code", "active"]}),
        (_("What the member pays and gets"), {"fields": ["price", "uses", "valid_months"]}),
        (_("What and where"), {"fields": ["services", "stores"]}),
    ]


class CountCardEntryInline(admin.TabularInline):
    model = CountCardEntry
    fields = ["created_at", "kind", "delta", "left_after", "service", "amount", "store",
              "actor", "note"]  # fmt: skip
    readonly_fields = fields
    ordering = ["created_at", "id"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(CountCard)
class CountCardAdmin(MemberSearchMixin, StoreScopedAdminMixin, ReadOnlyAdmin):
    """The members' count cards: uses left, until when, how they were paid."""

    store_field = "member__store"
    list_display = ["sold_at", "member", "name", "uses_left", "uses_total", "status",
                    "expires_at", "price_paid", "tender", "reference", "store"]  # fmt: skip
    list_filter = ["status", "tender", "template"]
    list_select_related = ["member", "store"]
    search_fields = ["member__member_no"]
    inlines = [CountCardEntryInline]

    def exact_key(self, queryset, term):
        return queryset.filter(reference=term)


@admin.register(CountCardEntry)
class CountCardEntryAdmin(MemberSearchMixin, StoreScopedAdminMixin, ReadOnlyAdmin):
    """Every change of a count card: its sale, each use, its expiry or refund."""

    store_field = "member__store"
    list_display = ["created_at", "member", "card", "kind", "delta", "left_after", "service",
                    "amount", "store", "actor"]  # fmt: skip
    list_filter = ["kind"]
    list_select_related = ["member", "card", "store", "actor"]
    search_fields = ["member__member_no"]
