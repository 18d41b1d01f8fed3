"""Stored value (储值): the top-up offers the owner sets, and the ledger (read-only)."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from loyalty.models import StoredValueEntry, TopUpOffer
from members.admin import StoreScopedAdminMixin

from .base import MemberSearchMixin, ReadOnlyAdmin


@admin.register(TopUpOffer)
class TopUpOfferAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "pay_amount", "bonus", "points", "coupon", "active",
                    "starts_on", "ends_on"]  # fmt: skip
    list_filter = ["active"]
    list_editable = ["active"]
    search_fields = ["code", "name"]
    autocomplete_fields = ["coupon"]
    filter_horizontal = ["stores"]
    fieldsets = [
        (None, {"fields": ["name", "code", "active"]}),
        (
            _("What the member pays and gets"),
            {"fields": ["pay_amount", "bonus", "points", "coupon"]},
        ),
        (_("When and where"), {"fields": ["starts_on", "ends_on", "stores"]}),
    ]


@admin.register(StoredValueEntry)
class StoredValueEntryAdmin(MemberSearchMixin, StoreScopedAdminMixin, ReadOnlyAdmin):
    """Every change of a member's stored value: top-ups, spends, refunds, cash-outs."""

    store_field = "member__store"
    list_display = ["created_at", "member", "kind", "principal_delta", "bonus_delta",
                    "principal_after", "bonus_after", "tender", "reference", "store",
                    "actor"]  # fmt: skip
    list_filter = ["kind", "tender"]
    list_select_related = ["member", "store", "actor"]
    search_fields = ["member__member_no"]
