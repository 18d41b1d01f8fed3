"""Import jobs: create from a file, queue, run (dry or real), resume after a crash.

A run reads the file twice, never holding it whole:
1. a pre-pass counts the rows (the progress bar's total) and finds what must be
   on one row only: in a member file the phone (as an exact integer), in a purchase
   file the order number (as a 64-bit hash), each in an array (8 bytes a row),
   sorted once; all rows of a repeated phone or order number are refused, in
   whichever chunks they are, since the file cannot say which of them is right;
2. the import proper, in chunks (default_chunk() rows): each chunk is checked, then written
   in one transaction together with its error rows and the job's progress and
   counts. A run killed at any point (kill -9 included) leaves whole chunks only;
   a resumed run starts after the last committed chunk, and a new run of the same
   file finds those members unchanged.

The job is claimed with a conditional UPDATE (status, or a stale heartbeat) and a
token, so two workers never run it at once; a run that lost its claim stops.
"""

import datetime as dt
import hashlib
import logging
import os
import shutil
import tempfile
import traceback
import uuid
from array import array
from contextlib import contextmanager
from itertools import islice
from pathlib import Path

from django.core.files import File
from django.db import IntegrityError, connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from config.platform.bulk import bulk_run
from members.audit import audit_record
from members.models import Store, User
from members.queue import enqueue

from ..models import ImportJob, ImportRowError
from . import columns, disk, phones, presets, report
from .matching import is_totals
from .reading import CONTROL, Table, UnusableFile, cell_json, open_table
from .referrers import link_referrers
from .signals import import_finished
from .validation import Validator, duplicate_message, duplicate_order_message, order_key
from .writer import MemberWriter

log = logging.getLogger(__name__)
CHUNK = None  # default_chunk(): the database's


def default_chunk() -> int:
    """Rows per chunk (per transaction). SQLite: 2,000, since a chunk holds its one
    write lock and the counter's purchases wait for it (~0.2 s); PostgreSQL: 5,000,
    fewer round trips (3.5 % faster at 200k rows) and nobody else waits."""
    return 5000 if connection.vendor == "postgresql" else 2000


RETRIES = 3
STALE = dt.timedelta(minutes=3)
PREPASS_BEAT = 50_000  # rows between heartbeats while counting


class LostClaim(Exception):
    """Another run took this job over (this one was thought dead): stop quietly."""


# --- creating and queueing ---------------------------------------------------------------


def import_job_create(
    *,
    file,
    file_name: str,
    actor: User | None = None,
    store: Store | None = None,
    kind: str = ImportJob.Kind.MEMBERS,
    preset: str = "",
) -> ImportJob:
    """Store the upload and look at it: format, encoding, header, a first column mapping.

    `preset`: the system the file was exported from (presets.py); "" recognises it
    from the header when it is one of them.

    A file that cannot be used is kept too, as a FAILED job whose message says why.
    Only the header is read here, within the upload's bounds (open_table(peek=True));
    the rows are read by the run, in the background.

    A file that cannot be stored (the disk is full or the files directory unwritable:
    disk.write_fault) raises FilesNotWritable, with nothing stored and no job made.
    """
    digest, size = hashlib.sha256(), 0
    for chunk in (
        file.chunks() if hasattr(file, "chunks") else iter(lambda: file.read(1 << 20), b"")
    ):
        digest.update(chunk)
        size += len(chunk)
    file.seek(0)
    job = ImportJob(
        kind=kind,
        file_name=CONTROL.sub("", Path(file_name).name)[:255] or "upload",
        file_size=size,
        file_sha256=digest.hexdigest(),
        created_by=actor,
        store=store,
    )
    try:
        disk.save_file(job.file, job.file_name, File(file, name=job.file_name))
        try:
            with local_file(job) as path:
                table = _open(job, path, peek=True)
            job.samples = table.samples
            if job.kind == ImportJob.Kind.MEMBERS:
                found = presets.preset_for(preset) or presets.detect(table.headers)
                job.preset = found.key if found else ""
            job.mapping = columns.auto_map(table.headers, job.kind, presets.preset_for(job.preset))
        except UnusableFile as exc:
            job.status, job.message = ImportJob.Status.FAILED, exc.message
    except OSError as exc:
        if (message := disk.write_fault(exc)) is None:
            raise
        log.warning("import upload %s not stored: %s", job.file_name, exc)
        if job.file:
            job.file.delete(save=False)
        raise disk.FilesNotWritable(message) from exc
    job.save()
    if actor is not None:
        audit_record(
            actor=actor,
            action="import.upload",
            obj=job,
            changes={"file": [None, job.file_name], "bytes": [None, job.file_size]},
        )
    return job


