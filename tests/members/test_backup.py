"""`manage.py backup` and `manage.py restore` (members/backups.py): a backup restored into
a fresh database passes check_ledger and holds the same members, on SQLite and on
PostgreSQL; the rotation keeps the newest of its own files and nothing else is touched;
a missing, damaged or other-kind file is refused with a message, not a traceback."""

import os
import re
import sqlite3
import subprocess
import sys
import uuid
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from loyalty.purchases import purchase_record
from members.backups import pg_command
from members.models import Member
from tests.factories import MemberFactory

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"^huiyuan-\d{8}-\d{6}(-\d+)?\.(sqlite3|dump)$")
SQLITE = connection.vendor == "sqlite"
sqlite_only = pytest.mark.skipif(not SQLITE, reason="SQLite's backup")
postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def backup(directory: Path, *options: str) -> Path:
    """A backup through the command: its last line is the file's path."""
    path = Path(run("backup", "--dir", str(directory), *options).strip().splitlines()[-1])
    assert path.is_file() and path.parent == directory and NAME.match(path.name), path
    return path


def database_url(name: str | None = None) -> str:
    """The test database's URL, or that of another database on the same server."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{name or db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{auth}@{host}/{name or db['NAME']}"


def manage(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    """manage.py in a process of its own on the database at `url`, with this one's keys."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DATA_DIR": str(tmp_path / "data"),
        "PHONE_HASH_KEY": settings.PHONE_HASH_KEY,
        "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def restored_and_checked(tmp_path: Path, url: str, path: Path) -> int:
    """Restore `path` into the fresh database at `url`, check its ledger: its member count."""
    done = manage(tmp_path, url, "restore", str(path), "--noinput")
    assert done.returncode == 0, done.stderr
    assert "Restored" in done.stdout and "check_ledger" in done.stdout
    ledger = manage(tmp_path, url, "check_ledger")
    assert ledger.returncode == 0, ledger.stdout + ledger.stderr
    assert "Ledger OK" in ledger.stdout
    count = manage(
        tmp_path,
        url,
        "shell",
        "-c",
        "from members.models import Member; print(Member.objects.count())",
    )
    assert count.returncode == 0, count.stderr
    return int(count.stdout.split()[-1])


@pytest.fixture
def default_tiers(transactional_db):
    """A transactional test's flush removes the tiers the data migration made: put them back."""
    import importlib

    from django.apps import apps

    importlib.import_module("loyalty.migrations.0002_default_tiers").create_defaults(apps, None)


@pytest.fixture
def shop(default_tiers, store):
    """Members with purchases, committed (pg_dump and a second SQLite connection see them)."""
    members = [MemberFactory(store=store) for _ in range(5)]
    for i, member in enumerate(members):
        purchase_record(member=member, amount=f"{100 + i}", external_ref=f"POS-{i}", store=store)
    return members


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_a_sqlite_backup_restored_into_a_fresh_database_passes_check_ledger(shop, tmp_path):
    out = run("backup", "--dir", str(tmp_path / "backups"))
    path = Path(out.strip().splitlines()[-1])
    assert path.suffix == ".sqlite3" and path.parent == tmp_path / "backups"
    assert re.search(r"Backup written: [\d.,]+ MB in [\d.]+s", out)
    assert not [p for p in path.parent.iterdir() if p != path]  # no temporary file left
    fresh = tmp_path / "fresh" / "huiyuan.sqlite3"
    fresh.parent.mkdir()
    assert restored_and_checked(tmp_path, database_url(str(fresh)), path) == 5
    assert Member.objects.count() == 5


@pytest.mark.postgres
@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_postgres_backup_restored_into_a_fresh_database_passes_check_ledger(shop, tmp_path):
    path = backup(tmp_path)
    assert path.suffix == ".dump"
    assert path.read_bytes().startswith(b"PGDMP")  # pg_dump's custom format
    name = f"huiyuan_restore_{uuid.uuid4().hex[:12]}"
    command, env = pg_command("createdb", name)
    subprocess.run(command, env=env, check=True, capture_output=True)
    try:
        assert restored_and_checked(tmp_path, database_url(name), path) == 5
    finally:
        command, env = pg_command("dropdb", "--if-exists", "--force", name)
        subprocess.run(command, env=env, check=True, capture_output=True)
    assert Member.objects.count() == 5


@pytest.mark.django_db(transaction=True)
def test_restore_puts_the_backup_back_into_the_configured_database(shop, store, tmp_path):
    path = backup(tmp_path)
    MemberFactory(store=store)
    assert Member.objects.count() == 6
    out = run("restore", str(path), "--noinput")
    assert Member.objects.count() == 5
    assert "Restored" in out and "check_ledger" in out
    assert run("check_ledger").startswith("Ledger OK")


@pytest.mark.django_db(transaction=True)
def test_restore_asks_for_the_database_name(shop, store, tmp_path, monkeypatch):
    path = backup(tmp_path)
    MemberFactory(store=store)
    name = (
        Path(connection.settings_dict["NAME"]).name if SQLITE else connection.settings_dict["NAME"]
    )
    prompts = []
    monkeypatch.setattr("builtins.input", lambda prompt: prompts.append(prompt) or "yes")
    with pytest.raises(CommandError, match="cancelled"):
        run("restore", str(path))
    assert name in prompts[0]
    assert Member.objects.count() == 6  # nothing restored
    monkeypatch.setattr("builtins.input", lambda prompt: name)
    run("restore", str(path))
    assert Member.objects.count() == 5


