"""Member export: CSV (UTF-8 with BOM, so Excel shows the Chinese) or XLSX, streamed.

Members are read in keyset batches of BATCH (id > last id), each with its card and
tags, and written out as they come: a million members never sit in memory. The
batches come from the read replica when there is one (members.replica). The
columns are the import's own (an export imports back). Phones are masked unless
the staff member is an owner, who also gets e-mail and address; every export is
written to the audit trail (who, which members, how many, masked or not) before
the first byte leaves.
"""

import codecs
import csv
import io
import logging
import pickle
import re
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from contextlib import suppress
from time import monotonic

from django.core.files import File
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import AuditEntry, Member
from members.phones import mask_phone, national_digits
from members.queue import enqueue
from members.replica import from_replica
from members.selectors import sees_all_stores, staff_profile_of

from . import disk
from .report import safe_text, xlsx_cell

log = logging.getLogger(__name__)
BATCH = 2000
FLUSH_BYTES = 1 << 16
XLSX_MAX_ROWS = 1_048_575  # Excel's sheet limit, less the header


def _columns(full_contact: bool) -> list[tuple[str, str]]:
    columns = [
        ("member_no", _("Member number")),
        ("phone", _("Mobile number")),
        ("name", _("Name")),
        ("gender", _("Gender")),
        ("birthday", _("Birthday")),
    ]
    if full_contact:
        columns += [("email", _("E-mail")), ("addresses", _("Address"))]
    columns += [
        ("tier", _("Tier")),
        ("points", _("Points balance")),
        ("stored_principal", _("Stored value paid in")),
        ("stored_bonus", _("Stored value bonus")),
        ("total_spent", _("Total spent")),
        ("purchase_count", _("Number of purchases")),
        ("last_purchase_at", _("Last purchase")),
        ("created_at", _("Registered at")),
        ("store", _("Store")),
        ("tags", _("Tags")),
        ("marketing_consent", _("Marketing consent")),
        ("source", _("Source")),
        ("note", _("Note")),
    ]
    return columns


_VALUES = {
    "member_no": "member_no",
    "phone": "phone",
    "name": "name",
    "gender": "gender",
    "birthday": "birthday",
    "email": "email",
    "addresses": "addresses",
    "tier": "card__tier__name",
    "points": "card__points_balance",
    "stored_principal": "card__stored_principal",
    "stored_bonus": "card__stored_bonus",
    "total_spent": "card__total_spent",
    "purchase_count": "card__purchase_count",
    "last_purchase_at": "card__last_purchase_at",
    "created_at": "created_at",
    "store": "store__code",
    "source": "source",
    "note": "note",
    "marketing_consent": "marketing_consent",
}


def may_see_contacts(user) -> bool:
    """Owners see whole phone numbers (and e-mail, addresses) in exports; others masked."""
    return sees_all_stores(user)


def _masked(e164: str) -> str:
    if not e164:
        return ""
    if e164.startswith("+86") and len(e164) == 14:
        digits = e164[3:]
        return f"{digits[:3]}****{digits[-4:]}"
    return mask_phone(e164)


def _digits(e164: str) -> str:
    if not e164:
        return ""
    return e164[3:] if e164.startswith("+86") else national_digits(e164)


