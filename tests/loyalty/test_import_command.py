"""`manage.py import_members FILE [--dry-run] [--store CODE]`: the report, the last line,
the exit status (0: the run completed, row errors included; 2: the file is unusable)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from tests.loyalty.import_files import HEADERS_ZH, phone, run_import, write_csv

ROOT = Path(__file__).resolve().parents[2]
LAST_LINE = re.compile(r"^created=\d+ updated=\d+ unchanged=\d+ errors=\d+$")


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.mark.django_db
def test_it_prints_the_report_and_ends_with_the_counts(tmp_path, store):
    rows = [
        [phone(1), "甲", "", "", "", "", "", "", "", ""],
        ["99", "乙", "", "", "", "", "", "", "", ""],
    ]
    output, counts = run_import(write_csv(tmp_path / "m.csv", [HEADERS_ZH, *rows]), "--dry-run")
    lines = output.strip().splitlines()
    assert lines[0].startswith("File: m.csv (CSV, UTF-8 (BOM), comma-separated)")
    assert "手机号 → Mobile number" in lines[1]
    assert any(line.startswith("Dry run") for line in lines)
    assert any(line.strip().startswith("line 3, 手机号:") for line in lines)
    assert any(line.startswith("Error file: ") for line in lines)
    assert LAST_LINE.match(lines[-1]) and counts["errors"] == 1


@pytest.mark.django_db
def test_the_chunks_are_written_inside_a_bulk_run(tmp_path, store, monkeypatch):
    """config.platform.bulk.bulk_run (fewer collections and checkpoints) spans the whole run."""
    import gc
    from contextlib import contextmanager

    from config.platform.bulk import BULK_GC_THRESHOLD, bulk_run
    from loyalty.imports import runner

    seen = []
    write = runner.MemberWriter.write

    def spy(self, rows, **kwargs):
        seen.append(gc.get_threshold()[0])
        return write(self, rows, **kwargs)

    @contextmanager
    def counted():
        seen.append("run")
        with bulk_run():
            yield

    monkeypatch.setattr(runner, "bulk_run", counted)
    monkeypatch.setattr(runner.MemberWriter, "write", spy)
    rows = [[phone(i), "甲", "", "", "", "", "", "", "", ""] for i in range(1, 6)]
    _output, counts = run_import(
        write_csv(tmp_path / "m.csv", [HEADERS_ZH, *rows]), "--chunk-size", "2"
    )
    assert counts["created"] == 5
    assert seen == ["run", BULK_GC_THRESHOLD, BULK_GC_THRESHOLD, BULK_GC_THRESHOLD]
    assert gc.get_threshold()[0] != BULK_GC_THRESHOLD


@pytest.mark.django_db
def test_an_unknown_store_is_a_usage_error(tmp_path):
    path = write_csv(tmp_path / "m.csv", [["手机号"], [phone(1)]])
    with pytest.raises(CommandError) as caught:
        call_command("import_members", str(path), "--store", "NOPE")
    assert caught.value.returncode == 1


def _run(*args, env_extra) -> subprocess.CompletedProcess:
    env = {**os.environ, **env_extra}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, "manage.py", "import_members", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_exit_status_is_0_with_row_errors_and_2_for_an_unusable_file(tmp_path):
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        url = f"sqlite:///{db['NAME']}"
    else:
        url = (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
    env = {"DATABASE_URL": url, "DATA_DIR": str(tmp_path / "data")}
    good = write_csv(
        tmp_path / "m.csv", [["手机号", "生日"], [phone(1), "1990-01-02"], [phone(2), "bad"]]
    )
    done = _run(str(good), env_extra=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "created=1 updated=0 unchanged=0 errors=1"
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\xd0\xcf\x11\xe0" + b"\0" * 64)
    assert _run(str(bad), env_extra=env).returncode == 2
    assert _run(str(tmp_path / "missing.csv"), env_extra=env).returncode == 2
