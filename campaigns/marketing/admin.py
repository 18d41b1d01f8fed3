"""The campaign screens in the admin, the merchant's way in: compose (the campaign and
its 1-4 variants, checked by sending.check_campaign: the rules live there only),
preview (the audience within the viewer's scope, the expected split, the message for
three members), start sending (in the background, with a progress line that refreshes
itself) and the report; the marketing settings' one row; who was reached, read-only."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.http import HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from loyalty.admin.base import ReadOnlyAdmin
from loyalty.models import CouponTemplate
from members.admin import StoreScopedAdminMixin
from members.selectors import sees_all_stores

from .. import channel_labels
from ..segments.rules import RuleError, members_matching
from ..segments.services import scoped_members
from .assign import assign
from .models import (
    CHANNEL_CHOICES,
    Campaign,
    CampaignMember,
    MarketingSettings,
    Variant,
    default_channels,
)
from .report import as_json, campaign_report
from .sending import (
    CampaignError,
    campaign_start,
    check_campaign,
    occurrence_of,
    placeholder_values,
    recipient_of,
    render,
)
from .stats import format_p

SAMPLES = 3
# A campaign's channels by the names its form gives them; any other by the Message list's.
CHANNEL_LABELS = {**channel_labels.CHANNEL_LABELS, **dict(CHANNEL_CHOICES)}
Outcome = CampaignMember.Outcome


# --- the service behind the Start button ------------------------------------------------


@transaction.atomic
def campaign_launch(*, campaign_id: int, now: dt.datetime | None = None) -> Campaign:
    """Start a draft broadcast (sending.campaign_start) and, when it is due, queue its
    sending once the start is committed. The row is locked so that two clicks start it
    once; a journey is not sent by hand (its trigger sends it)."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
    if campaign.kind != Campaign.Kind.BROADCAST:
        raise CampaignError(_("A journey is not sent by hand: its trigger sends it."))
    if campaign.status != Campaign.Status.DRAFT:
        raise CampaignError(_("This campaign has been started already."))
    now = now or timezone.now()
    campaign_start(campaign, now=now)
    if campaign.send_at <= now:
        transaction.on_commit(lambda: enqueue_send(campaign.pk))
    return campaign


def enqueue_send(campaign_id: int) -> None:
    """Sent now; lost while the broker is down, the every-minute send_campaigns sends it."""
    from members.queue import enqueue

    enqueue(
        "campaigns.marketing.sending.campaign_send",
        campaign_id,
        task_name=f"campaign-{campaign_id}",
    )


# --- what the screens show -----------------------------------------------------------------


def audience_rules(campaign: Campaign) -> dict:
    """The rule that picks the audience: the segment's while a draft, then the copy fixed
    when the campaign was started."""
    if campaign.status == Campaign.Status.DRAFT and campaign.segment_id:
        return campaign.segment.rules
    return campaign.rules or {"all": []}


def expires_of(template: CouponTemplate | None, today: dt.date) -> str:
    """{expires} as sending fills it for a coupon issued today: its last usable day."""
    if template is None:
        return ""
    if template.valid_days:  # day 1 is the day of issue
        return (today + dt.timedelta(days=template.valid_days - 1)).isoformat()
    if template.valid_until:
        return template.valid_until.isoformat()
    return ""


def sample_values(member, variant: Variant, today: dt.date) -> dict:
    """The placeholders for one member, as sending.offer fills them, nothing given."""
    values = placeholder_values(recipient_of(member), points=variant.points)
    if variant.coupon_template_id:
        values["coupon"] = variant.coupon_template.name
        values["expires"] = expires_of(variant.coupon_template, today)
    return values


