"""The configuration: loyalty settings, tiers, earn rules, API keys, and the job runs."""

from django import forms
from django.contrib import admin, messages
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from loyalty.models import ApiKey, EarnRule, JobRun, LoyaltySettings, Tier

from .base import ReadOnlyAdmin
from .job_labels import JobFilter, counts_summary, job_label


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
        (
            _("Stored value"),
            {
                "fields": [
                    "stored_value_cap",
                    "stored_value_confirm_limit",
                    "stored_value_order",
                    "stored_value_earns",
                ]
            },
        ),
        (_("Dynamic member code"), {"fields": ["spend_needs_dynamic_code"]}),
        (_("Count cards"), {"fields": ["count_card_notice_days", "count_card_refund_pro_rata"]}),
        (
            _("Expiry"),
            {"fields": ["expiry_policy", "expiry_months", "notice_days", "coupon_notice_days"]},
        ),
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
            {
                "fields": [
                    "lifecycle_new_days",
                    "lifecycle_active_days",
                    "lifecycle_dormant_days",
                    "lifecycle_counts_visits",
                ]
            },
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


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdmin):
    # The job by what it does, its counts as a sentence, its time in seconds.
    list_display = ["started_at", "job_name", "run_date", "status", "result", "duration",
                    "finished_at"]  # fmt: skip
    list_filter = ["status", JobFilter]
    # host and pid: the process that ran it (an interrupted run's was killed).
    fields = ["job_name", "run_date", "status", "result", "duration", "error", "started_at",
              "finished_at", "host", "pid"]  # fmt: skip
    readonly_fields = fields

    @admin.display(description=_("job"), ordering="job")
    def job_name(self, obj):
        return job_label(obj.job)

    @admin.display(description=_("result"))
    def result(self, obj):
        return counts_summary(obj.counts)

    @admin.display(description=_("time taken"))
    def duration(self, obj):
        seconds = obj.seconds
        if seconds is None:
            return "—"
        return _("%(seconds)s s") % {"seconds": f"{seconds:.1f}"}

    def has_view_permission(self, request, obj=None):
        return (
            request.user.is_active
            and request.user.is_staff
            and (request.user.has_perm("loyalty.view_jobrun"))
        )
