"""What a run says: the counts and first errors, and the error file.

The error file gives the refused rows back as they were, in the upload's own
format and encoding (a GBK CSV comes back GBK, an XLSX as XLSX), with one more
column in front saying what is wrong, so staff fix those rows and upload the file
again: the import recognises (and ignores) that column.
"""

import csv
import re
import tempfile
from pathlib import Path

from django.core.files import File
from django.utils.translation import gettext as _

from ..models import ImportJob, ImportRowError, Tier
from . import columns, disk, presets
from .reading import ENCODING_LABELS

FIRST_ERRORS = 20
_CJK = re.compile(r"[\u4e00-\u9fff]")


def problems_text(problems: list) -> str:
    return "; ".join(f"{column}: {message}" for column, message in problems)


def error_rows(job: ImportJob, *, dry_run: bool):
    return ImportRowError.objects.filter(job=job, dry_run=dry_run).order_by("line")


def first_errors(job: ImportJob, *, dry_run: bool, limit: int = FIRST_ERRORS) -> list[dict]:
    return [
        {"line": e.line, "column": column, "message": message}
        for e in error_rows(job, dry_run=dry_run)[:limit]
        for column, message in e.problems
    ]


def _error_title(headers: list[str]) -> str:
    return "错误原因" if any(_CJK.search(h or "") for h in headers) else "error"


def write_error_file(job: ImportJob, table, *, dry_run: bool) -> str:
    """Write the refused rows to the job's error file; returns its storage name.

    A full or unwritable disk raises its OSError with nothing left behind: neither a
    part of the file among the files nor a temporary file (disk.py).
    """
    header = [_error_title(table.headers), *table.headers]
    rows = (
        [problems_text(problems), *cells]
        for cells, problems in error_rows(job, dry_run=dry_run)
        .values_list("cells", "problems")
        .iterator(chunk_size=2000)
    )
    stem = Path(job.file_name).stem
    suffix = ".xlsx" if table.format == "xlsx" else ".csv"
    with tempfile.TemporaryFile() as out:
        if table.format == "xlsx":
            _write_xlsx(out, header, rows)
        else:
            _write_csv(out, header, rows, encoding=table.encoding, delimiter=table.delimiter)
        out.seek(0)
        name = f"{stem}.errors{suffix}"
        return disk.save_file(job.error_file, name, File(out, name=name))


# What makes a text cell a formula to Excel (or a formula after a tab or a return).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value):
    """A CSV cell Excel will not run: text starting with = + - @ (a member's name, a
    cell of an upload: =HYPERLINK(...), +cmd) gets a ' in front; the import takes it
    off again (validation.unguarded). The export's guard and the error file's."""
    if isinstance(value, str) and value[:1] in FORMULA_STARTS:
        return "'" + value
    return value


def _write_csv(out, header, rows, *, encoding: str, delimiter: str) -> None:
    import io

    text = io.TextIOWrapper(out, encoding=encoding or "utf-8-sig", errors="replace", newline="")
    writer = csv.writer(text, delimiter=delimiter or ",")
    writer.writerow([safe_text(h) for h in header])
    for row in rows:
        writer.writerow(["" if c is None else safe_text(c) for c in row])
    text.flush()
    text.detach()  # leave `out` open for the storage to read


def xlsx_cell(sheet, value):
    """A cell that is always a value: text starting with "=" stays text, not a formula."""
    from openpyxl.cell import WriteOnlyCell

    if isinstance(value, str) and value.startswith("="):
        cell = WriteOnlyCell(sheet, value=None)
        cell.value, cell.data_type = value, "s"
        return cell
    return value


def _write_xlsx(out, header, rows) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    try:
        sheet.append([xlsx_cell(sheet, h) for h in header])
        for row in rows:
            sheet.append([xlsx_cell(sheet, c) for c in row])
        disk.save_book(book, out)
    except BaseException:
        disk.discard_sheet_file(sheet)
        raise


