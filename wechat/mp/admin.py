"""The mini-program's users in the admin: who logged in, their member, and "revoke
sessions" (every token of the chosen users stops working: the member logs in again)."""

import datetime as dt

from django.contrib import admin
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .models import MiniProgramToken, MiniProgramUser
from .services import mp_tokens_revoke


class TokenInline(admin.TabularInline):
    model = MiniProgramToken
    fields = ["created_at", "expires_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    ordering = ["-created_at"]
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False

    def get_queryset(self, request):
        # The latest sessions only: a user who logs in daily has hundreds.
        recent = timezone.now() - dt.timedelta(days=30)
        return super().get_queryset(request).filter(created_at__gte=recent)


@admin.register(MiniProgramUser)
class MiniProgramUserAdmin(admin.ModelAdmin):
    list_display = ["openid", "member", "unionid", "last_login_at", "created_at"]
    list_select_related = ["member"]
    list_filter = [("member", admin.EmptyFieldListFilter)]
    search_fields = ["=openid", "=unionid", "=member__member_no"]
    # Who the user is comes from WeChat and their registration, never from an edit: a
    # user bound to another member would spend that member's points.
    fields = ["openid", "unionid", "member", "created_at", "last_login_at", "live_sessions"]
    readonly_fields = fields
    inlines = [TokenInline]
    actions = ["revoke_tokens"]
    show_full_result_count = False  # no COUNT(*) over every user on each page

    def has_add_permission(self, request):
        return False  # users come from logins

    @admin.display(description=_("live sessions"))
    def live_sessions(self, obj):
        return obj.tokens.filter(revoked_at__isnull=True, expires_at__gt=timezone.now()).count()

    @admin.action(
        description=_("Revoke the sessions (log out of the mini-program)"), permissions=["change"]
    )
    def revoke_tokens(self, request, queryset):
        n = mp_tokens_revoke(users=queryset.values("pk"))
        self.message_user(
            request,
            ngettext("%(n)d session revoked.", "%(n)d sessions revoked.", n) % {"n": n},
        )