def _open(job: ImportJob, path: str, *, peek: bool = False) -> Table:
    table = open_table(
        lambda: open(path, "rb"),  # noqa: SIM115 - the reader closes what it opens
        job.file_name,
        columns.looks_like_header(job.kind),
        peek=peek,
    )
    job.file_format, job.encoding, job.delimiter = table.format, table.encoding, table.delimiter
    job.header_line, job.headers = table.header_line, table.headers
    return table


@contextmanager
def local_file(job: ImportJob):
    """A path to the job's file on this host (a copy when the storage is remote)."""
    storage = job.file.storage
    try:
        path = storage.path(job.file.name)
    except NotImplementedError:
        path = None
    if path:
        yield path
        return
    with tempfile.NamedTemporaryFile(suffix=Path(job.file.name).suffix) as copy:
        with storage.open(job.file.name, "rb") as source:
            shutil.copyfileobj(source, copy, 1 << 20)
        copy.flush()
        yield copy.name


def import_job_set_mapping(*, job: ImportJob, mapping: dict[str, str]) -> ImportJob:
    job.mapping = columns.clean_mapping(mapping, job.headers, job.kind)
    job.save(update_fields=["mapping"])
    return job


def import_job_queue(*, job: ImportJob, dry_run: bool, task: bool = True) -> bool:
    """Queue a dry run, the real run, or the rest of a real run that stopped.

    A real run that failed or died (its heartbeat is stale) goes on after its last
    committed chunk. Returns False when the job is not in a state for it (already
    queued or running, or imported).

    A queued job's heartbeat_at is when it was queued: the sweep (requeue.py) queues
    its task again when no worker has taken it a while later (the broker was down).
    """
    Status = ImportJob.Status
    jobs = ImportJob.objects.filter(pk=job.pk).exclude(file="")  # "": deleted (retention)
    fresh = {"rows_done": 0, "created": 0, "updated": 0, "unchanged": 0, "errors": 0}
    queue = {"status": Status.QUEUED, "message": "", "heartbeat_at": timezone.now()}
    if dry_run:
        startable = jobs.filter(status__in=[Status.UPLOADED, Status.PREVIEWED, Status.FAILED])
        queued = startable.update(dry_run=True, **queue, **fresh)
    else:
        stale = timezone.now() - STALE
        queued = (
            jobs.filter(status__in=[Status.UPLOADED, Status.PREVIEWED]).update(
                dry_run=False, **queue, **fresh
            )
            or jobs.filter(status=Status.FAILED, dry_run=True).update(
                dry_run=False, **queue, **fresh
            )
            or jobs.filter(status=Status.FAILED, dry_run=False).update(**queue)
            or jobs.filter(status=Status.RUNNING, dry_run=False, heartbeat_at__lt=stale).update(
                **queue
            )
        )
    if queued:
        jobs.update(language=translation.get_language() or "")
    if queued and task:
        transaction.on_commit(lambda: enqueue_import(job.pk))
    job.refresh_from_db()
    return bool(queued)


def enqueue_import(job_id: int) -> bool:
    """The task of a queued job; False (logged) when the broker is down: the job stays
    queued, and the sweep (requeue.py) queues it again. Twice is harmless: _claim."""
    return enqueue("loyalty.imports.tasks.import_job_task", job_id, task_name=f"import-{job_id}")


def is_stale(job: ImportJob) -> bool:
    return (
        job.status == ImportJob.Status.RUNNING
        and job.heartbeat_at is not None
        and job.heartbeat_at < timezone.now() - STALE
    )


# --- running -------------------------------------------------------------------------


