"""Cards (with the audited manual changes), purchases and refunds, the points and
growth value ledgers, tier history."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from loyalty.errors import LoyaltyError
from loyalty.ledger import points_adjust
from loyalty.models import Card, GrowthEntry, PointsEntry, Purchase, Refund, Tier, TierChange
from loyalty.tiers import tier_set
from members.admin import LargeTablePaginator, StoreScopedAdminMixin

from .base import MemberSearchMixin, ReadOnlyAdmin


class CardForm(forms.ModelForm):
    """Staff tools on a card: put the member on a tier, adjust points (reason required)."""

    new_tier = forms.ModelChoiceField(
        label=_("Set tier"), queryset=Tier.objects.all(), required=False
    )
    points_delta = forms.IntegerField(
        label=_("Adjust points by"), required=False, help_text=_("Positive adds, negative deducts.")
    )
    reason = forms.CharField(label=_("Reason"), required=False, max_length=200)

    class Meta:
        model = Card
        fields = []

    def clean(self):
        data = super().clean()
        if (data.get("points_delta") or data.get("new_tier")) and not (
            data.get("reason") or ""
        ).strip():
            self.add_error("reason", _("A reason is required for a manual change."))
        return data


@admin.register(Card)
class CardAdmin(MemberSearchMixin, StoreScopedAdminMixin, admin.ModelAdmin):
    store_field = "member__store"
    form = CardForm
    list_display = [
        "member",
        "tier",
        "points_balance",
        "points_debt",
        "total_spent",
        "purchase_count",
        "last_purchase_at",
    ]
    list_filter = ["tier"]
    list_select_related = ["member", "tier"]
    search_fields = ["member__member_no"]
    search_help_text = _("Exact mobile number, member number, last 4 digits, or full name.")
    readonly_fields = [
        "member", "tier", "tier_since", "points_balance", "points_debt", "growth_value",
        "total_spent", "purchase_count", "first_purchase_at", "last_purchase_at",
    ]  # fmt: skip
    fieldsets = [
        (None, {"fields": readonly_fields}),
        (_("Manual changes (audited)"), {"fields": ["new_tier", "points_delta", "reason"]}),
    ]
    paginator = LargeTablePaginator
    show_full_result_count = False

    def has_add_permission(self, request):
        return False  # every member has exactly one card, made with the member

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            if data.get("new_tier") and request.user.has_perm("loyalty.set_tier"):
                tier_set(
                    member=obj.member,
                    tier=data["new_tier"],
                    actor=request.user,
                    note=data["reason"],
                )
            if data.get("points_delta"):
                if not request.user.has_perm("loyalty.adjust_points"):
                    raise ValidationError(_("You may not adjust points."))
                points_adjust(
                    member=obj.member,
                    delta=data["points_delta"],
                    reason=data["reason"],
                    actor=request.user,
                )
        except (ValidationError, LoyaltyError) as exc:
            self.message_user(
                request, getattr(exc, "message", None) or " ".join(exc.messages), messages.ERROR
            )


class RefundInline(admin.TabularInline):
    model = Refund
    extra = 0
    can_delete = False
    fields = ["created_at", "amount", "points_clawed_back", "points_returned", "points_debt",
              "reason", "actor"]  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Purchase)
class PurchaseAdmin(MemberSearchMixin, StoreScopedAdminMixin, ReadOnlyAdmin):
    inlines = [RefundInline]
    list_display = [
        "external_ref", "member", "store", "gross_amount", "tier_discount", "points_used",
        "cash_paid", "points_earned", "status", "channel", "occurred_at",
    ]  # fmt: skip
    list_filter = ["status", "channel", "store"]
    list_select_related = ["member", "store"]
    search_fields = ["external_ref"]
    search_help_text = _("Exact reference, member number or mobile number.")

    def exact_key(self, queryset, term):
        return queryset.filter(external_ref=term)


@admin.register(PointsEntry)
class PointsEntryAdmin(MemberSearchMixin, StoreScopedAdminMixin, ReadOnlyAdmin):
    store_field = "member__store"
    list_display = [
        "created_at",
        "member",
        "kind",
        "delta",
        "balance_after",
        "remaining",
        "expires_at",
        "reason",
        "actor",
    ]
    list_filter = ["kind"]
    list_select_related = ["member", "actor"]
    search_fields = ["member__member_no"]


@admin.register(Refund)
class RefundAdmin(MemberSearchMixin, StoreScopedAdminMixin, ReadOnlyAdmin):
    """Every refund: how much, the points clawed back or given back, what stayed owed."""

    store_field = "purchase__store"
    list_display = ["created_at", "purchase", "amount", "points_clawed_back", "points_returned",
                    "points_debt", "reason", "actor"]  # fmt: skip
    list_select_related = ["purchase", "actor"]
    search_fields = ["purchase__external_ref"]
    search_help_text = _("Exact purchase reference, member number or mobile number.")

    member_prefix = "purchase__member__"

    def exact_key(self, queryset, term):
        return queryset.filter(purchase__external_ref=term)


@admin.register(GrowthEntry)
class GrowthEntryAdmin(MemberSearchMixin, StoreScopedAdminMixin, ReadOnlyAdmin):
    """The growth value ledger (成长值), when tiers are reached by growth."""

    store_field = "member__store"
    list_display = ["created_at", "member", "delta", "balance_after", "reason", "purchase"]
    list_select_related = ["member", "purchase"]
    search_fields = ["member__member_no"]


@admin.register(TierChange)
class TierChangeAdmin(MemberSearchMixin, StoreScopedAdminMixin, ReadOnlyAdmin):
    store_field = "member__store"
    list_display = ["created_at", "member", "from_tier", "to_tier", "reason", "actor", "note"]
    list_filter = ["reason", "to_tier"]
    list_select_related = ["member", "from_tier", "to_tier", "actor"]
    search_fields = ["member__member_no"]
