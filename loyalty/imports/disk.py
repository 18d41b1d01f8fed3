"""Writing the files of imports and exports when the disk says no.

An import stores its upload and writes its error file; an export writes its file; both
go through a temporary file first (and openpyxl, for an .xlsx, through one more). A
full disk (ENOSPC, a quota: EDQUOT) or a files directory that cannot be written
(read-only: EROFS; permissions: EACCES, EPERM; a path that is not a directory:
ENOTDIR, or Django's FileExistsError for it) is not a bug: staff read a sentence that
says what to do (`write_fault`), never a traceback, and nothing half-written is left
behind (`save_file`, `discard_sheet_file`), so the next try, once the disk is fixed,
works.
"""

import datetime as dt
import errno
import os
import zipfile
from contextlib import suppress

from django.utils.translation import gettext as _

NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})
NOT_WRITABLE = frozenset({errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EEXIST})


class FilesNotWritable(Exception):
    """A file could not be written for one of write_fault's reasons: `message` says it."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def write_fault(exc: BaseException) -> str | None:
    """What staff read when writing a file failed with `exc`; None when it is not a
    full or unwritable disk (then it is a bug, and its traceback is what helps)."""
    if not isinstance(exc, OSError):
        return None
    if exc.errno in NO_SPACE:
        return _("Not enough disk space to write the file. Free some space, then try again.")
    # Django's storage raises FileExistsError without an errno when a directory of the
    # path is a file ("... exists and is not a directory").
    if exc.errno in NOT_WRITABLE or isinstance(exc, FileExistsError | NotADirectoryError):
        return _(
            "The files directory cannot be written to (read-only, no permission, or not a "
            "directory). Ask whoever runs the server to fix it, then try again."
        )
    return None


def save_file(field_file, name: str, content) -> str:
    """field_file.save(name, content, save=False), with nothing left behind when it fails.

    Django's FileSystemStorage leaves what it wrote of a file whose write failed
    half-way (a disk that filled up): the name is chosen here, so that file is removed.
    Returns the stored name (also set on the field).
    """
    field, instance, storage = field_file.field, field_file.instance, field_file.storage
    wanted = field.generate_filename(instance, name)
    chosen = storage.get_available_name(wanted, max_length=field.max_length)
    try:
        stored = storage.save(chosen, content, max_length=field.max_length)
    except BaseException:
        with suppress(OSError, NotImplementedError):
            if storage.exists(chosen):
                storage.delete(chosen)
        raise
    setattr(instance, field.attname, stored)
    return stored


def discard_sheet_file(sheet) -> None:
    """Remove the temporary file of an openpyxl write-only sheet whose writing failed.

    The sheet streams its rows to a named temporary file, deleted once the workbook is
    saved; a failure before that (the temporary directory full) would leave it until the
    process ends, and a worker runs for days. openpyxl keeps its row stream as
    sheet._rows and the file as sheet._writer.out.
    """
    writer = getattr(sheet, "_writer", None)
    if writer is None:
        return
    # Closed in order, now (not by the garbage collector, on a closed file); closing
    # flushes the stream, which on a full disk fails again.
    for stream in (getattr(sheet, "_rows", None), writer):
        if stream is not None:
            with suppress(Exception):
                stream.close()
    path = getattr(writer, "out", None)
    if isinstance(path, str):
        with suppress(OSError):
            os.remove(path)


def save_book(book, out) -> None:
    """book.save(out) for a write-only workbook, with nothing left behind when it fails.

    What openpyxl's save_workbook does, but with the zip archive in hand: a failed save
    (the temporary directory full) closes it now, and removes the sheets' temporary
    files (discard_sheet_file); openpyxl would leave the archive to the garbage
    collector, which closes it later on a closed file ("Exception ignored" in the log).
    """
    from openpyxl.writer.excel import ExcelWriter

    archive = zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
    try:
        book.properties.modified = dt.datetime.now(tz=dt.UTC).replace(tzinfo=None)
        ExcelWriter(book, archive).save()
    except BaseException:
        with suppress(Exception):  # writes its directory: on a full disk it fails again
            archive.close()
        for sheet in book.worksheets:
            discard_sheet_file(sheet)
        raise