def _claim(job_id: int) -> tuple[ImportJob | None, str]:
    token = uuid.uuid4().hex
    now = timezone.now()
    jobs = ImportJob.objects.filter(pk=job_id)
    claimed = jobs.filter(status=ImportJob.Status.QUEUED).update(
        status=ImportJob.Status.RUNNING, heartbeat_at=now, claim=token
    ) or jobs.filter(status=ImportJob.Status.RUNNING, heartbeat_at__lt=now - STALE).update(
        heartbeat_at=now, claim=token
    )
    return (jobs.first() if claimed else None), token


def import_job_run(*, job_id: int, chunk_size: int | None = CHUNK) -> ImportJob | None:
    """Run the queued (or stale) job to the end; None when it is not this run's to do."""
    job, token = _claim(job_id)
    if job is None:
        return None
    try:
        with bulk_run():
            _run(job, token, chunk_size or default_chunk())
    except LostClaim:
        log.warning("import %s: taken over by another run; stopping", job_id)
    except UnusableFile as exc:
        _fail(job, token, exc.message)
    except Exception as exc:
        # A full or unwritable disk (the error file, a temporary copy) is said in words;
        # the chunks written stay, and a resumed run goes on after them.
        if (message := disk.write_fault(exc)) is None:
            _fail(job, token, traceback.format_exc(limit=20))
            raise
        log.warning("import %s: a file could not be written: %s", job_id, exc)
        _fail(job, token, message)
    job.refresh_from_db()
    return job


def _fail(job: ImportJob, token: str, message: str) -> None:
    ImportJob.objects.filter(pk=job.pk, claim=token).update(
        status=ImportJob.Status.FAILED, message=message, finished_at=timezone.now()
    )


def _run(job: ImportJob, token: str, chunk_size: int) -> None:
    now = timezone.now()
    dry = job.dry_run
    if dry or not job.started_at or job.rows_done == 0:
        job.started_at = now
        ImportJob.objects.filter(pk=job.pk).update(started_at=now, finished_at=None)
    if dry:
        ImportRowError.objects.filter(job=job, dry_run=True).delete()
    elif job.rows_done == 0:
        ImportRowError.objects.filter(job=job, dry_run=False).delete()
    with local_file(job) as path:
        table = _open(job, path)
        mapping = columns.clean_mapping(
            job.mapping
            or columns.auto_map(table.headers, job.kind, presets.preset_for(job.preset)),
            table.headers,
            job.kind,
        )
        missing = columns.missing_required(mapping, job.kind)
        if missing:
            raise UnusableFile(
                _("No column was recognised as %(columns)s: choose it in the column mapping.")
                % {"columns": ", ".join(str(c.label) for c in missing)}
            )
        ImportJob.objects.filter(pk=job.pk).update(
            mapping=mapping,
            file_format=job.file_format,
            encoding=job.encoding,
            delimiter=job.delimiter,
            header_line=job.header_line,
            headers=job.headers,
        )
        job.mapping = mapping
        validator = Validator(kind=job.kind, mapping=mapping, headers=table.headers, now=now)
        linking = "referrer_phone" in mapping.values()
        # Only a dry run asks whether an inviter is on a row of the file (referrers.py).
        keep = linking and dry
        total, repeated, file_keys = _prepass(job, token, table, validator, keep_keys=keep)
        job.rows_total = total
        if job.kind == ImportJob.Kind.MEMBERS:
            writer = MemberWriter(
                job=job, columns=set(mapping.values()), now=now, actor=job.created_by
            )
        else:
            from .purchases import PurchaseWriter

            writer = PurchaseWriter(job=job, now=now, actor=job.created_by)
        counts = {"created": 0, "updated": 0, "unchanged": 0, "errors": 0}
        if not dry:
            counts = job.counts()
        done = 0 if dry else job.rows_done
        resumed = done > 0
        batch = []
        for line, cells in islice(table.rows(), done, None):
            batch.append((line, cells))
            if len(batch) >= chunk_size:
                done = _chunk(job, token, batch, validator, writer, repeated, counts, done)
                batch = []
        if batch:
            done = _chunk(job, token, batch, validator, writer, repeated, counts, done)
        notes = {"tiers": validator.tiers.report(), "totals": validator.totals}
        # The dashboard's days to compute again: from the first the rows were dated to (or
        # an existing member's old registration date); all of them after a resumed run
        # or when members moved to another store (their past moves with them).
        if not resumed and not getattr(writer, "moved_store", False):
            first = min(
                validator.earliest or now, getattr(writer, "redated_from", None) or now, now
            )
            notes["first_day"] = timezone.localdate(first).isoformat()
        if linking:
            notes["referrers"] = link_referrers(
                job=job,
                table=table,
                validator=validator,
                dry_run=dry,
                file_keys=file_keys,
                beat=lambda: _beat(job, token),
            )
        error_name = report.write_error_file(job, table, dry_run=dry) if counts["errors"] else ""
    finished = {
        "status": ImportJob.Status.PREVIEWED if dry else ImportJob.Status.DONE,
        "finished_at": timezone.now(),
        "error_file": error_name,
        "rows_done": done,
        "notes": notes,
    }
    if dry:
        finished["preview"] = {**counts, "rows": total, "seconds": _seconds(job.started_at)}
    if not ImportJob.objects.filter(pk=job.pk, claim=token).update(**finished):
        raise LostClaim
    job.refresh_from_db()
    if job.created_by_id:
        audit_record(
            actor=job.created_by,
            action="import.preview" if dry else "import.run",
            obj=job,
            changes={k: [None, v] for k, v in counts.items()},
        )
    if not dry and (counts["created"] or counts["updated"]):
        _announce(job, counts)


