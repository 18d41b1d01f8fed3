"""The job runs' filter by job, by label (loyalty/job_labels.py has the labels: the
model's own name for a run uses them too)."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from ..job_labels import COUNT_LABELS, JOB_LABELS, counts_summary, job_label

__all__ = ["COUNT_LABELS", "JOB_LABELS", "JobFilter", "counts_summary", "job_label"]


class JobFilter(admin.SimpleListFilter):
    """The list's filter by job, by label (every job there is, without reading the table)."""

    title = _("job")
    parameter_name = "job"

    def lookups(self, request, model_admin):
        return [(name, label) for name, label in JOB_LABELS.items()]

    def queryset(self, request, queryset):
        return queryset.filter(job=self.value()) if self.value() else queryset
