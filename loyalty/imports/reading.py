"""Reading a member file as rows of cells: CSV in any encoding Excel writes, or XLSX.

Nothing is held whole in memory: CSV is decoded and parsed as a stream, XLSX read
with openpyxl's read-only mode. A file can be read several times (the runner reads
it once for duplicates and counts, once to import), each time from a fresh handle.

- Encoding: a byte-order mark says UTF-8 or UTF-16 (Excel's "Unicode text");
  otherwise a file that is valid UTF-8 from end to end is UTF-8, and anything else
  is GB18030, the superset of GBK that Excel on Chinese Windows writes as "ANSI".
- Delimiter: comma, semicolon or tab, whichever the header line has most of.
- Header: the first row, within the first HEADER_SCAN rows, in which the caller
  recognises a phone column (old systems put a title line above the table);
  otherwise the first row that is not empty.
- Line numbers are what a person sees: the line of the file where the record
  starts (a quoted cell may span lines), or the spreadsheet row number.
- XLSX within limits (xlsx.py): the upload request reads only the header, with its
  own bounded reader (open_table(peek=True)); the background run checks the limits
  again and reads the rest with openpyxl.
- A control character (CONTROL) is never text: the validator refuses a cell holding
  one, headers drop it, and the error rows keep the cell with U+FFFD in its place.
"""

import codecs
import csv
import datetime as dt
import io
import math
import re
import zipfile
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from typing import BinaryIO

from django.utils.translation import gettext as _

from . import xlsx

HEADER_SCAN = 20
SAMPLES = 3  # data rows kept after the header, shown in the mapping step
DELIMITERS = (",", ";", "\t")
SCAN_BYTES = 1 << 20
ENCODING_LABELS = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 (BOM)",
    "utf-16": "UTF-16",
    "gb18030": "GB18030 / GBK",
}

Opener = Callable[[], BinaryIO]
# C0 controls but tab, line feed and carriage return (a cell may span lines), DEL, the
# C1 controls, lone surrogates, U+FFFE and U+FFFF: no member's data holds them, and
# PostgreSQL refuses NUL in any text, XML (an .xlsx error file) the rest of the C0 ones.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


class UnusableFile(Exception):
    """The file as a whole cannot be imported (not a table, no header, undecodable)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class Table:
    opener: Opener
    name: str
    format: str  # "csv" | "xlsx"
    encoding: str = ""
    delimiter: str = ""
    header_line: int = 1
    headers: list[str] = field(default_factory=list)
    samples: list[list] = field(default_factory=list)  # the first data rows (cell_json)

    @property
    def description(self) -> str:
        if self.format == "xlsx":
            return "XLSX"
        names = {",": _("comma"), ";": _("semicolon"), "\t": _("tab")}
        return _("CSV, %(encoding)s, %(delimiter)s-separated") % {
            "encoding": ENCODING_LABELS.get(self.encoding, self.encoding),
            "delimiter": names.get(self.delimiter, self.delimiter),
        }

    def rows(self) -> Iterator[tuple[int, list]]:
        """(line, cells) of every data row after the header; empty rows are skipped."""
        if self.format == "csv":  # text cells only: a row with any non-empty one
            for line, cells in _csv_rows(self):
                if line > self.header_line and any(cells):
                    yield line, cells
            return
        for line, cells in _xlsx_rows(self):
            if line > self.header_line and _has_value(cells):
                yield line, cells


def open_table(
    opener: Opener, name: str, is_header: Callable[[list], bool], *, peek: bool = False
) -> Table:
    """Detect the format, encoding, delimiter and header row of the file. Raises UnusableFile.

    peek: the upload request's look, bounded in time and size (an XLSX's header is read
    by xlsx.peek); otherwise the run's, which checks an XLSX's limits in full first."""
    with opener() as handle:
        magic = handle.read(8)
    if magic.startswith(b"PK\x03\x04"):
        table = Table(opener, name, "xlsx")
        if not peek:
            with _workbook(table) as book:
                xlsx.check(book, budget=None)
    elif magic.startswith(b"\xd0\xcf\x11\xe0"):
        raise UnusableFile(
            _("This is an old Excel file (.xls). Save it as .xlsx or CSV and upload it again.")
        )
    elif not magic:
        raise UnusableFile(_("The file is empty."))
    else:
        table = Table(opener, name, "csv", encoding=_detect_encoding(opener))
        table.delimiter = _detect_delimiter(table)
    _find_header(table, is_header, peek=peek)
    return table


# --- CSV -----------------------------------------------------------------------------


def _detect_encoding(opener: Opener) -> str:
    with opener() as handle:
        head = handle.read(4)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        handle.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while chunk := handle.read(SCAN_BYTES):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "gb18030"
    return "utf-8"


@contextmanager
def _text(table: Table):
    with table.opener() as handle:
        yield io.TextIOWrapper(handle, encoding=table.encoding, newline="")


def _detect_delimiter(table: Table) -> str:
    try:
        with _text(table) as text:
            lines = [line for line in (text.readline() for _ in range(HEADER_SCAN)) if line]
    except UnicodeDecodeError as exc:
        raise _undecodable(table) from exc
    for line in lines:
        counts = {d: line.count(d) for d in DELIMITERS}
        best = max(DELIMITERS, key=lambda d: counts[d])
        if counts[best]:
            return best
    return ","


def _undecodable(table: Table) -> UnusableFile:
    return UnusableFile(
        _(
            "The file is not text in a known encoding (UTF-8, UTF-16, GBK / GB18030). "
            "Save it from Excel as “CSV UTF-8” or as .xlsx."
        )
    )


def _csv_rows(table: Table) -> Iterator[tuple[int, list]]:
    with _text(table) as text:
        reader = csv.reader(text, delimiter=table.delimiter)
        line = 1
        try:
            for cells in reader:
                yield line, cells
                line = reader.line_num + 1
        except UnicodeDecodeError as exc:
            raise _undecodable(table) from exc
        except csv.Error as exc:
            raise UnusableFile(
                _("Line %(line)d cannot be read as CSV: %(error)s")
                % {"line": reader.line_num, "error": exc}
            ) from exc


# --- XLSX ----------------------------------------------------------------------------


def _not_xlsx() -> UnusableFile:
    return UnusableFile(_("The file cannot be opened as an Excel workbook (.xlsx)."))


@contextmanager
def _workbook(table: Table):
    """The XLSX as a zip, its limits' refusal or any damage said as UnusableFile."""
    with table.opener() as handle:
        try:
            with zipfile.ZipFile(handle) as book:
                yield book
        except xlsx.Refused as exc:
            raise UnusableFile(exc.message) from exc
        except UnusableFile:
            raise
        except Exception as exc:  # BadZipFile, KeyError, XML and zlib errors: "not xlsx"
            raise _not_xlsx() from exc


