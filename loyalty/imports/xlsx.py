"""An .xlsx looked at before openpyxl reads it: its size, and in the upload its header.

openpyxl's read-only mode streams the sheet, but it reads the workbook's whole table of
texts (the shared strings: one Python string each) before the first row, and a small
file can hold a huge one: 827 KB compressed unpacked to 3 million strings, 34 s and
660 MB inside the upload request. So:

- check() looks at the zip's directory before anything is parsed: the parts unpacked
  (IMPORT_XLSX_MAX_BYTES), and the number of texts in the table, at most
  IMPORT_XLSX_MAX_STRINGS and no more than the sheets could use (every text is used by
  a cell, and a cell that uses one takes at least MIN_CELL_BYTES of a sheet). The
  upload takes that number from the table's first tag; the background run counts the
  table as a stream (a tag can lie) before openpyxl reads it;
- peek() is the upload's reader: the first rows of the first sheet only (the header
  is within reading.HEADER_SCAN rows), looking up just the texts they use, within
  IMPORT_XLSX_PEEK_BYTES unpacked and IMPORT_XLSX_PEEK_SECONDS. The rest of the file is
  read by the background run (openpyxl).

A file over a limit is refused whole (Refused, the reader's UnusableFile), saying what
to do instead: CSV is read as a stream and has no such table.
"""

import posixpath
import time
import zipfile
from collections.abc import Iterator
from xml.etree.ElementTree import XMLPullParser

from django.conf import settings
from django.utils.translation import gettext as _

MAX_BYTES = 2 << 30  # unpacked: a million rows of twenty columns are about 1 GB of XML
MAX_STRINGS = 4_000_000  # openpyxl holds each in memory: ~220 bytes a text, ~0.9 GB
PEEK_BYTES = 32 << 20
PEEK_SECONDS = 5.0
MIN_CELL_BYTES = 16  # <c t="s"><v>0</v></c> is 20
MIN_TEXT_BYTES = 5  # <si/>
MAX_COLUMN = 16_384  # XFD, Excel's last column
READ = 1 << 16