def campaign_preview(campaign: Campaign, user) -> dict:
    """Audience within the viewer's scope, the expected split, and the message as three
    members of the audience would read it (the group they will be in: assignment is a
    hash, so it is known before sending). Nothing is sent or given."""
    variants = list(campaign.variants.select_related("coupon_template").order_by("name"))
    try:
        members = scoped_members(audience_rules(campaign), user)
        audience = members.count()
    except RuleError as exc:
        return {"error": " ".join(exc.messages)}
    weights = sum(v.weight for v in variants) or 1
    sending_share = 100 - campaign.holdout_percent
    split = [
        {"name": _("Holdout"), "percent": campaign.holdout_percent,
         "members": round(audience * campaign.holdout_percent / 100), "offer": ""},
        *[{"name": v.name, "percent": sending_share * v.weight / weights,
           "members": round(audience * sending_share * v.weight / weights / 100),
           "offer": offer_text(v)} for v in variants],
    ]  # fmt: skip
    today = timezone.localdate()
    samples = []
    for member in members.select_related("card__tier").order_by("-pk")[:SAMPLES]:
        group = assign(campaign, variants, member.pk)
        texts = []
        for variant in variants:
            values = sample_values(member, variant, today)
            texts.append({
                "variant": variant,
                "title": render(campaign.title, values),
                "body": render(variant.message or campaign.message, values),
                "theirs": group is not None and group.pk == variant.pk,
            })  # fmt: skip
        samples.append({"member": member, "group": group, "texts": texts})
    return {"audience": audience, "split": split, "samples": samples, "variants": variants}


def offer_text(variant: Variant) -> str:
    parts = [str(variant.coupon_template)] if variant.coupon_template_id else []
    if variant.points:
        parts.append(_("%(n)d points") % {"n": variant.points})
    return " + ".join(parts) or _("no offer")


def campaign_progress(campaign: Campaign) -> dict:
    """Where a started broadcast is: members handled of its audience, by outcome (of the
    round under way, for a repeating one)."""
    rows = CampaignMember.objects.filter(campaign=campaign)
    if campaign.repeat_days and campaign.status == Campaign.Status.SENDING:
        rows = rows.filter(occurrence=occurrence_of(campaign))
    counts = dict(rows.order_by().values_list("outcome").annotate(n=Count("pk")))
    audience = members_matching(campaign.rules or {"all": []}).count()
    done = sum(n for outcome, n in counts.items() if outcome != Outcome.PENDING)
    return {
        "audience": audience,
        "done": done,
        "outcomes": [(label, counts.get(value, 0)) for value, label in Outcome.choices
                     if value != Outcome.PENDING],
        "active": campaign.status in (Campaign.Status.SCHEDULED, Campaign.Status.SENDING),
    }  # fmt: skip


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def money(value) -> str:
    return "—" if value is None else f"¥{value:,.2f}"


def report_table(report: dict, channels: list[str]) -> list[dict]:
    """The report's rows: a label, a short definition, one cell per group (the holdout
    first, then each variant); docs/campaigns.md says more."""
    groups = [report["holdout"], *report["variants"]]
    dash = "—"

    def row(label, definition, cell, holdout=None):
        cells = [holdout if holdout is not None else cell(groups[0])]
        return {"label": label, "definition": definition,
                "cells": cells + [cell(g) for g in groups[1:]]}  # fmt: skip

    def skipped(g):
        out = g["outcomes"]
        return sum(out.get(o, 0) for o in (Outcome.CAPPED, Outcome.NO_CONSENT, Outcome.NO_CHANNEL))

    def interval(g):
        c = g["conversion"]
        if c.rate is None:
            return dash
        return f"{percent(c.rate)}（{percent(c.low)} – {percent(c.high)}）"

    def lift(g):
        value = g["vs_holdout"].lift
        return dash if value is None else f"{value * 100:+.1f} " + _("pp")

    def p_value(g):
        c = g["vs_holdout"]
        if c.p_value is None:
            return dash
        return format_p(c.p_value) + ("" if c.enough else " *")

    rows = [
        row(_("Members"), _("Assigned to the group; the holdout is sent nothing."),
            lambda g: g["members"]),
        row(_("Sent to"), _("Members whose messages were queued."),
            lambda g: g["outcomes"].get(Outcome.SENT, 0), dash),
        row(_("Skipped"), _("Weekly cap reached, marketing refused, or no channel reaches them."),
            skipped, dash),
    ]  # fmt: skip
    for channel in channels:
        rows.append(row(
            _("Delivered: %(channel)s") % {"channel": CHANNEL_LABELS.get(channel, channel)},
            _("Messages the channel accepted."),
            lambda g, channel=channel: g["delivered"].get(channel, 0), dash,
        ))  # fmt: skip
    rows += [
        row(_("Failed"), _("Messages the channel gave up on after retries."),
            lambda g: g["failed"], dash),
        row(_("Opened"), _("Inbox messages read (only the member-centre inbox tells)."),
            lambda g: g["opened"], dash),
        row(_("Coupons issued"), _("The campaign's own coupons given to the group."),
            lambda g: g["coupons_issued"], dash),
        row(_("Coupons redeemed"), _("Of those, used at a purchase."),
            lambda g: g["coupons_redeemed"], dash),
        row(_("Purchasers"), _("Members who bought within the attribution window."),
            lambda g: g["purchasers"]),
        row(_("Revenue"), _("Cash paid for those purchases, less their refunds."),
            lambda g: money(g["revenue"])),
        row(_("Cost"), _("Discounts of the campaign's coupons used, plus its points at "
                         "their cash value."), lambda g: money(g["cost"]), dash),
        row(
            # xgettext:no-python-format
            _("Conversion (95% interval)"),
            # xgettext:no-python-format
            _("Purchasers / members; the true rate lies in the interval with 95% confidence."),
            interval,
        ),
        row(_("Lift over the holdout"),
            _("Conversion minus the holdout's, in percentage points."), lift, dash),
        row(_("p-value"), _("Two-proportion z-test, two-sided: the chance of a lift this "
                            "large if the offer did nothing. * sample too small."),
            p_value, dash),
    ]  # fmt: skip
    return rows