def test_rotation_keeps_the_newest_of_its_own_files_and_nothing_else(db, tmp_path):
    unrelated = [
        "notes.txt",
        "huiyuan-manual.sqlite3",
        "other-20200101-000000.dump",
        "huiyuan-20200101-000000.sqlite3.bak",
    ]
    for name in unrelated:
        (tmp_path / name).write_text("keep me")
    oldest = tmp_path / "huiyuan-20200101-000000.dump"  # its own name (either kind)
    oldest.write_text("old")
    made = [backup(tmp_path, "--keep", "2") for _ in range(3)]
    assert len({p.name for p in made}) == 3  # within one second too
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [made[1].name, made[2].name, *unrelated]
    )
    out = run("backup", "--dir", str(tmp_path), "--keep", "2")
    assert f"Removed old backup {made[1]}" in out
    assert not made[1].exists() and made[2].exists()
    for name in unrelated:
        assert (tmp_path / name).read_text() == "keep me"


def test_keep_must_be_at_least_one(db, tmp_path):
    with pytest.raises(CommandError, match="at least 1"):
        run("backup", "--dir", str(tmp_path), "--keep", "0")
    assert not list(tmp_path.iterdir())


def test_a_failed_backup_is_a_command_error_and_leaves_no_file(db, tmp_path, monkeypatch):
    if SQLITE:
        monkeypatch.setitem(connection.settings_dict, "NAME", str(tmp_path / "gone.sqlite3"))
        expected = "No SQLite database"
    else:
        monkeypatch.setitem(connection.settings_dict, "PORT", "1")  # nothing listens there
        expected = "pg_dump failed: .*connect"
    with pytest.raises(CommandError, match=expected):
        run("backup", "--dir", str(tmp_path / "backups"))
    assert not list((tmp_path / "backups").iterdir())


def test_the_password_goes_to_pg_dump_in_its_environment_not_its_arguments(db, monkeypatch):
    for key, value in {"HOST": "db.internal", "PORT": "6432", "USER": "app"}.items():
        monkeypatch.setitem(connection.settings_dict, key, value)
    monkeypatch.setitem(connection.settings_dict, "PASSWORD", "s3cret")
    command, env = pg_command("pg_dump", "--format=custom")
    assert command == [
        "pg_dump",
        "--no-password",
        "--host=db.internal",
        "--port=6432",
        "--username=app",
        "--format=custom",
    ]
    assert env["PGPASSWORD"] == "s3cret" and "s3cret" not in " ".join(command)


def test_a_backup_of_the_other_kind_is_refused_before_anything_is_asked(db, tmp_path, monkeypatch):
    if SQLITE:
        other = tmp_path / "huiyuan-20260101-000000.dump"
        other.write_bytes(b"PGDMP\x01\x0f\x00" + os.urandom(200))
        expected = "is a PostgreSQL backup but this database is SQLite"
    else:
        other = tmp_path / "huiyuan-20260101-000000.sqlite3"
        with sqlite3.connect(other) as db:
            db.execute("CREATE TABLE members_member (id INTEGER PRIMARY KEY)")
        expected = "is a SQLite backup but this database is PostgreSQL"
    monkeypatch.setattr("builtins.input", lambda prompt: pytest.fail("asked"))
    with pytest.raises(CommandError, match=expected):
        run("restore", str(other))


def _missing(tmp_path, path):
    return tmp_path / "nowhere.sqlite3", "No such file"


def _not_a_backup(tmp_path, path):
    (tmp_path / "notes.txt").write_text("hello")
    return tmp_path / "notes.txt", "is not a backup"


def _truncated(tmp_path, path):
    cut = tmp_path / f"cut{path.suffix}"
    data = path.read_bytes()
    cut.write_bytes(data[: len(data) // 3])
    return cut, "damaged|cannot be read|failed"


def _header_only(tmp_path, path):
    cut = tmp_path / f"head{path.suffix}"
    cut.write_bytes(path.read_bytes()[:16] + b"\x00" * 100)
    return cut, "damaged|cannot be read|failed"


def _not_ours(tmp_path, path):
    if not SQLITE:
        pytest.skip("a PostgreSQL dump of another application: not worth a database")
    other = tmp_path / "other.sqlite3"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (x)")
    return other, "holds no Huiyuan data"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("bad", [_missing, _not_a_backup, _truncated, _header_only, _not_ours])
def test_a_missing_or_damaged_file_is_refused_and_the_database_kept(shop, tmp_path, bad):
    path = backup(tmp_path / "backups")
    file, expected = bad(tmp_path, path)
    with pytest.raises(CommandError, match=expected):
        run("restore", str(file), "--noinput")
    assert Member.objects.count() == 5
    assert run("check_ledger").startswith("Ledger OK")


@pytest.mark.django_db(transaction=True)
def test_the_command_line_says_why_without_a_traceback(tmp_path):
    done = manage(tmp_path, database_url(), "restore", str(tmp_path / "gone.dump"), "--noinput")
    assert done.returncode == 1
    assert "CommandError: No such file" in done.stderr and "Traceback" not in done.stderr
