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
from .benefits.rewards import RedemptionNotPossible, redemption_cancel
from .coupons import (
    CouponNotUsable,
    coupon_void,
    coupons_issue_bulk,
    template_usage,
)
from .models import (
    ApiKey,
    Card,
    CheckIn,
    Coupon,
    CouponEvent,
    CouponTemplate,
    EarnRule,
    GrowthEntry,
    JobRun,
    LoyaltySettings,
    PointsEntry,
    Purchase,
    Redemption,
    Referral,
    Refund,
    Reward,
    Tier,
    TierChange,
    normalize_code,
)


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


class MemberSearchMixin:
    """The changelist's search box: the row's own exact key where it has one (a purchase
    reference, a coupon code), and the member by phone, number, last 4 or name through
    `member_prefix` (member_search); every lookup on an index."""

    member_prefix = "member__"
    key_kinds = ("phone", "member_no")  # typed text that may be a member's as well as a key

    def exact_key(self, queryset, term):
        """The rows whose own key is `term`, or None when rows have no such key."""
        return None

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        by_key = self.exact_key(queryset, term)
        if by_key is None:
            return member_search(queryset, term, prefix=self.member_prefix), False
        kind, _value = classify_query(term)
        if kind in self.key_kinds:
            return by_key | member_search(queryset, term, prefix=self.member_prefix), False
        return by_key, False


@admin.register(LoyaltySettings)
class LoyaltySettingsAdmin(admin.ModelAdmin):
    fieldsets = [
        (_("Tiers"), {"fields": ["tier_basis", "qualification_months"]}),
        (
            _("Earning"),
            {
                "fields": [
                    "points_per_yuan",
                    "points_rounding",
                    "growth_per_yuan",
                    "daily_points_cap",
                ]
            },
        ),
        (_("Paying with points"), {"fields": ["points_per_cash_yuan", "points_cap_percent"]}),
        (_("Expiry"), {"fields": ["expiry_policy", "expiry_months", "notice_days"]}),
        (_("Discounts"), {"fields": ["discount_excluded_categories"]}),
        (
            _("Daily check-in"),
            {
                "fields": [
                    "checkin_points",
                    "checkin_growth",
                    "checkin_streak_days",
                    "checkin_streak_points",
                    "checkin_streak_coupon",
                ]
            },
        ),
        (
            _("Referral and profile"),
            {
                "fields": [
                    "referral_points_on_registration",
                    "referral_points_referrer_first_purchase",
                    "referral_points_friend_first_purchase",
                    "referral_monthly_cap",
                    "profile_points",
                    "action_growth",
                ]
            },
        ),
        (_("Welcome offer"), {"fields": ["welcome_points", "welcome_coupon"]}),
        (
            _("Tier review (keeping a tier)"),
            {
                "fields": [
                    "tier_review_months",
                    "downgrade_inactive_months",
                    "downgrade_notice_days",
                ]
            },
        ),
        (
            _("Member day and birthdays"),
            {"fields": ["member_day", "member_day_multiplier", "birthday_days_before"]},
        ),
        (
            _("Lifecycle stages"),
            {"fields": ["lifecycle_new_days", "lifecycle_active_days", "lifecycle_dormant_days"]},
        ),
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


# --- coupons, rewards, check-in, referrals ---------------------------------------


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

    def __init__(self, *args, **kwargs):
        from members.models import Tag

        super().__init__(*args, **kwargs)
        self.fields["tag"].queryset = Tag.objects.all()

    def clean(self):
        from members.models import Member

        data = super().clean()
        lines = [
            t.strip() for t in data.get("members", "").replace(",", "\n").splitlines() if t.strip()
        ]
        if bool(lines) == bool(data.get("tag")):
            raise ValidationError(_("Give a list of members, or a tag (one of the two)."))
        if data.get("tag"):
            data["queryset"] = data["tag"].members.filter(status=Member.Status.ACTIVE)
            return data
        found, unknown = [], []
        for line in lines:
            matches = member_search(Member.objects.all(), line, prefix="")
            member = matches.filter(status=Member.Status.ACTIVE).first()
            (found.append(member) if member else unknown.append(line))
        if unknown:
            raise ValidationError(
                _("No member found for: %(lines)s") % {"lines": ", ".join(unknown[:20])}
            )
        data["queryset"] = found
        return data


@admin.register(CouponTemplate)
class CouponTemplateAdmin(admin.ModelAdmin):
    list_display = [
        "name", "kind", "value", "min_spend", "validity", "stock_display", "used_display",
        "expired_display", "rate_display", "discount_display", "active",
    ]  # fmt: skip
    list_filter = ["active", "kind", "audience"]
    search_fields = ["name"]
    filter_horizontal = ["tiers", "tags"]
    readonly_fields = ["issued_count"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "value", "max_discount", "gift_name", "active"]}),
        (_("Conditions"), {"fields": ["min_spend", "categories"]}),
        (_("Validity"), {"fields": ["valid_days", "valid_from", "valid_until"]}),
        (_("Stock and limits"), {"fields": ["stock", "issued_count", "per_member_limit"]}),
        (_("Who may receive it"), {"fields": ["audience", "tiers", "tags"]}),
        (None, {"fields": ["description"]}),
    ]

    def get_queryset(self, request):
        return template_usage(super().get_queryset(request))

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
        form = CouponIssueForm(request.POST or None)
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
        "code", "template", "member", "status", "source", "valid_until", "redeemed_at",
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
        "code", "template", "member", "status", "source", "valid_from", "valid_until",
        "issued_by", "issued_at", "redeemed_at", "redeemed_store", "redeemed_by", "purchase",
        "discount",
    ]  # fmt: skip
    exclude = ["issue_key"]

    key_kinds = ("phone", "member_no", "last4")

    def exact_key(self, queryset, term):
        return queryset.filter(code=normalize_code(term))

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


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "job", "run_date", "status", "counts", "seconds", "finished_at"]
    list_filter = ["status", "job"]
    readonly_fields = ["job", "run_date", "status", "counts", "error", "started_at", "finished_at"]

    def has_view_permission(self, request, obj=None):
        return (
            request.user.is_active
            and request.user.is_staff
            and (request.user.has_perm("loyalty.view_jobrun"))
        )


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
        "coupons": Coupon.objects.filter(member=member)
        .select_related("template")
        .order_by("-issued_at", "-id")[:20],
        "coupons_url": reverse("admin:loyalty_coupon_changelist") + f"?q={member.member_no}",
        "ledger_url": reverse("admin:loyalty_pointsentry_changelist") + f"?q={member.member_no}",
    }


MEMBER_PANELS.append(loyalty_panel)


# --- Imports (loyalty/imports/) and the member list's Import / Export buttons ------------
from members.admin import MEMBER_TRANSFER  # noqa: E402 - appended section

from .imports.admin import (  # noqa: E402
    ExportJobAdmin,
    ImportJobAdmin,
    may_import,
    member_export_view,
    member_import_view,
)
from .models import ExportJob, ImportJob  # noqa: E402

admin.site.register(ImportJob, ImportJobAdmin)
admin.site.register(ExportJob, ExportJobAdmin)
MEMBER_TRANSFER.update(
    {"import": member_import_view, "export": member_export_view, "may_import": may_import}
)