def _local(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def headers(*, full_contact: bool) -> list[str]:
    return [str(label) for _key, label in _columns(full_contact)]


def member_rows(queryset: QuerySet, *, full_contact: bool) -> Iterator[list]:
    """The export's rows, in member id order, one batch of BATCH members at a time."""
    keys = [key for key, _label in _columns(full_contact)]
    wanted = ["pk", *(_VALUES[k] for k in keys if k in _VALUES)]
    position = {name: i for i, name in enumerate(wanted)}
    genders = dict(Member.Gender.choices)
    sources = dict(Member.Source.choices)
    answers = {True: _("yes"), False: _("no")}  # 是 / 否: the import reads them back
    base = queryset.order_by("pk").values_list(*wanted)
    through = Member.tags.through
    last = 0
    while True:
        # Each batch from the replica when there is one (members.replica), the switch on
        # only while it is read: never across a yield, where the consumer runs.
        with from_replica():
            batch = list(base.filter(pk__gt=last)[:BATCH])
            tags = defaultdict(list)
            for member_id, name in (
                through.objects.filter(member_id__in=[b[0] for b in batch])
                .order_by("tag__name")
                .values_list("member_id", "tag__name")
            ):
                tags[member_id].append(name)
        if not batch:
            return
        last = batch[-1][0]
        for values in batch:
            row = []
            for key in keys:
                if key == "tags":
                    row.append(",".join(tags.get(values[0], ())))
                    continue
                value = values[position[_VALUES[key]]]
                if key == "phone":
                    value = _digits(value) if full_contact else _masked(value)
                elif key == "gender":
                    value = str(genders.get(value, "")) if value else ""
                elif key == "source":
                    value = str(sources.get(value, value))
                elif key == "marketing_consent":
                    value = answers[bool(value)]
                elif key in ("created_at", "last_purchase_at"):
                    value = _local(value)
                elif value is None:
                    value = ""
                row.append(value)
            yield row


def csv_stream(rows: Iterator[list], header: list[str], counter: list) -> Iterator[bytes]:
    """UTF-8 with BOM, CRLF: what Excel on Chinese Windows opens without garbling."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    yield codecs.BOM_UTF8
    writer.writerow(header)
    for row in rows:
        writer.writerow([safe_text(v) for v in row])
        counter[0] += 1
        if buffer.tell() >= FLUSH_BYTES:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def xlsx_too_many(queryset: QuerySet) -> str | None:
    """Why these members cannot go into one .xlsx (an Excel sheet holds 1,048,576 rows),
    or None when they can: said before anything is written, never cut off silently."""
    count = queryset.count()
    if count <= XLSX_MAX_ROWS:
        return None
    return _(
        "%(n)s members are more than an Excel sheet holds (%(max)s rows): export them as "
        "CSV, or narrow the list with a filter or a tag."
    ) % {"n": f"{count:,}", "max": f"{XLSX_MAX_ROWS:,}"}


def xlsx_file(rows: Iterator[list], header: list[str], counter: list):
    """An .xlsx in a temporary file (openpyxl's write-only mode streams rows to disk).

    A full temporary directory raises its OSError with no temporary file left.
    """
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=_("Members")[:31])
    out = tempfile.TemporaryFile()  # noqa: SIM115 - the response closes (and so removes) it
    try:
        sheet.append(header)
        for row in rows:
            if counter[0] >= XLSX_MAX_ROWS:
                break
            sheet.append([xlsx_cell(sheet, v) for v in row])
            counter[0] += 1
        disk.save_book(book, out)
    except BaseException:
        disk.discard_sheet_file(sheet)
        with suppress(OSError):  # flushing on a full disk fails again; the file is closed
            out.close()
        raise
    out.seek(0)
    return out


# A phone number (or any long number) typed into the list's search, as the export's
# description carries it: digits with spaces, dashes or a leading +.
_LONG_NUMBER = re.compile(r"\+?\d[\d \-]{5,}\d")


def mask_numbers(text: str) -> str:
    """`text` with every number of 7 digits or more shown by its last 4 only: the audit
    trail and the job list say what was exported without keeping a searched phone."""

    def mask(found: re.Match) -> str:
        digits = re.sub(r"\D", "", found[0])
        return found[0] if len(digits) < 7 else "*" * (len(digits) - 4) + digits[-4:]

    return _LONG_NUMBER.sub(mask, text)


def export_audit(*, actor, what: str, fmt: str, full_contact: bool, rows: int) -> AuditEntry:
    """The audit row of an export, written before the first byte leaves."""
    what = mask_numbers(what)
    profile = staff_profile_of(actor) if actor is not None else None
    return AuditEntry.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        action="member.export",
        object_type=Member._meta.label_lower,
        object_id="*",
        object_repr=what[:200],
        changes={"format": fmt, "phones": "full" if full_contact else "masked", "rows": rows},
        store=profile.store if profile else None,
    )


# --- big exports: built by a task (a request would outlive the server's timeout) -----------

INLINE_MAX_ROWS = 50_000
PROGRESS_EVERY = 10_000
BEAT_SECONDS = 30  # the heartbeat of a running export (requeue.py: silent 10 min = dead)


def export_job_create(*, queryset: QuerySet, fmt: str, actor, what: str, full_contact: bool):
    """Queue an export of `queryset`; the audit row is written now, with its size."""
    from loyalty.models import ExportJob

    rows = queryset.count()
    job = ExportJob.objects.create(
        file_format=fmt,
        what=mask_numbers(what)[:255],
        full_contact=full_contact,
        query=pickle.dumps(queryset.query),
        rows_total=rows,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    export_audit(actor=actor, what=what, fmt=fmt, full_contact=full_contact, rows=rows)
    transaction.on_commit(lambda: enqueue_export(job.pk))
    return job


def enqueue_export(job_id: int) -> bool:
    """The task of a queued export; False (logged) when the broker is down: the job stays
    queued, and the sweep (requeue.py) queues it again. Twice is harmless: the claim."""
    return enqueue("loyalty.imports.exports.export_job_task", job_id, task_name=f"export-{job_id}")


def export_job_task(job_id: int) -> None:
    """django-q2 task: build the file of a queued export (claimed: runs once).

    A full or unwritable disk fails the job with a sentence saying so (disk.write_fault),
    with no part of the file left, neither among the files nor in the temporary
    directory; the export asked again once the disk is fixed is made whole.
    """
    from loyalty.models import ExportJob

    if not ExportJob.objects.filter(pk=job_id, status=ExportJob.Status.QUEUED).update(
        status=ExportJob.Status.RUNNING, heartbeat_at=timezone.now()
    ):
        return
    job = ExportJob.objects.get(pk=job_id)
    try:
        queryset = Member.objects.all()
        queryset.query = pickle.loads(job.query)  # noqa: S301 - pickled by us, from our DB
        counter = [0]
        rows = _progress(job, member_rows(queryset, full_contact=job.full_contact), counter)
        header = headers(full_contact=job.full_contact)
        stamp = timezone.localtime(job.created_at).strftime("%Y%m%d-%H%M")
        name = f"members-{stamp}.{job.file_format}"
        if job.file_format == "xlsx":
            with xlsx_file(rows, header, counter) as out:
                disk.save_file(job.file, name, File(out, name=name))
        else:
            with tempfile.TemporaryFile() as out:
                for chunk in csv_stream(rows, header, counter):
                    out.write(chunk)
                out.seek(0)
                disk.save_file(job.file, name, File(out, name=name))
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportJob.Status.DONE,
            file=job.file.name,
            rows_done=counter[0],
            finished_at=timezone.now(),
        )
    except Exception as exc:
        message = disk.write_fault(exc)
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportJob.Status.FAILED,
            message=message or str(exc),
            finished_at=timezone.now(),
        )
        if message is None:
            raise
        log.warning("export %s: the file could not be written: %s", job_id, exc)


def _progress(job, rows: Iterator[list], counter: list) -> Iterator[list]:
    """The rows, with the job's progress and heartbeat saved every PROGRESS_EVERY rows
    and at least every BEAT_SECONDS: an export silent for requeue.STALE_EXPORT was
    killed, and is made again."""
    from loyalty.models import ExportJob

    def beat(n: int) -> float:
        ExportJob.objects.filter(pk=job.pk).update(rows_done=n, heartbeat_at=timezone.now())
        return monotonic()

    n, last = 0, monotonic()
    for n, row in enumerate(rows, start=1):
        if n % PROGRESS_EVERY == 0 or monotonic() - last >= BEAT_SECONDS:
            last = beat(n)
        yield row
    beat(n)  # every row read: the file is saved next
