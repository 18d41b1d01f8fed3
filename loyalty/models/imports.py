"""Imports of members (and their history) from a merchant's old system.

An ImportJob is one uploaded file going through: column mapping -> dry run (a
preview of the counts) -> the real run, in chunks, each its own transaction, so a
run killed half-way leaves whole members only and can be resumed or run again.
The writer is loyalty/imports/; these rows are its record and its memory:

- ImportJob: who, when, which file, the mapping, progress, counts, the error file.
- ImportRowError: one bad row (line, columns, messages, the original cells), kept
  with the chunk that found it, so a resumed run neither loses nor repeats them.
- OpeningBalance: what the old system brought for one member (points, spend,
  purchases). Importing the same figures again changes nothing; a corrected figure
  changes the card by the difference only.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import Member, Store

from .core import MONEY


class ImportJob(models.Model):
    class Kind(models.TextChoices):
        MEMBERS = "members", _("Members")
        PURCHASES = "purchases", _("Historic purchases")

    class Status(models.TextChoices):
        UPLOADED = "uploaded", _("Uploaded: check the columns")
        QUEUED = "queued", _("Waiting for a worker")
        RUNNING = "running", _("Running")
        PREVIEWED = "previewed", _("Dry run done: confirm to import")
        DONE = "done", _("Imported")
        FAILED = "failed", _("Failed")

    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.MEMBERS)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.UPLOADED
    )
    # The run queued or running now (or last): a dry run writes nothing but the report.
    dry_run = models.BooleanField(_("dry run"), default=True)
    file = models.FileField(_("file"), upload_to="imports/%Y/%m/", max_length=255)
    file_name = models.CharField(_("file name"), max_length=255)
    file_size = models.BigIntegerField(_("size (bytes)"), default=0)
    file_sha256 = models.CharField(max_length=64, blank=True, editable=False)
    # What the reader found: csv / xlsx, the text encoding and delimiter of a CSV.
    file_format = models.CharField(_("format"), max_length=8, blank=True)
    encoding = models.CharField(_("encoding"), max_length=20, blank=True)
    delimiter = models.CharField(_("delimiter"), max_length=2, blank=True)
    header_line = models.PositiveIntegerField(_("header line"), default=1)
    headers = models.JSONField(_("columns in the file"), default=list, blank=True)
    # {column index as text: field key, or "" to ignore the column}
    mapping = models.JSONField(_("column mapping"), default=dict, blank=True)
    store = models.ForeignKey(
        Store,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("default store"),
        help_text=_("For rows without a store of their own (new members only)."),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    created_at = models.DateTimeField(_("uploaded at"), default=timezone.now)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # Written with every chunk: a running job whose heartbeat is old has died. The
    # claim token of the run that owns it: a run that lost its claim stops.
    heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)
    claim = models.CharField(max_length=32, blank=True, editable=False)
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    # Data rows fully handled (and, in a real run, committed): where a resume starts.
    rows_done = models.PositiveIntegerField(_("rows done"), default=0)
    created = models.PositiveIntegerField(_("created"), default=0)
    updated = models.PositiveIntegerField(_("updated"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    errors = models.PositiveIntegerField(_("rows with errors"), default=0)
    # The dry run's counts, kept beside the real run's: {"created": n, ...}.
    preview = models.JSONField(_("dry run"), default=dict, blank=True)
    error_file = models.FileField(_("error file"), upload_to="imports/%Y/%m/", blank=True)
    # Why the file itself could not be used, or the crash of a run.
    message = models.TextField(_("message"), blank=True)
    # The other system whose export this is (imports/presets.py), "" when none is known.
    preset = models.CharField(_("exported from"), max_length=20, blank=True)
    # The language of the one who queued the run: its messages are written in it.
    language = models.CharField(_("language"), max_length=10, blank=True)
    # The first data rows' cells, shown under each column in the mapping step.
    samples = models.JSONField(_("sample rows"), default=list, blank=True)
    # What the last run found beside the counts: the tier texts and how each was
    # matched, totals rows skipped, referrers linked (imports/report.py says them).
    notes = models.JSONField(_("notes"), default=dict, blank=True)

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at", "-id"]
        indexes = [
            # The task's claim of stale running jobs; the history list by status.
            models.Index(fields=["status", "heartbeat_at"], name="importjob_status_beat"),
        ]

    def __str__(self):
        return f"#{self.pk} {self.file_name}"

    @property
    def seconds(self) -> float | None:
        if not self.started_at or not self.finished_at:
            return None
        return round((self.finished_at - self.started_at).total_seconds(), 1)

    @property
    def percent(self) -> int:
        if not self.rows_total:
            return 100 if self.status in (self.Status.DONE, self.Status.PREVIEWED) else 0
        return min(100, self.rows_done * 100 // self.rows_total)

    def counts(self) -> dict:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "errors": self.errors,
        }


class ImportRowError(models.Model):
    """One row the import refused: where, why, and the row as it was in the file."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    dry_run = models.BooleanField(default=False)
    line = models.PositiveIntegerField(_("line"))
    # [[column header, message], ...]: a row can be wrong in several columns.
    problems = models.JSONField(_("problems"), default=list)
    # The row's cells as read (text, numbers), so the error file gives them back.
    cells = models.JSONField(default=list)

    class Meta:
        verbose_name = _("import error")
        verbose_name_plural = _("import errors")
        indexes = [
            # The report's first errors and the error file, in file order.
            models.Index(fields=["job", "dry_run", "line"], name="importerror_job_line"),
        ]

    def __str__(self):
        return f"{self.job_id}:{self.line}"


