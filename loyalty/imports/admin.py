"""Admin screens of the import (history, upload, mapping, dry run, confirm, progress)
and the export behind the member list's Export button.

Registered from loyalty/admin/transfers.py. The member list's Import and Export buttons
(django-import-export's, on MemberAdmin) call member_import_view and
member_export_view through members.admin.MEMBER_TRANSFER (filled in LoyaltyConfig.ready).
"""

from urllib.parse import unquote_plus

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from members.admin import LargeTablePaginator
from members.selectors import sees_all_stores

from ..imports import exports
from ..models import ExportJob, ImportJob, Tier
from . import disk, presets, report, runner
from .forms import ExportForm, MappingForm, UploadForm
from .matching import tier_choice_save

ACTIVE = (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING)


class ImportJobAdmin(admin.ModelAdmin):
    """History of imports; "add" is the upload, a job's page is the whole workflow."""

    list_display = [
        "created_at", "file_name", "kind", "status", "created_by", "rows_total", "created",
        "updated", "unchanged", "errors", "seconds_display", "error_file_link",
    ]  # fmt: skip
    list_filter = ["status", "kind"]
    list_select_related = ["created_by"]
    search_fields = ["file_name"]
    paginator = LargeTablePaginator
    show_full_result_count = False

    @admin.display(description=gettext_lazy("seconds"))
    def seconds_display(self, obj):
        return obj.seconds if obj.seconds is not None else "–"

    @admin.display(description=gettext_lazy("error file"))
    def error_file_link(self, obj):
        if not obj.error_file:
            return "–"
        url = reverse("admin:loyalty_importjob_errors", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("download"))

    def has_change_permission(self, request, obj=None):
        return False  # jobs change by their workflow's buttons only

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("add/", view(self.upload_view), name="loyalty_importjob_add"),
            path("<int:pk>/change/", view(self.job_view), name="loyalty_importjob_change"),
            path("<int:pk>/run/", view(self.run_view), name="loyalty_importjob_run"),
            path("<int:pk>/progress/", view(self.progress_view), name="loyalty_importjob_progress"),
            path("<int:pk>/errors/", view(self.errors_view), name="loyalty_importjob_errors"),
            *super().get_urls(),
        ]

    def _job(self, request, pk, *, change=False) -> ImportJob:
        """The job, or 404; PermissionDenied unless the user may see (or run) imports."""
        allowed = self.has_add_permission(request) if change else self.has_view_permission(request)
        if not allowed:
            raise PermissionDenied
        return get_object_or_404(ImportJob, pk=pk)

    def _context(self, request, **extra):
        return {**self.admin_site.each_context(request), "opts": self.model._meta, **extra}

    def upload_view(self, request):
        """The upload; a disk that cannot take the file (disk.py) is said on the form."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                job = runner.import_job_create(
                    file=upload,
                    file_name=upload.name,
                    actor=request.user,
                    store=form.cleaned_data["store"],
                    kind=form.cleaned_data["kind"],
                    preset=form.cleaned_data["preset"],
                )
            except disk.FilesNotWritable as exc:
                form.add_error("file", exc.message)
            else:
                return redirect("admin:loyalty_importjob_change", job.pk)
        context = self._context(request, title=_("Import members"), form=form)
        return TemplateResponse(request, "admin/loyalty/importjob/upload.html", context)

    def job_view(self, request, pk):
        job = self._job(request, pk)
        dry = job.status in (ImportJob.Status.UPLOADED, ImportJob.Status.PREVIEWED) or job.dry_run
        context = self._context(
            request,
            title=str(job),
            job=job,
            original=job,
            form=MappingForm(job=job),
            may_run=self.has_add_permission(request),
            active=job.status in ACTIVE,
            stale=runner.is_stale(job),
            report_shown=job.status in (ImportJob.Status.PREVIEWED, ImportJob.Status.DONE),
            counts=job.preview if job.dry_run else job.counts(),
            first_errors=report.first_errors(job, dry_run=job.dry_run),
            describe=report.describe(job),
            shows_dry=dry,
            preset=presets.preset_for(job.preset),
            notes=report.notes_lines(job) if job.status != ImportJob.Status.FAILED else [],
        )
        return TemplateResponse(request, "admin/loyalty/importjob/job.html", context)

    def run_view(self, request, pk):
        """POST: save the mapping and queue a dry run, or confirm the import, or resume."""
        job = self._job(request, pk, change=True)
        if request.method != "POST":
            return HttpResponse(status=405, headers={"Allow": "POST"})
        what = request.POST.get("run")
        if what == "dry":
            form = MappingForm(request.POST, job=job)
            if not form.is_valid():
                context = self._context(
                    request, title=str(job), job=job, original=job, form=form, may_run=True,
                    describe=report.describe(job), shows_dry=True,
                )  # fmt: skip
                return TemplateResponse(request, "admin/loyalty/importjob/job.html", context)
            runner.import_job_set_mapping(job=job, mapping=form.cleaned_data["mapping"])
            tiers = Tier.objects.in_bulk()
            for text, tier_id in form.cleaned_data["tiers"].items():
                chosen = tiers.get(int(tier_id)) if tier_id else None
                tier_choice_save(value=text, tier=chosen, actor=request.user)
            queued = runner.import_job_queue(job=job, dry_run=True)
        elif what in ("import", "resume"):
            queued = runner.import_job_queue(job=job, dry_run=False)
        else:
            raise Http404
        if not queued:
            self.message_user(
                request, _("This import is already running or done."), messages.WARNING
            )
        return redirect("admin:loyalty_importjob_change", job.pk)

    def progress_view(self, request, pk):
        job = self._job(request, pk)
        response = TemplateResponse(
            request,
            "admin/loyalty/importjob/_progress.html",
            {"job": job, "active": job.status in ACTIVE, "stale": runner.is_stale(job)},
        )
        if job.status not in ACTIVE and request.headers.get("HX-Request"):
            response["HX-Refresh"] = "true"  # done: show the whole report
        return response

    def errors_view(self, request, pk):
        job = self._job(request, pk)
        if not job.error_file:
            raise Http404
        name = job.error_file.name.rsplit("/", 1)[-1]
        return FileResponse(job.error_file.open("rb"), as_attachment=True, filename=name)


class ExportJobAdmin(admin.ModelAdmin):
    """Exports built in the background: a page per export, with the file when ready."""

    list_display = [
        "created_at", "what", "file_format", "status", "rows_total", "created_by",
        "finished_at", "download_link",
    ]  # fmt: skip
    list_filter = ["status", "file_format"]
    list_select_related = ["created_by"]

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if sees_all_stores(request.user) else qs.filter(created_by=request.user)

    @admin.display(description=gettext_lazy("file"))
    def download_link(self, obj):
        if obj.status != ExportJob.Status.DONE:
            return "–"
        url = reverse("admin:loyalty_exportjob_download", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("download"))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/status/", view(self.status_view), name="loyalty_exportjob_status"),
            path("<int:pk>/download/", view(self.download_view), name="loyalty_exportjob_download"),
            *super().get_urls(),
        ]

    def _job(self, request, pk) -> ExportJob:
        """Its creator's (or an owner's) only: the file holds members' personal data."""
        job = get_object_or_404(ExportJob, pk=pk)
        if job.created_by_id != request.user.pk and not sees_all_stores(request.user):
            raise PermissionDenied
        return job

    def status_view(self, request, pk):
        job = self._job(request, pk)
        active = job.status in (ExportJob.Status.QUEUED, ExportJob.Status.RUNNING)
        if request.headers.get("HX-Request") and not active:
            return HttpResponse(headers={"HX-Refresh": "true"})
        context = self._context(request, job=job, active=active)
        return TemplateResponse(request, "admin/loyalty/exportjob_status.html", context)

    def _context(self, request, **extra):
        title = _("Export members")
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            **extra,
        }

    def download_view(self, request, pk):
        job = self._job(request, pk)
        if job.status != ExportJob.Status.DONE or not job.file:
            raise Http404
        name = job.file.name.rsplit("/", 1)[-1]
        return FileResponse(job.file.open("rb"), as_attachment=True, filename=name)