# --- compose ---------------------------------------------------------------------------------


class CampaignForm(forms.ModelForm):
    channels = forms.MultipleChoiceField(
        label=gettext_lazy("channels"),
        choices=CHANNEL_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        initial=default_channels,
        help_text=gettext_lazy(
            "Inbox reaches every member; WeChat, members who follow the official account; "
            "SMS, only members who said yes to marketing. Members who said no get nothing."
        ),
    )

    class Meta:
        model = Campaign
        fields = [
            "name", "kind", "segment", "channels", "title", "message", "holdout_percent",
            "attribution_days", "send_at", "repeat_days", "trigger", "trigger_days",
            "delay_days",
        ]  # fmt: skip
        widgets = {"message": forms.Textarea(attrs={"rows": 4, "cols": 70})}
        help_texts = {
            "title": gettext_lazy(
                "What the member sees first; WeChat shows at most 20 characters of it."
            ),  # fmt: skip
        }


class VariantFormSet(forms.BaseInlineFormSet):
    """The campaign and its variants are checked together, by the one rule that sending
    obeys (sending.check_campaign): the campaign's fields are in self.instance by now."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        variants = [
            form.instance
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        try:
            check_campaign(self.instance, variants)
        except CampaignError as exc:
            raise forms.ValidationError(str(exc), code="campaign") from None


def is_locked(obj) -> bool:
    """Started campaigns are not edited: members were assigned by their variants."""
    return obj is not None and obj.status != Campaign.Status.DRAFT


class VariantInline(admin.TabularInline):
    model = Variant
    formset = VariantFormSet
    fields = ["name", "weight", "coupon_template", "points", "message"]
    min_num = 1
    max_num = 4
    extra = 1
    verbose_name_plural = gettext_lazy("variants (1 to 4; each gets a share by its weight)")
    formfield_overrides = {
        models.CharField: {"widget": forms.TextInput(attrs={"size": 8})},
        models.TextField: {"widget": forms.Textarea(attrs={"rows": 2, "cols": 40})},
    }

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "coupon_template":
            kwargs["queryset"] = CouponTemplate.objects.filter(active=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_add_permission(self, request, obj=None):
        return not is_locked(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return not is_locked(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not is_locked(obj) and super().has_delete_permission(request, obj)


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignForm
    inlines = [VariantInline]
    list_display = ["name", "kind", "status", "audience_display", "channels_display",
                    "send_at", "reached_display", "report_link"]  # fmt: skip
    list_filter = ["kind", "status"]
    list_select_related = ["segment"]
    search_fields = ["name"]
    change_form_template = "admin/campaigns/campaign/change_form.html"
    fieldsets = [
        (None, {"fields": ["name", "kind", "segment", "channels", "title", "message"]}),
        (gettext_lazy("A/B test and holdout"), {"fields": ["holdout_percent", "attribution_days"]}),
        (
            gettext_lazy("Schedule (broadcasts)"),
            {"fields": ["send_at", "repeat_days"], "classes": ["campaign-schedule"]},
        ),
        (
            gettext_lazy("Trigger (automated journeys)"),
            {
                "fields": ["trigger", "trigger_days", "delay_days"],
                "classes": ["campaign-journey"],
                "description": gettext_lazy(
                    "Only for automated journeys: each member whose trigger fires gets the "
                    "message once, after the delay."
                ),
            },
        ),
    ]

    @admin.display(description=gettext_lazy("audience"))
    def audience_display(self, obj):
        if obj.segment_id:
            return obj.segment
        if obj.rules and obj.rules != {"all": []}:
            return _("Own rule")
        return _("Every member")

    @admin.display(description=gettext_lazy("channels"))
    def channels_display(self, obj):
        return "、".join(str(CHANNEL_LABELS.get(c, c)) for c in obj.channels or [])

    @admin.display(description=gettext_lazy("sent to"), ordering="reached_count")
    def reached_count_display(self, obj):
        return obj.reached_count or 0

    @admin.display(description=gettext_lazy("sent to"), ordering="reached_count")
    def reached_display(self, obj):
        url = reverse("admin:campaigns_campaignmember_changelist")
        return format_html('<a href="{}?campaign__id__exact={}">{}</a>', url, obj.pk,
                           obj.reached_count or 0)  # fmt: skip

    @admin.display(description=gettext_lazy("report"))
    def report_link(self, obj):
        if obj.status == Campaign.Status.DRAFT:
            return "—"
        url = reverse("admin:campaigns_campaign_report", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("Report"))

    def get_list_display(self, request):
        shown = list(self.list_display)
        if not request.user.has_perm("campaigns.view_campaignmember"):
            shown[shown.index("reached_display")] = "reached_count_display"
        if not may_see_report(request.user):
            shown.remove("report_link")
        return shown

    def get_queryset(self, request):
        # One count per campaign of the page, by the (campaign, outcome) index.
        sent = (
            CampaignMember.objects.filter(campaign=OuterRef("pk"), outcome=Outcome.SENT)
            .order_by()
            .values("campaign")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(reached_count=Subquery(sent, output_field=IntegerField()))
        )

    def get_fieldsets(self, request, obj=None):
        if not is_locked(obj):
            return self.fieldsets
        first = ["name", "kind", "status", "segment", "channels_display", "title", "message",
                 "started_at", "finished_at"]  # fmt: skip
        return [(None, {"fields": first}), *self.fieldsets[1:]]

    def get_readonly_fields(self, request, obj=None):
        if is_locked(obj):
            return [f for _name, opts in self.get_fieldsets(request, obj) for f in opts["fields"]]
        return []

    def has_delete_permission(self, request, obj=None):
        return not is_locked(obj) and super().has_delete_permission(request, obj)

    def get_formset_kwargs(self, request, obj, inline, prefix):
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if isinstance(inline, VariantInline):  # the new rows named A, B, … in turn
            taken = set(obj.variants.values_list("name", flat=True)) if obj.pk else set()
            kwargs["initial"] = [{"name": n} for n in "ABCD" if n not in taken]
        return kwargs

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/start/", view(self.start_view), name="campaigns_campaign_start"),
            path("<int:pk>/status/", view(self.status_view), name="campaigns_campaign_status"),
            path("<int:pk>/report/", view(self.report_view), name="campaigns_campaign_report"),
            *super().get_urls(),
        ]

    def add_view(self, request, form_url="", extra_context=None):
        # After the first save the merchant lands on the preview (the change page).
        extra = {"show_save": False, "show_save_and_add_another": False}
        return super().add_view(request, form_url, {**extra, **(extra_context or {})})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        campaign = self.get_object(request, object_id) if object_id.isdecimal() else None
        extra = {}
        if campaign is not None and self.has_view_permission(request, campaign):
            extra = self.panel_context(request, campaign)
            if is_locked(campaign):
                extra.update(show_save=False, show_save_and_continue=False,
                             show_save_and_add_another=False)  # fmt: skip
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def panel_context(self, request, campaign: Campaign) -> dict:
        draft = campaign.status == Campaign.Status.DRAFT
        return {
            "campaign": campaign,
            "preview": campaign_preview(campaign, request.user) if draft else None,
            "progress": None if draft else campaign_progress(campaign),
            "may_start": draft and campaign.kind == Campaign.Kind.BROADCAST
            and request.user.has_perm("campaigns.change_campaign"),
            "may_see_report": may_see_report(request.user),
        }  # fmt: skip

    # -- start, progress, report ---------------------------------------------------------

    def start_view(self, request, pk):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        campaign = get_object_or_404(Campaign, pk=pk)
        if not self.has_change_permission(request, campaign):
            raise PermissionDenied
        try:
            campaign = campaign_launch(campaign_id=campaign.pk)
        except CampaignError as exc:
            messages.error(request, str(exc))
        except RuleError as exc:  # the segment's rule was broken since it was saved
            messages.error(request, " ".join(exc.messages))
        else:
            at = timezone.localtime(campaign.send_at).strftime("%Y-%m-%d %H:%M")
            messages.success(request, _("Started: sending from %(at)s, in the background.")
                             % {"at": at})  # fmt: skip
        return redirect("admin:campaigns_campaign_change", campaign.pk)

    def status_view(self, request, pk):
        campaign = get_object_or_404(Campaign, pk=pk)
        if not self.has_view_permission(request, campaign):
            raise PermissionDenied
        progress = campaign_progress(campaign)
        if request.headers.get("HX-Request") and not progress["active"]:
            return HttpResponse(headers={"HX-Refresh": "true"})
        context = {"campaign": campaign, "progress": progress,
                   "may_see_report": may_see_report(request.user)}  # fmt: skip
        return TemplateResponse(request, "admin/campaigns/campaign/_status.html", context)

    def report_view(self, request, pk):
        campaign = get_object_or_404(Campaign.objects.select_related("segment"), pk=pk)
        if not self.has_view_permission(request, campaign) or not may_see_report(request.user):
            raise PermissionDenied
        report = campaign_report(campaign)
        if request.GET.get("format") == "json":
            response = JsonResponse(as_json(report), json_dumps_params={"ensure_ascii": False})
            response["Content-Disposition"] = f'attachment; filename="campaign-{pk}.json"'
            return response
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Report: %(name)s") % {"name": campaign.name},
            "campaign": campaign,
            "report": report,
            "groups": [_("Holdout"), *[v["name"] for v in report["variants"]]],
            "rows": report_table(report, campaign.channels or []),
            "summary": {
                "cost": money(report["cost"]),
                "incremental_revenue": money(report["incremental_revenue"]),
                "roi": "—" if report["roi"] is None else str(report["roi"]),
            },
            "too_small": any(not v["vs_holdout"].enough for v in report["variants"]),
        }
        return TemplateResponse(request, "admin/campaigns/campaign/report.html", context)


def may_see_report(user) -> bool:
    """The report counts every store's purchases and revenue: for those who see them all."""
    return sees_all_stores(user)


# --- the rules every campaign obeys, and who was reached ------------------------------------


@admin.register(MarketingSettings)
class MarketingSettingsAdmin(admin.ModelAdmin):
    fields = ["weekly_cap", "quiet_from", "quiet_until"]

    def changelist_view(self, request, extra_context=None):
        # One row: the list is the settings page itself.
        MarketingSettings.current()
        return redirect(reverse("admin:campaigns_marketingsettings_change", args=[1]))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CampaignMember)
class CampaignMemberAdmin(StoreScopedAdminMixin, ReadOnlyAdmin):
    store_field = "member__store"
    list_display = ["campaign", "member", "variant", "outcome", "occurrence", "sent_at"]
    list_filter = ["outcome", "campaign"]
    list_select_related = ["campaign", "member", "variant"]
    search_fields = ["member__member_no"]
    readonly_fields = [f.name for f in CampaignMember._meta.fields]