class OpeningBalance(models.Model):
    """What a member brought from the old system, as last imported.

    The import compares the file with this row, so the same figures twice change
    nothing. Points came as one ledger lot (key ``import:opening:<member id>``);
    spend and purchases are part of the card's cached counters: the card carries
    ``total_spent`` (or, when the member file had none, ``purchases_spent`` from an
    import of historic purchases) on top of what was bought since.
    """

    member = models.OneToOneField(
        Member,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="opening_balance",
        verbose_name=_("member"),
    )
    job = models.ForeignKey(
        ImportJob, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # None: the files did not say.
    points = models.IntegerField(_("opening points"), null=True, blank=True)
    total_spent = models.DecimalField(_("spent before"), **MONEY, null=True, blank=True)
    purchase_count = models.PositiveIntegerField(_("purchases before"), null=True, blank=True)
    purchases_spent = models.DecimalField(
        _("imported purchases, amount"), **MONEY, null=True, blank=True
    )
    purchases_count = models.PositiveIntegerField(
        _("imported purchases, count"), null=True, blank=True
    )
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("opening balance")
        verbose_name_plural = _("opening balances")

    def __str__(self):
        return str(self.member_id)


class ExportJob(models.Model):
    """A member export too big to stream in a request: built by a task, then downloaded.

    Small exports stream straight from the member list (loyalty/imports/exports.py); either
    way the audit trail records who exported what. The file holds personal data:
    only its creator (or an owner) downloads it.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Waiting for a worker")
        RUNNING = "running", _("Running")
        DONE = "done", _("Ready")
        FAILED = "failed", _("Failed")

    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.QUEUED
    )
    file_format = models.CharField(_("format"), max_length=4)
    what = models.CharField(_("members"), max_length=255)
    full_contact = models.BooleanField(_("whole phone numbers"), default=False)
    # The member queryset, pickled (Django's documented way to keep a query): written
    # by the admin view that made the job, read by the task only.
    query = models.BinaryField(editable=False)
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    rows_done = models.PositiveIntegerField(_("rows done"), default=0)
    file = models.FileField(_("file"), upload_to="exports/%Y/%m/", blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    created_at = models.DateTimeField(_("requested at"), default=timezone.now)
    # As an import's: while queued, when its task was last queued (None: created_at);
    # while running, the task's last sign of life (the sweep restarts a silent one).
    heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    message = models.TextField(_("message"), blank=True)

    class Meta:
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"#{self.pk} {self.what}"


class ImportTierAlias(models.Model):
    """The owner's choice: a tier text of their old system's files means this tier of ours.

    Made in an import's mapping step, used by every later import (imports/matching.py)."""

    value = models.CharField(_("text in the file"), max_length=100, unique=True)
    tier = models.ForeignKey(
        "loyalty.Tier", on_delete=models.CASCADE, related_name="+", verbose_name=_("tier")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("tier name of the old system")
        verbose_name_plural = _("tier names of the old system")

    def __str__(self):
        return f"{self.value} → {self.tier_id}"