class Refused(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def limit(name: str, default):
    return getattr(settings, name, default)


def not_a_workbook() -> Refused:
    return Refused(_("The file cannot be opened as an Excel workbook (.xlsx)."))


class Budget:
    """What the upload request may unpack and spend on a workbook."""

    def __init__(self):
        self.bytes = limit("IMPORT_XLSX_PEEK_BYTES", PEEK_BYTES)
        self.seconds = limit("IMPORT_XLSX_PEEK_SECONDS", PEEK_SECONDS)
        self.deadline = time.monotonic() + self.seconds

    def spend(self, size: int) -> None:
        self.bytes -= size
        if self.bytes < 0 or time.monotonic() >= self.deadline:
            raise Refused(
                _(
                    "The first rows of this workbook cannot be read within %(seconds)s "
                    "seconds and %(mb)s MB (it was not saved by Excel, or its header is "
                    "far down in it). Save it as CSV UTF-8 and upload that."
                )
                % {
                    "seconds": f"{self.seconds:g}",
                    "mb": f"{limit('IMPORT_XLSX_PEEK_BYTES', PEEK_BYTES) / (1 << 20):g}",
                }
            )


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _events(book: zipfile.ZipFile, name: str, budget: Budget | None, events=("end",), size=READ):
    """(event, element) of one part as it unpacks; a budget bounds what is unpacked."""
    parser = XMLPullParser(events)
    with book.open(name) as part:
        while chunk := part.read(size):
            if budget is not None:
                budget.spend(len(chunk))
            parser.feed(chunk)
            yield from parser.read_events()
    parser.close()
    yield from parser.read_events()


def _relations(book, name: str, folder: str, budget) -> dict[str, tuple[str, str]]:
    """{id: (type, part name)} of a .rels part; {} when there is none."""
    if name not in book.NameToInfo:
        return {}
    found = {}
    for _event, element in _events(book, name, budget):
        if _local(element.tag) == "Relationship":
            target = element.get("Target", "")
            path = target[1:] if target.startswith("/") else posixpath.join(folder, target)
            found[element.get("Id", "")] = (element.get("Type", ""), posixpath.normpath(path))
    return found


def parts(book: zipfile.ZipFile, budget: Budget | None) -> tuple[str, str | None]:
    """(the first worksheet, the shared strings or None): the parts openpyxl reads."""
    office = _relations(book, "_rels/.rels", "", budget)
    workbook = next(
        (p for kind, p in office.values() if kind.endswith("/officeDocument")), "xl/workbook.xml"
    )
    if workbook not in book.NameToInfo:
        raise not_a_workbook()
    folder, base = posixpath.split(workbook)
    related = _relations(book, posixpath.join(folder, "_rels", base + ".rels"), folder, budget)
    sheet = None
    for _event, element in _events(book, workbook, budget):
        if _local(element.tag) == "sheet":
            rid = next((v for k, v in element.attrib.items() if _local(k) == "id"), "")
            kind, name = related.get(rid, ("", ""))
            if kind.endswith("/worksheet") and name in book.NameToInfo:
                sheet = name
                break
    if sheet is None:
        raise not_a_workbook()
    strings = next((p for kind, p in related.values() if kind.endswith("/sharedStrings")), None)
    return sheet, strings if strings in book.NameToInfo else None


# --- the limits ----------------------------------------------------------------------


def check(book: zipfile.ZipFile, *, budget: Budget | None) -> None:
    """Refuse a workbook over the limits. With a budget (the upload) the number of texts
    is the one the table's tag declares; without (the background run) it is counted."""
    total = sum(info.file_size for info in book.infolist())
    most = limit("IMPORT_XLSX_MAX_BYTES", MAX_BYTES)
    if total > most:
        raise Refused(
            _(
                "This workbook unpacks to %(size)s MB, more than the import reads from "
                "an .xlsx (%(limit)s MB). Save it as CSV UTF-8 and upload that."
            )
            % {"size": f"{total / (1 << 20):,.0f}", "limit": f"{most / (1 << 20):,.0f}"}
        )
    _sheet, strings = parts(book, budget)
    if strings is None:
        return
    size = book.getinfo(strings).file_size
    most_strings = limit("IMPORT_XLSX_MAX_STRINGS", MAX_STRINGS)
    used_at_most = (total - size) // MIN_CELL_BYTES
    if budget is not None:
        count = _declared(book, strings, budget)
    elif size // MIN_TEXT_BYTES <= min(most_strings, used_at_most):
        return  # too small to hold too many: not worth counting
    else:
        count = _counted(book, strings, min(most_strings, used_at_most) + 1)
    if count is None:
        return
    if count > most_strings:
        raise Refused(
            _(
                "This workbook holds %(count)s different texts, more than the import reads "
                "from an .xlsx (%(limit)s). Save it as CSV UTF-8 and upload that."
            )
            % {"count": f"{count:,}", "limit": f"{most_strings:,}"}
        )
    if count > used_at_most:
        raise Refused(
            _(
                "This workbook's table of texts (%(count)s) is larger than its sheets could "
                "use: it was not saved by a spreadsheet program. Open it in Excel and save "
                "it again, or save it as CSV UTF-8."
            )
            % {"count": f"{count:,}"}
        )


def _declared(book, strings: str, budget: Budget) -> int | None:
    """The number of texts the table's tag says (uniqueCount), None when it says none."""
    for _event, element in _events(book, strings, budget, events=("start",), size=4096):
        if _local(element.tag) == "sst":
            declared = element.get("uniqueCount") or element.get("count")
            return int(declared) if declared and declared.isdigit() else None
    return None


def _items(book, strings: str, budget: Budget | None):
    """Each text (<si>) of the shared-strings table as it unpacks; the table lets go of
    each once the caller has read it, so nothing is kept."""
    table = None
    for event, element in _events(book, strings, budget, events=("start", "end")):
        if event == "start":
            if table is None:
                table = element
            continue
        if _local(element.tag) == "si":
            yield element
            table.clear()


def _counted(book, strings: str, stop: int) -> int:
    """The texts in the table, counted as it unpacks (up to `stop`: enough to refuse)."""
    count = 0
    for _item in _items(book, strings, None):
        count += 1
        if count >= stop:
            break
    return count


# --- the upload's look at the first rows ----------------------------------------------


class _Text:
    """A cell's reference to the table of texts, looked up once the rows are read."""

    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = index


def peek(book: zipfile.ZipFile, rows: int, budget: Budget) -> list[tuple[int, list]]:
    """(row number, values) of the first `rows` rows of the first worksheet, as openpyxl
    gives them for a header (texts, numbers, booleans; an empty row as [])."""
    sheet, strings = parts(book, budget)
    found: list[tuple[int, list]] = []
    for number, values in _sheet_rows(book, sheet, budget):
        while len(found) < rows and len(found) + 1 < number:
            found.append((len(found) + 1, []))  # a row the sheet leaves out: empty
        if len(found) >= rows:
            break
        found.append((number, values))
    wanted = {v.index for _n, values in found for v in values if isinstance(v, _Text)}
    texts = _texts(book, strings, wanted, budget) if wanted else {}
    for _number, values in found:
        for i, value in enumerate(values):
            if isinstance(value, _Text):
                if value.index not in texts:
                    raise not_a_workbook()
                values[i] = texts[value.index]
    return found


def _sheet_rows(book, sheet: str, budget: Budget) -> Iterator[tuple[int, list]]:
    number, holder = 0, None
    for event, element in _events(book, sheet, budget, events=("start", "end")):
        tag = _local(element.tag)
        if event == "start":
            if tag == "sheetData":
                holder = element
            continue
        if tag == "row":
            given = element.get("r", "")
            number = int(given) if given.isdigit() else number + 1
            yield number, _row_values(element)
            if holder is not None:
                holder.clear()
        elif tag == "sheetData":
            return


def _row_values(row) -> list:
    values: list = []
    for cell in row:
        if _local(cell.tag) != "c":
            continue
        column = _column(cell.get("r", "")) or len(values) + 1
        if column > MAX_COLUMN:
            raise not_a_workbook()
        values.extend([None] * (column - 1 - len(values)))
        values[column - 1 : column] = [_value(cell)]
    return values


def _column(reference: str) -> int:
    number = 0
    for char in reference:
        if not ("A" <= char <= "Z"):
            break
        number = number * 26 + ord(char) - 64
    return number


def _value(cell):
    kind = cell.get("t", "n")
    if kind == "inlineStr":
        inline = next((c for c in cell if _local(c.tag) == "is"), None)
        return _content(inline) if inline is not None else None
    raw = next((c.text for c in cell if _local(c.tag) == "v"), None)
    if not raw:
        return None
    if kind == "s":
        if not raw.strip().isdigit():
            raise not_a_workbook()
        return _Text(int(raw))
    if kind == "b":
        return raw.strip() == "1"
    if kind == "n":
        try:
            return float(raw) if any(c in raw for c in ".eE") else int(raw)
        except ValueError:
            return raw
    return raw  # str (a formula's text), e (an error: #N/A), d (an ISO date)


def _content(element) -> str:
    """A text's content as openpyxl reads it: its runs joined, phonetic runs left out."""
    runs = []
    for child in element:
        tag = _local(child.tag)
        if tag == "t":
            runs.append(child.text or "")
        elif tag == "r":
            runs.extend(t.text or "" for t in child if _local(t.tag) == "t")
    return "".join(runs).replace("x005F_", "")


def _texts(book, strings: str | None, wanted: set[int], budget: Budget) -> dict[int, str]:
    """{index: text} of the wanted texts, reading the table only as far as the last."""
    if strings is None:
        return {}
    last, texts = max(wanted), {}
    for index, item in enumerate(_items(book, strings, budget)):
        if index in wanted:
            texts[index] = _content(item)
        if index >= last:
            break
    return texts