def report_lines(job: ImportJob, *, limit: int = FIRST_ERRORS) -> list[str]:
    """The run's report as text lines (the command prints them; the admin shows the same)."""
    lines = [_("File: %(name)s (%(format)s)") % {"name": job.file_name, "format": describe(job)}]
    if preset := presets.preset_for(job.preset):
        lines.append(_("Recognised as: %(preset)s") % {"preset": preset.name})
    if job.headers:
        labels = {c.key: str(c.label) for c in columns.COLUMNS[job.kind]}
        ignored = _("(not imported)")
        shown = [
            f"{header or '?'} → {labels.get(job.mapping.get(str(i), ''), ignored)}"
            for i, header in enumerate(job.headers)
        ]
        lines.append(_("Header on line %(line)d: %(columns)s") % {
            "line": job.header_line, "columns": "; ".join(shown)
        })  # fmt: skip
    if job.status == ImportJob.Status.FAILED:
        lines.append(_("Failed: %(message)s") % {"message": job.message.strip()})
        return lines
    dry = job.dry_run
    counts = job.preview if dry else job.counts()
    what = _("Dry run, nothing was written") if dry else _("Imported")
    lines.append(
        _("%(what)s: %(rows)d rows in %(seconds)ss.")
        % {"what": what, "rows": job.rows_total, "seconds": job.seconds or 0}
    )
    lines += notes_lines(job)
    errors = counts.get("errors", 0)
    if errors:
        lines.append(
            _("Rows with errors: %(count)d (the first %(shown)d below).")
            % {"count": errors, "shown": min(errors, limit)}
        )
        for e in error_rows(job, dry_run=dry)[:limit]:
            for column, message in e.problems:
                lines.append(
                    "  "
                    + _("line %(line)d, %(column)s: %(message)s")
                    % {"line": e.line, "column": column, "message": message}
                )
        if job.error_file:
            lines.append(_("Error file: %(path)s") % {"path": _file_path(job.error_file)})
    return lines


def tier_notes(job: ImportJob) -> list[dict]:
    """The tier texts of the file, how each was matched: for the report and the admin."""
    names = dict(Tier.objects.values_list("pk", "name"))
    hows = {
        "exact": _("same name"),
        "chosen": _("your choice"),
        "contained": _("name contained: check it"),
        "none": _("no tier: the lowest"),
        "": _("no tier of ours: choose one"),
    }
    return [
        {"text": text, "rows": rows, "tier_id": tier_id, "tier": names.get(tier_id, ""),
         "how": how, "how_text": hows.get(how, how)}
        for text, rows, tier_id, how in job.notes.get("tiers", [])
    ]  # fmt: skip


def notes_lines(job: ImportJob) -> list[str]:
    """What the run found beside the counts: tiers matched, totals rows, referrers."""
    lines = []
    for note in tier_notes(job):
        if note["how"] == "exact":
            continue
        lines.append(
            _("Tier “%(text)s” → %(tier)s (%(how)s; rows: %(rows)d)")
            % {**note, "tier": note["tier"] or "—", "how": note["how_text"]}
        )
    for line in job.notes.get("totals", []):
        lines.append(_("Line %(line)d skipped: a totals row (合计).") % {"line": line})
    if referrers := job.notes.get("referrers"):
        lines.append(
            _(
                "Referrers linked: %(linked)d; inviters who are not members: %(unknown)d; "
                "members who keep the referrer they had: %(kept)d."
            )
            % referrers
        )
    return lines


def describe(job: ImportJob) -> str:
    if job.file_format == "xlsx":
        return "XLSX"
    if job.file_format == "csv":
        delimiters = {",": _("comma"), ";": _("semicolon"), "\t": _("tab")}
        return _("CSV, %(encoding)s, %(delimiter)s-separated") % {
            "encoding": ENCODING_LABELS.get(job.encoding, job.encoding),
            "delimiter": delimiters.get(job.delimiter, job.delimiter),
        }
    return "?"


def _file_path(field) -> str:
    try:
        return field.path
    except NotImplementedError:
        return field.name
