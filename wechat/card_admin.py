"""The admin of the member card in 卡包: the card (one per account, 发布到微信), the cards
members hold, and the changes waiting to be pushed."""

from django.contrib import admin, messages
from django.shortcuts import redirect
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from . import client
from .member_card import card_publish
from .models import CardUpdate, MemberCardClass, MemberCardHolding


@admin.register(MemberCardClass)
class MemberCardClassAdmin(admin.ModelAdmin):
    """The member card as WeChat shows it; saved here, then published with the action."""

    list_display = ["title", "brand_name", "color", "card_id", "published_at", "last_error"]
    readonly_fields = ["card_id", "claim_link", "published_at", "last_error"]
    fieldsets = [
        (None, {"fields": ["brand_name", "title", "logo", "color"]}),
        (_("On the card"), {"fields": ["notice", "description", "prerogative", "service_phone",
                                       "show_bonus", "show_balance", "tier_field_name"]}),
        (_("Claiming"), {"fields": ["on_posters", "claim_link"]}),
        (_("In WeChat"), {"fields": ["card_id", "published_at", "last_error"]}),
    ]  # fmt: skip
    actions = ["publish"]

    def add_view(self, request, form_url="", extra_context=None):
        # One member card per official account: asking for a second opens the first.
        # (Not has_add_permission: the admin's sidebar would ask it on every page.)
        existing = MemberCardClass.objects.order_by("pk").first()
        if existing is not None:
            self.message_user(request, _("There is one member card per official account."))
            return redirect("admin:wechat_membercardclass_change", existing.pk)
        return super().add_view(request, form_url, extra_context)

    def render_change_form(self, request, context, *args, **kwargs):
        context["show_save_and_add_another"] = False  # one card per account
        return super().render_change_form(request, context, *args, **kwargs)

    def save_model(self, request, obj, form, change):
        if "logo" in form.changed_data:
            obj.logo_url = ""  # uploaded to WeChat again at the next publishing
        super().save_model(request, obj, form, change)
        if obj.card_id:
            self.message_user(
                request, _("Saved. Publish the card again for WeChat to show the changes."),
                messages.WARNING,
            )  # fmt: skip

    @admin.display(description=_("claim link"))
    def claim_link(self, obj):
        if not obj.claim_url:
            return _("Made when the card is published.")
        return format_html('<a href="{0}" target="_blank" rel="noopener">{0}</a>', obj.claim_url)

    @admin.action(description=_("Publish to WeChat"))
    def publish(self, request, queryset):
        for card in queryset:
            try:
                card_publish(card=card)
            except client.WeChatError as exc:
                self.message_user(request, f"{card}: {exc.reason}", messages.ERROR)
            else:
                self.message_user(request, _("%(card)s is published in WeChat.") % {"card": card})


@admin.register(MemberCardHolding)
class MemberCardHoldingAdmin(admin.ModelAdmin):
    """The member cards in members' 卡包 and what WeChat was last told they show."""

    list_display = ["code", "member", "status", "activated_at", "shown_bonus", "shown_balance",
                    "shown_tier", "synced_at"]  # fmt: skip
    list_filter = ["status"]
    list_select_related = ["member"]
    search_fields = ["code", "member__member_no"]
    readonly_fields = [f.name for f in MemberCardHolding._meta.fields]

    def has_add_permission(self, request):
        return False  # a card is claimed in WeChat


@admin.register(CardUpdate)
class CardUpdateAdmin(admin.ModelAdmin):
    """Changes pushed to the cards in 卡包, and those waiting (with WeChat's last answer)."""

    list_display = ["ref", "member", "kind", "add_bonus", "add_balance", "record", "created_at",
                    "sent_at", "attempts", "next_try_at", "last_error"]  # fmt: skip
    list_filter = ["kind", ("sent_at", admin.EmptyFieldListFilter)]
    list_select_related = ["member"]
    search_fields = ["ref", "member__member_no"]
    readonly_fields = [f.name for f in CardUpdate._meta.fields]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False
