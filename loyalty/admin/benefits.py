"""Coupon templates (usage report, "Issue to members…") and coupons, the rewards
catalog and redemptions, check-ins, referrals."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from loyalty.benefits.issuing import coupons_issue_bulk
from loyalty.benefits.rewards import RedemptionNotPossible, redemption_cancel
from loyalty.coupons import coupon_void, template_usage
from loyalty.display import valid_through
from loyalty.errors import CouponNotUsable
from loyalty.models import (
    CheckIn,
    Coupon,
    CouponEvent,
    CouponTemplate,
    Redemption,
    Referral,
    Reward,
    normalize_code,
)
from members.admin import LargeTablePaginator, StoreScopedAdminMixin
from members.selectors import members_visible_to

from .base import MemberSearchMixin, ReadOnlyAdmin, member_search


class ReasonActionForm(admin.helpers.ActionForm):
    reason = forms.CharField(label=_("Reason"), required=False, max_length=255)


class CouponIssueForm(forms.Form):
    members = forms.CharField(
        label=_("Members"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_("Member numbers or mobile numbers, one a line (or separated by commas)."),
    )
    tag = forms.ModelChoiceField(
        label=_("or every member with the tag"), queryset=None, required=False
    )

    def __init__(self, *args, user, **kwargs):
        from members.models import Tag

        super().__init__(*args, **kwargs)
        self.fields["tag"].queryset = Tag.objects.all()
        # A manager issues to their store's members only, as every manager screen is
        # scoped: owners (and superusers) to every store's.
        self.members = members_visible_to(user)

    def clean(self):
        from members.models import Member

        data = super().clean()
        lines = [
            t.strip() for t in data.get("members", "").replace(",", "\n").splitlines() if t.strip()
        ]
        if bool(lines) == bool(data.get("tag")):
            raise ValidationError(_("Give a list of members, or a tag (one of the two)."))
        active = self.members.filter(status=Member.Status.ACTIVE)
        if data.get("tag"):
            data["queryset"] = active.filter(tags=data["tag"])
            return data
        found, unknown = [], []
        for line in lines:
            member = member_search(active, line, prefix="").first()
            (found.append(member) if member else unknown.append(line))
        if unknown:
            # The same words whether nobody has that phone or someone of another store:
            # the form tells nothing about members the user may not see.
            raise ValidationError(
                _("Not found in your stores: %(lines)s") % {"lines": ", ".join(unknown[:20])}
            )
        data["queryset"] = found
        return data


@admin.register(CouponTemplate)
class CouponTemplateAdmin(admin.ModelAdmin):
    list_display = [
        "name", "code", "kind", "value", "min_spend", "validity", "stock_display", "used_display",
        "expired_display", "rate_display", "discount_display", "active",
    ]  # fmt: skip
    list_filter = ["active", "kind", "audience", "stores"]
    search_fields = ["name", "code"]
    filter_horizontal = ["tiers", "tags"]
    readonly_fields = ["issued_count"]
    fieldsets = [
        (
            None,
            {"fields": ["name", "code", "kind", "value", "max_discount", "gift_name", "active"]},
        ),
        (_("Conditions"), {"fields": ["min_spend", "categories", "stores"]}),
        (_("Validity"), {"fields": ["valid_days", "valid_from", "valid_until"]}),
        (_("Stock and limits"), {"fields": ["stock", "issued_count", "per_member_limit"]}),
        (_("Who may receive it"), {"fields": ["audience", "tiers", "tags"]}),
        (None, {"fields": ["description"]}),
    ]

    def get_queryset(self, request):
        return template_usage(super().get_queryset(request))

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "stores":
            # A few stores: ticked in place, with no JavaScript picker.
            kwargs["widget"] = forms.CheckboxSelectMultiple
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    @admin.display(description=_("valid"))
    def validity(self, obj):
        if obj.valid_days:
            return _("%(n)d days from issue") % {"n": obj.valid_days}
        return f"{obj.valid_from or ''} – {obj.valid_until}"

    @admin.display(description=_("issued / stock"))
    def stock_display(self, obj):
        return f"{obj.n_issued} / {obj.stock if obj.stock is not None else '∞'}"

    @admin.display(description=_("used"), ordering="n_redeemed")
    def used_display(self, obj):
        return obj.n_redeemed

    @admin.display(description=_("expired"), ordering="n_expired")
    def expired_display(self, obj):
        return obj.n_expired

    @admin.display(description=_("redemption rate"))
    def rate_display(self, obj):
        return f"{obj.n_redeemed * 100 / obj.n_issued:.1f}%" if obj.n_issued else "–"

    @admin.display(description=_("discount given (yuan)"), ordering="discount_given")
    def discount_display(self, obj):
        return obj.discount_given

    def get_urls(self):
        from django.urls import path

        return [
            path(
                "<int:pk>/issue/",
                self.admin_site.admin_view(self.issue_view),
                name="loyalty_coupontemplate_issue",
            ),
            *super().get_urls(),
        ]

    def issue_view(self, request, pk):
        """Bulk issue: to a list of member numbers / phones, or to a tag."""
        from django.core.exceptions import PermissionDenied
        from django.shortcuts import get_object_or_404, render

        if not request.user.has_perm("loyalty.issue_coupon"):
            raise PermissionDenied
        template = get_object_or_404(CouponTemplate, pk=pk)
        form = CouponIssueForm(request.POST or None, user=request.user)
        if request.method == "POST" and form.is_valid():
            report = coupons_issue_bulk(
                template=template, members=form.cleaned_data["queryset"], actor=request.user
            )
            level = messages.SUCCESS if report.issued else messages.WARNING
            text = _("%(issued)d coupon(s) issued, %(skipped)d member(s) skipped.") % {
                "issued": report.issued,
                "skipped": report.skipped,
            }
            if report.out_of_stock:
                text += " " + _("Stopped: out of stock.")
            for reason, n in (report.reasons or {}).items():
                text += f" {reason} ×{n}"
            self.message_user(request, text, level)
            return redirect(reverse("admin:loyalty_coupontemplate_change", args=[pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": template,
            "title": _("Issue %(name)s") % {"name": template.name},
            "form": form,
        }
        return render(request, "admin/loyalty/coupon_issue.html", context)


class CouponEventInline(admin.TabularInline):
    model = CouponEvent
    extra = 0
    can_delete = False
    fields = ["at", "kind", "actor", "store", "purchase", "note"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Coupon)
class CouponAdmin(MemberSearchMixin, StoreScopedAdminMixin, admin.ModelAdmin):
    store_field = "member__store"
    paginator = LargeTablePaginator
    show_full_result_count = False
    list_display = [
        "code", "template", "member", "status", "source", "valid_through", "redeemed_at",
        "redeemed_store", "discount",
    ]  # fmt: skip
    list_filter = ["status", "source", "template"]
    list_select_related = ["template", "member", "redeemed_store"]
    search_fields = ["code"]
    search_help_text = _("Exact coupon code, member number or mobile number.")
    inlines = [CouponEventInline]
    action_form = ReasonActionForm
    actions = ["void"]
    readonly_fields = [
        "code", "template", "member", "status", "source", "valid_from", "valid_through",
        "issued_by", "issued_at", "redeemed_at", "redeemed_store", "redeemed_by", "purchase",
        "discount",
    ]  # fmt: skip
    exclude = ["issue_key"]

    key_kinds = ("phone", "member_no", "last4")

    def exact_key(self, queryset, term):
        return queryset.filter(code=normalize_code(term))

    @admin.display(description=_("Validity"), ordering="valid_until")
    def valid_through(self, obj):
        return valid_through(obj.valid_until)  # 有效期至 2026-12-31, as on every screen

    def has_add_permission(self, request):
        return False  # coupons are issued from their template (Issue…), never typed in

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Void the selected coupons (reason required)"))
    def void(self, request, queryset):
        reason = request.POST.get("reason", "").strip()
        if not reason:
            self.message_user(request, _("Give a reason to void coupons."), messages.ERROR)
            return
        done = 0
        for coupon in queryset.filter(status=Coupon.Status.ISSUED):
            try:
                coupon_void(coupon=coupon, actor=request.user, reason=reason)
                done += 1
            except CouponNotUsable:
                continue
        self.message_user(request, _("%(n)d coupon(s) voided.") % {"n": done}, messages.SUCCESS)


@admin.register(Reward)
class RewardAdmin(admin.ModelAdmin):
    list_display = [
        "name", "kind", "points_cost", "cash_part", "stock", "redeemed_count", "per_member_limit",
        "starts_at", "ends_at", "active", "sort",
    ]  # fmt: skip
    list_editable = ["active", "sort"]
    list_filter = ["active", "kind"]
    search_fields = ["name"]
    autocomplete_fields = ["coupon_template"]
    readonly_fields = ["redeemed_count"]


@admin.register(Redemption)
class RedemptionAdmin(MemberSearchMixin, StoreScopedAdminMixin, admin.ModelAdmin):
    store_field = "member__store"
    paginator = LargeTablePaginator
    show_full_result_count = False
    list_display = [
        "created_at", "member", "reward", "points", "cash_part", "status", "pickup_code",
        "fulfilled_at", "fulfilled_store", "handled_by",
    ]  # fmt: skip
    list_filter = ["status", "reward"]
    list_select_related = ["member", "reward", "fulfilled_store", "handled_by"]
    search_fields = ["pickup_code"]
    search_help_text = _("Exact pickup code, member number or mobile number.")
    action_form = ReasonActionForm
    actions = ["cancel"]
    readonly_fields = [
        "member", "reward", "points", "cash_part", "status", "pickup_code", "coupon",
        "created_at", "fulfilled_at", "fulfilled_store", "handled_by", "cancelled_at", "note",
    ]  # fmt: skip
    exclude = ["idempotency_key"]

    key_kinds = ("phone", "member_no", "last4")

    def exact_key(self, queryset, term):
        return queryset.filter(pickup_code=normalize_code(term))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Cancel and return the points (reason required)"))
    def cancel(self, request, queryset):
        reason = request.POST.get("reason", "").strip()
        if not reason:
            self.message_user(request, _("Give a reason to cancel."), messages.ERROR)
            return
        done = 0
        for redemption in queryset.filter(status=Redemption.Status.AWAITING_PICKUP):
            try:
                redemption_cancel(redemption=redemption, actor=request.user, reason=reason)
                done += 1
            except RedemptionNotPossible:
                continue
        self.message_user(
            request,
            _("%(n)d redemption(s) cancelled, points returned.") % {"n": done},
            messages.SUCCESS,
        )


@admin.register(CheckIn)
class CheckInAdmin(MemberSearchMixin, StoreScopedAdminMixin, ReadOnlyAdmin):
    store_field = "member__store"
    list_display = ["day", "member", "streak", "points", "bonus_points", "coupon", "created_at"]
    list_filter = ["day"]
    list_select_related = ["member", "coupon"]
    search_fields = ["member__member_no"]


@admin.register(Referral)
class ReferralAdmin(MemberSearchMixin, StoreScopedAdminMixin, ReadOnlyAdmin):
    store_field = "referrer__store"
    list_display = [
        "created_at", "referrer", "invitee", "status", "registered_points", "first_purchase_at",
    ]  # fmt: skip
    list_filter = ["status"]
    list_select_related = ["referrer", "invitee"]
    search_fields = ["referrer__member_no"]

    member_prefix = "referrer__"