def _announce(job: ImportJob, counts: dict) -> None:
    """The rows are in: the apps above hear of it (the dashboard's figures of the days
    the file wrote are computed again: campaigns.dashboard.recompute_after_import)."""
    for receiver, result in import_finished.send_robust(sender=ImportJob, job=job, counts=counts):
        if isinstance(result, Exception):
            log.error("import %s: %s failed after the import: %r", job.pk, receiver, result)


def _seconds(since) -> float:
    return round((timezone.now() - since).total_seconds(), 1) if since else 0.0


def _prepass(job: ImportJob, token: str, table: Table, validator: Validator, *, keep_keys=False):
    """(number of rows, {key: [lines]} of keys on more than one row, the sorted keys or
    None): phone keys (phones.key_of) in a member file, order keys
    (validation.order_key) in a purchase file; the keys are kept when asked (the dry
    run's inviters on a row of the file: referrers.py)."""
    keys, lines = array("q"), array("l")
    total = 0
    # A member file has one row per member; a purchase file one per order (many per member).
    members = job.kind == ImportJob.Kind.MEMBERS
    for line, cells in table.rows():
        total += 1
        if members:
            e164 = validator.phone_of(cells)
            key = phones.key_of(e164) if e164 else None
        else:
            key = validator.order_key_of(cells)
        if key is not None:
            keys.append(key)
            lines.append(line)
        if total % PREPASS_BEAT == 0:
            _beat(job, token, rows_total=total)
    ordered = sorted(keys)
    twice = {a for a, b in zip(ordered, islice(ordered, 1, None), strict=False) if a == b}
    kept = array("q", ordered) if keep_keys else None
    del ordered
    repeated: dict[int, list[int]] = {}
    if twice:
        for key, line in zip(keys, lines, strict=True):
            if key in twice:
                repeated.setdefault(key, []).append(line)
    _beat(job, token, rows_total=total)
    return total, repeated, kept


def _beat(job: ImportJob, token: str, **fields) -> None:
    if not ImportJob.objects.filter(pk=job.pk, claim=token).update(
        heartbeat_at=timezone.now(), **fields
    ):
        raise LostClaim


def _repeated_rows(validator: Validator, repeated: dict[int, list[int]]):
    """row, problems -> problems with the "on more than one row" one added when due."""
    if validator.kind == ImportJob.Kind.MEMBERS:
        header, message = validator.header_of("phone"), duplicate_message

        def key(row):
            return phones.key_of(row.e164) if row.e164 else None
    else:
        header, message = validator.header_of("order_no"), duplicate_order_message

        def key(row):
            return order_key(row.order_no) if row.order_no else None

    def check(row, problems):
        if lines := repeated.get(key(row)):
            problems.append([header, message(lines)])

    return check