# --- the member list's Import and Export buttons -----------------------------------------


def may_import(request) -> bool:
    return request.user.has_perm("loyalty.add_importjob")


def member_import_view(request, model_admin):
    """The Import button: the upload screen of the import."""
    if not may_import(request):
        raise PermissionDenied
    return redirect("admin:loyalty_importjob_add")


def member_export_view(request, model_admin):
    """The Export button: the members of the list as filtered (or of a tag), streamed."""
    if not model_admin.has_export_permission(request):
        raise PermissionDenied
    form = ExportForm(request.POST or None)
    full = exports.may_see_contacts(request.user)
    if request.method == "POST" and form.is_valid():
        queryset = model_admin.get_export_queryset(request)
        tag = form.cleaned_data["tag"]
        query = unquote_plus(request.GET.urlencode())  # as typed: its phones get masked
        what = _("filter: %(query)s") % {"query": query or _("all members")}
        if tag is not None:
            queryset = queryset.filter(tags=tag)
            what += " · " + _("tag: %(tag)s") % {"tag": tag.name}
        fmt = form.cleaned_data["format"]
        problem = exports.xlsx_too_many(queryset) if fmt == "xlsx" else None
        if problem is None:
            try:
                return export_response(queryset, fmt=fmt, actor=request.user, what=what, full=full)
            except OSError as exc:  # the .xlsx is made in a temporary file: the disk is full
                if (problem := disk.write_fault(exc)) is None:
                    raise
        form.add_error("format", problem)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": _("Export members"),
        "form": form,
        "full": full,
        "query": request.GET.urlencode(),
    }
    return TemplateResponse(request, "admin/loyalty/member_export.html", context)


def export_response(queryset, *, fmt: str, actor, what: str, full: bool):
    """Stream a small export now; queue a big one (a request would outlive the timeout)."""
    rows_total = queryset.count()
    if rows_total > exports.INLINE_MAX_ROWS:
        job = exports.export_job_create(
            queryset=queryset, fmt=fmt, actor=actor, what=what, full_contact=full
        )
        return redirect("admin:loyalty_exportjob_status", job.pk)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    header = exports.headers(full_contact=full)
    rows = exports.member_rows(queryset, full_contact=full)
    counter = [0]
    if fmt == "xlsx":
        # Made first (a full disk raises here: nothing exported, nothing audited), then
        # audited before its first byte leaves.
        out = exports.xlsx_file(rows, header, counter)
        exports.export_audit(actor=actor, what=what, fmt=fmt, full_contact=full, rows=rows_total)
        return FileResponse(out, as_attachment=True, filename=f"members-{stamp}.xlsx")
    exports.export_audit(actor=actor, what=what, fmt=fmt, full_contact=full, rows=rows_total)
    response = StreamingHttpResponse(
        exports.csv_stream(rows, header, counter), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="members-{stamp}.csv"'
    return response
