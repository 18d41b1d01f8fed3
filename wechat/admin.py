from urllib.parse import quote

from django.contrib import admin, messages
from django.db import transaction
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from . import card_admin, client  # noqa: F401 - card_admin registers the member card's
from .models import Follower, QrScene, TemplateText
from .mp import admin as mp_admin  # noqa: F401 - registers the mini-program's
from .services import qrscene_create


@admin.register(QrScene)
class QrSceneAdmin(admin.ModelAdmin):
    """Parametric QR codes: a follow through one is attributed to its store and staff member."""

    list_display = ["name", "scene", "store", "staff", "qr_link", "created_at"]
    list_filter = ["store"]
    list_select_related = ["store", "staff"]
    search_fields = ["name", "scene"]
    autocomplete_fields = ["store", "staff"]
    readonly_fields = ["ticket", "url", "created_at"]
    actions = ["fetch_qr"]

    @admin.display(description=_("QR code"))
    def qr_link(self, obj):
        if not obj.ticket:
            return "-"
        src = f"https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket={quote(obj.ticket)}"
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', src, _("show"))

    @admin.action(description=_("Get the QR code from WeChat"))
    def fetch_qr(self, request, queryset):
        done = 0
        for scene in queryset:
            try:
                qrscene_create(scene=scene)
                done += 1
            except client.WeChatError as exc:
                self.message_user(request, f"{scene}: {exc}", messages.ERROR)
        if done:
            self.message_user(request, _("%(n)d QR codes fetched.") % {"n": done})

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not obj.ticket:
            # After the admin's transaction: no network call while rows are locked.
            transaction.on_commit(lambda: self._fetch_new(request, obj))

    def _fetch_new(self, request, obj):
        try:
            qrscene_create(scene=obj)
        except client.WeChatError as exc:
            self.message_user(request, f"{obj}: {exc}", messages.WARNING)


@admin.register(Follower)
class FollowerAdmin(admin.ModelAdmin):
    list_display = ["openid", "subscribed", "store", "staff", "subscribed_at", "unsubscribed_at"]
    list_filter = ["subscribed", "store"]
    list_select_related = ["store", "staff"]
    search_fields = ["=openid"]
    readonly_fields = [f.name for f in Follower._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(TemplateText)
class TemplateTextAdmin(admin.ModelAdmin):
    """The owner's fixed texts of each notice's template message (20 characters a field)."""

    list_display = ["event", "first", "remark", "enabled"]
    list_editable = ["enabled"]
