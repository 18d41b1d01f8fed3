from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from members import crypto
from members.admin import MEMBER_PANELS, LargeTablePaginator, StoreScopedAdminMixin
from members.phones import normalize_phone
from members.selectors import classify_query

from . import services
from .models import ApiKey, Card, EarnRule, LoyaltySettings, PointsEntry, Purchase, Tier, TierChange


class ReadOnlyAdmin(admin.ModelAdmin):
    """Ledgers and history: looked at, filtered, never edited by hand."""

    paginator = LargeTablePaginator
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def member_search(queryset, search_term, prefix="member__"):
    """Exact, indexed search by phone (any format), member number or last 4 digits."""
    kind, value = classify_query(search_term)
    if kind == "phone":
        return queryset.filter(**{f"{prefix}phone_hash": crypto.phone_hash(normalize_phone(value))})
    if kind == "member_no":
        return queryset.filter(**{f"{prefix}member_no": value})
    if kind == "last4":
        return queryset.filter(**{f"{prefix}phone_last4": value})
    return queryset.filter(**{f"{prefix}name": value})


@admin.register(LoyaltySettings)
class LoyaltySettingsAdmin(admin.ModelAdmin):
    fieldsets = [
        (_("Tiers"), {"fields": ["tier_basis", "qualification_months"]}),
        (_("Earning"), {"fields": ["points_per_yuan", "growth_per_yuan", "daily_points_cap"]}),
        (_("Paying with points"), {"fields": ["points_per_cash_yuan", "points_cap_percent"]}),
        (_("Expiry"), {"fields": ["expiry_policy", "expiry_months", "notice_days"]}),
        (_("Discounts"), {"fields": ["discount_excluded_categories"]}),
    ]

    def changelist_view(self, request, extra_context=None):
        # One row: the list is the settings page itself.
        LoyaltySettings.current()
        return redirect(reverse("admin:loyalty_loyaltysettings_change", args=[1]))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Tier)
class TierAdmin(admin.ModelAdmin):
    list_display = [
        "level",
        "name",
        "qualify_threshold",
        "keep_threshold",
        "discount_rate",
        "points_multiplier",
    ]
    list_display_links = ["level", "name"]
    search_fields = ["name"]


@admin.register(EarnRule)
class EarnRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "category", "multiplier", "starts_on", "ends_on", "active"]
    list_filter = ["active"]
    search_fields = ["name", "category"]


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
class CardAdmin(StoreScopedAdminMixin, admin.ModelAdmin):
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

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        return member_search(queryset, search_term), False

    def has_add_permission(self, request):
        return False  # every member has exactly one card, made with the member

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            if data.get("new_tier") and request.user.has_perm("loyalty.set_tier"):
                services.tier_set(
                    member=obj.member,
                    tier=data["new_tier"],
                    actor=request.user,
                    note=data["reason"],
                )
            if data.get("points_delta"):
                if not request.user.has_perm("loyalty.adjust_points"):
                    raise ValidationError(_("You may not adjust points."))
                services.points_adjust(
                    member=obj.member,
                    delta=data["points_delta"],
                    reason=data["reason"],
                    actor=request.user,
                )
        except (ValidationError, services.LoyaltyError) as exc:
            self.message_user(
                request, getattr(exc, "message", None) or " ".join(exc.messages), messages.ERROR
            )


@admin.register(Purchase)
class PurchaseAdmin(StoreScopedAdminMixin, ReadOnlyAdmin):
    list_display = [
        "external_ref", "member", "store", "gross_amount", "tier_discount", "points_used",
        "cash_paid", "points_earned", "status", "channel", "occurred_at",
    ]  # fmt: skip
    list_filter = ["status", "channel", "store"]
    list_select_related = ["member", "store"]
    search_fields = ["external_ref"]
    search_help_text = _("Exact reference, member number or mobile number.")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        by_ref = queryset.filter(external_ref=term)
        kind, _value = classify_query(term)
        if kind in ("phone", "member_no"):
            return by_ref | member_search(queryset, term), False
        return by_ref, False


@admin.register(PointsEntry)
class PointsEntryAdmin(StoreScopedAdminMixin, ReadOnlyAdmin):
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

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        return member_search(queryset, search_term), False


@admin.register(TierChange)
class TierChangeAdmin(StoreScopedAdminMixin, ReadOnlyAdmin):
    store_field = "member__store"
    list_display = ["created_at", "member", "from_tier", "to_tier", "reason", "actor", "note"]
    list_filter = ["reason", "to_tier"]
    list_select_related = ["member", "from_tier", "to_tier", "actor"]
    search_fields = ["member__member_no"]

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        return member_search(queryset, search_term), False


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["store", "name"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = ["name", "store", "key_hint", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["store", ("revoked_at", admin.EmptyFieldListFilter)]
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        return ["store", "key_hint", "created_at", "last_used_at", "revoked_at"] if obj else []

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        issued, key = ApiKey.issue(store=obj.store, name=obj.name)
        obj.pk = issued.pk
        self.message_user(
            request,
            format_html(_("The new key (shown only now, copy it): <code>{}</code>"), key),
            messages.WARNING,
        )

    @admin.action(description=_("Revoke the selected keys"))
    def revoke(self, request, queryset):
        n = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, _("%(n)d key(s) revoked.") % {"n": n}, messages.SUCCESS)


def loyalty_panel(request, member):
    """The member's card, recent points and tier history on their admin page."""
    card = Card.objects.select_related("tier").filter(pk=member.pk).first()
    return {
        "title": _("Card, points and tier"),
        "template": "admin/loyalty/_member_panel.html",
        "card": card,
        "card_url": reverse("admin:loyalty_card_change", args=[member.pk]) if card else None,
        "entries": PointsEntry.objects.filter(member=member)
        .select_related("actor")
        .order_by("-created_at", "-id")[:20],
        "tier_changes": TierChange.objects.filter(member=member)
        .select_related("from_tier", "to_tier", "actor")
        .order_by("-created_at", "-id")[:20],
        "ledger_url": reverse("admin:loyalty_pointsentry_changelist") + f"?q={member.member_no}",
    }


MEMBER_PANELS.append(loyalty_panel)