def _xlsx_peek(table: Table) -> Iterator[tuple[int, list]]:
    with _workbook(table) as book:
        budget = xlsx.Budget()
        xlsx.check(book, budget=budget)
        rows = xlsx.peek(book, HEADER_SCAN + SAMPLES, budget)
    for line, values in rows:
        yield line, [_cell(v) for v in values]


def _xlsx_rows(table: Table) -> Iterator[tuple[int, list]]:
    import openpyxl

    with table.opener() as handle:
        try:
            book = openpyxl.load_workbook(handle, read_only=True, data_only=True)
        except Exception as exc:  # zipfile.BadZipFile, KeyError, XML errors: all "not xlsx"
            raise _not_xlsx() from exc
        try:
            sheet = book.worksheets[0]
            if hasattr(sheet, "reset_dimensions"):
                # Some programs write a wrong size; read what is really there.
                sheet.reset_dimensions()
            rows, line = sheet.iter_rows(values_only=True), 0
            while True:
                try:
                    values = next(rows)
                except StopIteration:
                    break
                except Exception as exc:
                    # openpyxl stops for good at a row it cannot read (XML broken off, a
                    # text that is not in the table, a number of 5,000 digits): say where.
                    raise UnusableFile(
                        _(
                            "Row %(line)d of the workbook cannot be read: open it in Excel "
                            "and save it again, or save it as CSV UTF-8."
                        )
                        % {"line": line + 1}
                    ) from exc
                line += 1
                yield line, [_cell(v) for v in values]
        finally:
            book.close()


def _cell(value):
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, dt.datetime) and value.time() == dt.time.min:
        return value.date()
    return value


# --- header --------------------------------------------------------------------------


def _has_value(cells: list) -> bool:
    return any(c is not None and c != "" for c in cells)


def _find_header(table: Table, is_header: Callable[[list], bool], *, peek: bool) -> None:
    first, found, seen = None, False, []
    if table.format == "csv":
        raw = _csv_rows(table)
    else:
        raw = _xlsx_peek(table) if peek else _xlsx_rows(table)
    with closing(raw):
        for count, (line, cells) in enumerate(raw):
            if count >= HEADER_SCAN + SAMPLES or (found and len(table.samples) >= SAMPLES):
                break
            if not _has_value(cells):
                continue
            if found:
                table.samples.append([cell_json(c) for c in cells])
                continue
            seen.append(cells)
            if count >= HEADER_SCAN:
                continue
            texts = [header_text(c) for c in cells]
            if first is None:
                first = (line, texts)
            if is_header(texts):
                first, found = (line, texts), True
    if first is None:
        raise UnusableFile(_("The file has no rows."))
    if not found:  # no header named a phone: the first row is, the next are samples
        table.samples = [[cell_json(c) for c in cells] for cells in seen[1 : 1 + SAMPLES]]
    table.header_line, table.headers = first
    while table.headers and not table.headers[-1]:
        table.headers.pop()


def header_text(value) -> str:
    if value is None:
        return ""
    return CONTROL.sub("", str(value).replace("\ufeff", "")).strip()


def cell_json(value):
    """A cell as JSON can keep it (the error file gives the row back); a control
    character becomes U+FFFD (PostgreSQL keeps no NUL, an .xlsx no control character)."""
    if isinstance(value, str):
        return CONTROL.sub("\ufffd", value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # an .xlsx number 1e999: JSON has no Infinity
    if value is None or isinstance(value, int | float | bool):
        return value
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)
