"""The segment screens in the admin: the rule editor with its live count and preview,
the saved list with counts "as of", and the actions (issue a coupon, add a tag, export)
that run in the background with a progress page."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from loyalty.imports.admin import export_response
from loyalty.imports.exports import may_see_contacts, xlsx_too_many
from loyalty.models import CouponTemplate
from members.models import Tag
from members.phones import mask_phone
from members.replica import from_replica

from ..models import Segment, SegmentRun
from .fields import FIELDS
from .rules import OP_LABELS, RuleError, check, describe
from .services import (
    count_for,
    scope_store,
    scoped_count,
    scoped_members,
    segment_recount,
    segment_run_start,
)

PREVIEW_ROWS = 20


class RulesWidget(forms.Textarea):
    """The rule's JSON, edited through the builder (static/js/segment_builder.js)."""

    template_name = "admin/campaigns/segment/rules_widget.html"

    def format_value(self, value):
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return value
        return json.dumps(value or {"all": []}, ensure_ascii=False)

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["widget"]["builder"] = builder_config()
        return context

    def render(self, name, value, attrs=None, renderer=None):
        # The project's templates (the default form renderer only sees Django's own).
        context = self.get_context(name, value, self.build_attrs(self.attrs, attrs))
        return mark_safe(render_to_string(self.template_name, context))  # noqa: S308


def builder_config() -> dict:
    """What the builder offers: every field with its label, kind, operators, choices."""
    return {
        "fields": [
            {
                "name": f.name,
                "label": str(f.label),
                "kind": f.kind,
                "ops": list(f.ops),
                "choices": [[v, str(label)] for v, label in f.choices()] if f.choices else None,
                "help": str(f.help),
                "low": f.low,
                "high": f.high,
            }
            for f in FIELDS.values()
        ],
        "ops": {op: str(label) for op, label in OP_LABELS.items()},
        "text": {
            "all": _("All of these"),
            "any": _("Any of these"),
            "add": _("+ Condition"),
            "add_group": _("+ Group"),
            "remove": _("Remove"),
            "yes": _("yes"),
            "no": _("no"),
            "counting": _("Counting…"),
            "members": _("members"),
            "empty": _("No member matches."),
            "failed": _("The count could not be taken; try again."),
        },
    }


class SegmentForm(forms.ModelForm):
    class Meta:
        model = Segment
        fields = ["name", "description", "rules", "tag"]
        widgets = {"rules": RulesWidget}

    def clean_rules(self):
        try:
            return check(self.cleaned_data["rules"])
        except RuleError as exc:
            raise forms.ValidationError(exc.messages) from None


class RunForm(forms.Form):
    template = forms.ModelChoiceField(
        CouponTemplate.objects.filter(active=True), label=gettext_lazy("Coupon"), required=False
    )
    tag = forms.ModelChoiceField(
        Tag.objects.filter(kind=Tag.Kind.MANUAL), label=gettext_lazy("Tag"), required=False
    )


