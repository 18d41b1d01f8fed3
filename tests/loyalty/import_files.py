"""Real member files for the import tests, written the way Excel and old systems write them."""

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

HEADERS_ZH = [
    "手机号",
    "姓名",
    "性别",
    "生日",
    "积分",
    "等级",
    "累计消费",
    "注册时间",
    "标签",
    "门店",
]


def write_csv(
    path: Path, rows: list[list], *, encoding="utf-8-sig", delimiter=",", newline="\r\n"
) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator=newline).writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def write_xlsx(path: Path, rows: list[list], *, date_format="yyyy-mm-dd") -> Path:
    """An .xlsx as Excel saves it: dates as date cells (numbers with a date format)."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    for cells in sheet.iter_rows():
        for cell in cells:
            if isinstance(cell.value, dt.date | dt.datetime):
                cell.number_format = date_format
            elif isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"  # typed text, not a formula
    book.save(path)
    return path


def read_csv(path, encoding: str) -> list[list[str]]:
    text = Path(path).read_bytes().decode(encoding)
    return list(csv.reader(io.StringIO(text, newline="")))


def phone(i: int) -> str:
    """A valid mainland mobile for row i (distinct from tests.factories' 139 numbers)."""
    return f"150{i:08d}"


def run_import(path, *args) -> tuple[str, dict]:
    """Run `import_members`; returns (output, counts from its last line)."""
    out = io.StringIO()
    with translation.override("en"):
        call_command("import_members", str(path), *args, stdout=out)
    text = out.getvalue()
    last = text.strip().splitlines()[-1]
    counts = dict(part.split("=") for part in last.split())
    return text, {k: int(v) for k, v in counts.items()}


def run_import_unusable(path, *args) -> str:
    out = io.StringIO()
    with pytest.raises(CommandError) as caught, translation.override("en"):
        call_command("import_members", str(path), *args, stdout=out)
    assert caught.value.returncode == 2
    return out.getvalue() + str(caught.value)