def _chunk(job, token, batch, validator, writer, repeated, counts, done) -> int:
    good, bad = [], []
    check = _repeated_rows(validator, repeated) if repeated else None
    for line, cells in batch:
        row, problems = validator.validate(line, cells)
        if check is not None:
            check(row, problems)
        if problems and not row.e164 and is_totals(cells):
            validator.totals.append(line)  # a 合计 row: said in the report, not an error
            continue
        if problems:
            bad.append((line, cells, problems))
        else:
            good.append(row)
    when = "created_at" if validator.kind == ImportJob.Kind.MEMBERS else "occurred_at"
    dated = [day for day in (getattr(r, when) for r in good) if day is not None]
    if dated and (validator.earliest is None or min(dated) < validator.earliest):
        validator.earliest = min(dated)
    dry = job.dry_run
    for attempt in range(RETRIES):
        try:
            if dry:
                # A dry run only reads: no lock is held while it looks.
                result = writer.write(good, dry_run=True)
            with transaction.atomic():
                _no_flush_wait()
                if not dry:
                    result = writer.write(good, dry_run=False, retry=attempt > 0)
                refused = bad + [
                    (r.line, r.cells, [[validator.header_of(key), text] for key, text in p])
                    for r, p in result.problems
                ]
                _save_errors(job, refused, dry)
                new_counts = {
                    "created": counts["created"] + result.created,
                    "updated": counts["updated"] + result.updated,
                    "unchanged": counts["unchanged"] + result.unchanged,
                    "errors": counts["errors"] + len(refused),
                }
                progress = {"rows_done": done + len(batch)}
                if not dry:
                    progress.update(new_counts)
                _beat(job, token, **progress)
            break
        except IntegrityError:
            # A registration took a phone or a member number of this chunk meanwhile:
            # the chunk is rolled back whole; look again and write it again.
            if attempt == RETRIES - 1:
                raise
            log.info("import %s: chunk at line %s retried", job.pk, batch[0][0])
    counts.update(new_counts)
    return done + len(batch)


def _no_flush_wait() -> None:
    """PostgreSQL: this chunk's commit does not wait for its WAL to reach the disk.

    Safe here: a chunk lost to a database crash is lost whole, together with the
    job's progress (same transaction), and the resumed run writes it again; the
    database itself stays consistent (only the last moments' commits can be lost).
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _save_errors(job: ImportJob, refused: list, dry: bool) -> None:
    if not refused:
        return
    rows = [
        ImportRowError(
            job=job, dry_run=dry, line=line, problems=problems, cells=[cell_json(c) for c in cells]
        )
        for line, cells, problems in refused
    ]
    ImportRowError.objects.bulk_create(rows, batch_size=1000)


def import_file(
    *,
    path: str,
    dry_run: bool,
    store: Store | None = None,
    actor: User | None = None,
    mapping: dict[str, str] | None = None,
    chunk_size: int | None = CHUNK,
    kind: str = ImportJob.Kind.MEMBERS,
    preset: str = "",
) -> ImportJob:
    """The command's way in: create the job from a local file and run it here and now.

    A file that cannot be stored (a full disk) gives a FAILED job that is not saved:
    nothing was stored, its message says why.
    """
    with open(path, "rb") as handle:
        try:
            job = import_job_create(
                file=handle,
                file_name=os.path.basename(path),
                actor=actor,
                store=store,
                kind=kind,
                preset=preset,
            )
        except disk.FilesNotWritable as exc:
            return ImportJob(
                kind=kind,
                file_name=os.path.basename(path)[:255],
                status=ImportJob.Status.FAILED,
                message=exc.message,
            )
    if job.status == ImportJob.Status.FAILED:
        return job
    if mapping:
        merged = dict(job.mapping)
        for header, key in mapping.items():
            for index, text in enumerate(job.headers):
                if columns.fold(text) == columns.fold(header):
                    merged[str(index)] = key
        import_job_set_mapping(job=job, mapping=merged)
    import_job_queue(job=job, dry_run=dry_run, task=False)
    return import_job_run(job_id=job.pk, chunk_size=chunk_size) or job