class ExportForm(forms.Form):
    format = forms.ChoiceField(
        label=gettext_lazy("Format"), choices=[("csv", "CSV"), ("xlsx", "Excel (XLSX)")]
    )


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentForm
    search_fields = ["name", "description"]
    readonly_fields = ["counted_at"]
    autocomplete_fields = []
    actions = ["recount"]
    change_form_template = "admin/campaigns/segment/change_form.html"

    def get_list_display(self, request):
        """The count column shows the viewer's scope (a manager: their store's), worked
        out once per page, not per row."""
        store = scope_store(request.user)

        @admin.display(description=gettext_lazy("members"))
        def count_display(obj):
            count = count_for(obj, store)
            return "—" if count is None else count

        return ["name", count_display, "counted_at", "rule_display", "tag"]

    @admin.display(description=gettext_lazy("rule"))
    def rule_display(self, obj):
        text = describe(obj.rules)
        return text if len(text) <= 80 else text[:79] + "…"

    def get_fields(self, request, obj=None):
        fields = ["name", "description", "rules", "tag"]
        return fields + ["counted_at"] if obj else fields

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        segment_recount(obj)

    @admin.action(description=gettext_lazy("Count the selected segments again"))
    def recount(self, request, queryset):
        for segment in queryset:
            segment_recount(segment)
        self.message_user(request, _("Counted %(n)d segments.") % {"n": queryset.count()})

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("preview/", view(self.preview_view), name="campaigns_segment_preview"),
            path("<int:pk>/run/<str:kind>/", view(self.run_view), name="campaigns_segment_run"),
            path("<int:pk>/export/", view(self.export_view), name="campaigns_segment_export"),
            path("runs/<int:pk>/", view(self.run_status_view), name="campaigns_segmentrun_status"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = {"runs": [], "run_form": RunForm(), "export_form": ExportForm()}
        if object_id and object_id.isdecimal():
            extra["runs"] = SegmentRun.objects.filter(segment_id=object_id).select_related(
                "coupon_template", "tag", "actor"
            )[:10]
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    # -- the editor's live count -----------------------------------------------------

    def preview_view(self, request):
        """POST {"rules": ...}: the count within the viewer's scope and 20 members."""
        if request.method != "POST" or not self.has_view_permission(request):
            raise PermissionDenied
        try:
            tree = json.loads(request.POST.get("rules") or request.body or "{}")
            if isinstance(tree, dict) and "rules" in tree:
                tree = tree["rules"]
            tree = check(tree)
        except ValueError:
            return JsonResponse({"error": _("The rule is not JSON.")}, status=400)
        except RuleError as exc:
            return JsonResponse({"error": " ".join(exc.messages)}, status=400)
        members = scoped_members(tree, request.user)
        with from_replica():  # the live count, asked at each edit: the replica's work
            rows = list(
                members.select_related("card__tier", "store").order_by("-pk")[:PREVIEW_ROWS]
            )
            count = scoped_count(tree, request.user)
        return JsonResponse(
            {
                "count": count,
                "rule": describe(tree),
                "as_of": timezone.localtime().strftime("%H:%M:%S"),
                "members": [
                    {
                        "member_no": m.member_no,
                        "name": m.name or "—",
                        "phone": mask_phone(m.phone) if m.phone else "",
                        "tier": str(getattr(m.card, "tier", None) or "—"),
                        "store": m.store.name if m.store else "—",
                        "url": reverse("admin:members_member_change", args=[m.pk]),
                    }
                    for m in rows
                ],
            }
        )

    # -- actions over the members ----------------------------------------------------

    def run_view(self, request, pk, kind):
        segment = get_object_or_404(Segment, pk=pk)
        if request.method != "POST" or kind not in SegmentRun.Kind.values:
            raise PermissionDenied
        form = RunForm(request.POST)
        form.is_valid()
        data = form.cleaned_data
        if kind == SegmentRun.Kind.COUPON:
            if not request.user.has_perm("loyalty.issue_coupon"):
                raise PermissionDenied
            if data.get("template") is None:
                messages.error(request, _("Choose the coupon to issue."))
                return redirect("admin:campaigns_segment_change", pk)
        else:
            if not request.user.has_perm("members.change_member"):
                raise PermissionDenied
            if data.get("tag") is None:
                messages.error(request, _("Choose the tag to add."))
                return redirect("admin:campaigns_segment_change", pk)
        run = segment_run_start(
            segment, kind=kind, actor=request.user, template=data["template"], tag=data["tag"]
        )
        return redirect("admin:campaigns_segmentrun_status", run.pk)

    def run_status_view(self, request, pk):
        run = get_object_or_404(SegmentRun.objects.select_related("segment"), pk=pk)
        if not self.has_view_permission(request, run.segment):
            raise PermissionDenied
        active = run.status in (SegmentRun.Status.QUEUED, SegmentRun.Status.RUNNING)
        if request.headers.get("HX-Request") and not active:
            return HttpResponse(headers={"HX-Refresh": "true"})
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Segment action"),
            "run": run,
            "active": active,
            "reasons": sorted((run.result.get("reasons") or {}).items(), key=lambda r: -r[1]),
        }
        return TemplateResponse(request, "admin/campaigns/segment/run_status.html", context)

    def export_view(self, request, pk):
        segment = get_object_or_404(Segment, pk=pk)
        if request.method != "POST" or not request.user.has_perm("members.export_member"):
            raise PermissionDenied
        form = ExportForm(request.POST)
        if not form.is_valid():
            return redirect("admin:campaigns_segment_change", pk)
        fmt = form.cleaned_data["format"]
        queryset = scoped_members(segment.rules, request.user)
        too_many = xlsx_too_many(queryset) if fmt == "xlsx" else None
        if too_many:
            messages.error(request, too_many)
            return redirect("admin:campaigns_segment_change", pk)
        what = _("segment: %(name)s") % {"name": segment.name}
        full = may_see_contacts(request.user)
        return export_response(queryset, fmt=fmt, actor=request.user, what=what, full=full)


@admin.register(SegmentRun)
class SegmentRunAdmin(admin.ModelAdmin):
    list_display = ["created_at", "segment", "kind", "target", "status", "progress", "actor"]
    list_filter = ["kind", "status"]
    list_select_related = ["segment", "coupon_template", "tag", "actor"]

    @admin.display(description=gettext_lazy("coupon or tag"))
    def target(self, obj):
        return obj.coupon_template or obj.tag

    @admin.display(description=gettext_lazy("progress"))
    def progress(self, obj):
        url = reverse("admin:campaigns_segmentrun_status", args=[obj.pk])
        return format_html('<a href="{}">{} / {}</a>', url, obj.done, obj.total)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
