"""Backups of the whole database, and restoring one (`manage.py backup`, `manage.py restore`;
how to run them nightly and copy them off the host: docs/operations.md, "Backups").

SQLite: SQLite's online backup API copies the live database file page by page inside
one read transaction, so the copy is consistent while the app writes (WAL readers do not
wait for writers, nor writers for them); a plain `cp` of a WAL database is not. The copy
is switched to a rollback journal, so the one file is the whole backup, and checked
(`PRAGMA quick_check`) before it is kept. PostgreSQL: `pg_dump --format=custom`, the
password in PGPASSWORD, never on the command line; restoring it needs a `pg_restore` of
the server's major version.

Either is written under a hidden temporary name (`.huiyuan-...partial`) and renamed
when complete, so a file named `huiyuan-YYYYmmdd-HHMMSS.sqlite3` (or `.dump`) is always
a whole backup; a failed one leaves nothing behind. Rotation deletes only files of that
name pattern, the oldest first, never anything else in the directory.
"""

import contextlib
import os
import re
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime
from itertools import count
from pathlib import Path

from django.db import DEFAULT_DB_ALIAS, OperationalError, connections
from django.utils import timezone

SQLITE, POSTGRESQL = "sqlite", "postgresql"
SUFFIXES = {SQLITE: ".sqlite3", POSTGRESQL: ".dump"}
KIND_NAMES = {SQLITE: "SQLite", POSTGRESQL: "PostgreSQL"}
# huiyuan-20260131-021500.sqlite3; a second one within the same second gets "-1", "-2" ...
BACKUP_NAME = re.compile(r"^huiyuan-(\d{8}-\d{6})(?:-(\d+))?\.(sqlite3|dump)$")
SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"  # pg_dump's custom format (a plain SQL dump has no header)
MARKER_TABLE = "members_member"  # a Huiyuan database has it


class BackupError(Exception):
    """A backup or restore that could not be made; the message says why."""


@dataclass(frozen=True)
class Backup:
    path: Path
    size: int  # bytes
    seconds: float
    removed: tuple[Path, ...]  # older backups deleted by the rotation


# -- the database ------------------------------------------------------------------------


def database_kind() -> str:
    """SQLITE or POSTGRESQL: the configured database's kind (anything else: BackupError)."""
    vendor = connections[DEFAULT_DB_ALIAS].vendor
    if vendor not in SUFFIXES:
        raise BackupError(f"Backups support SQLite and PostgreSQL, not {vendor}.")
    return vendor


def database_label() -> str:
    """The name an operator types to confirm a restore: PostgreSQL's database name, or
    the SQLite file's name (not its whole path)."""
    name = str(connections[DEFAULT_DB_ALIAS].settings_dict["NAME"])
    return Path(name).name if database_kind() == SQLITE else name


def sqlite_path() -> Path:
    conn = connections[DEFAULT_DB_ALIAS]
    if conn.is_in_memory_db():
        raise BackupError("The SQLite database is in memory: there is no file to back up.")
    return Path(conn.settings_dict["NAME"]).resolve()


def sqlite_timeout() -> float:
    return float(connections[DEFAULT_DB_ALIAS].settings_dict["OPTIONS"].get("timeout", 20))


def pg_command(program: str, *args: str) -> tuple[list[str], dict[str, str]]:
    """A PostgreSQL client tool's command line and environment for the configured database:
    host, port and user as options, the password and TLS settings in the environment."""
    db = connections[DEFAULT_DB_ALIAS].settings_dict
    command = [program, "--no-password"]  # never prompt (cron has no terminal)
    for option, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if db.get(key):
            command.append(f"{option}={db[key]}")
    env = dict(os.environ)
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])
    options = db.get("OPTIONS") or {}
    for option, variable in (
        ("sslmode", "PGSSLMODE"),
        ("sslrootcert", "PGSSLROOTCERT"),
        ("sslcert", "PGSSLCERT"),
        ("sslkey", "PGSSLKEY"),
        ("passfile", "PGPASSFILE"),
        ("service", "PGSERVICE"),
        ("connect_timeout", "PGCONNECT_TIMEOUT"),
    ):
        if options.get(option):
            env[variable] = str(options[option])
    return [*command, *args], env


def run_pg(program: str, *args: str) -> str:
    """Run a PostgreSQL client tool; its standard output, or BackupError with its errors."""
    command, env = pg_command(program, *args)
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise BackupError(
            f"{program} not found: install the PostgreSQL client tools of the server's "
            "major version (Debian: postgresql-client-NN)."
        ) from exc
    if done.returncode != 0:
        detail = done.stderr.strip() or f"exit status {done.returncode}"
        raise BackupError(f"{program} failed: {detail}")
    return done.stdout


# -- backup ------------------------------------------------------------------------------


def backup_make(*, directory: Path, keep: int, now: datetime | None = None) -> Backup:
    """A backup of the configured database in `directory`, then the rotation: only the
    newest `keep` of this function's files stay there."""
    if keep < 1:
        raise BackupError("--keep must be at least 1 (the backup just made).")
    kind = database_kind()
    directory = Path(directory)
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"Cannot create the backup directory {directory}: {exc}") from exc
    stamp = timezone.localtime(now).strftime("%Y%m%d-%H%M%S")
    started = time.monotonic()
    path, partial = reserve_name(directory, stamp, SUFFIXES[kind])
    try:
        if kind == SQLITE:
            sqlite_copy(partial)
        else:
            run_pg("pg_dump", "--format=custom", f"--file={partial}", f"--dbname={pg_name()}")
        fsync(partial)
        os.replace(partial, path)
        fsync(directory)
    except OSError as exc:  # a full disk, a directory not ours
        raise BackupError(f"Cannot write the backup in {directory}: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    seconds = time.monotonic() - started
    removed = backups_rotate(directory, keep=keep, spare=path)
    return Backup(path=path, size=path.stat().st_size, seconds=seconds, removed=removed)


def reserve_name(directory: Path, stamp: str, suffix: str) -> tuple[Path, Path]:
    """A free backup name for `stamp` and its temporary file, created (empty, mode 0600):
    two runs at the same second get different names, each sorting after the one before."""
    same_second = [n for (when, n), _path in own_backups(directory) if when == stamp]
    for n in count(max(same_second) + 1 if same_second else 0):
        name = f"huiyuan-{stamp}{f'-{n}' if n else ''}{suffix}"
        path, partial = directory / name, directory / f".{name}.partial"
        if path.exists():
            continue
        try:
            os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            continue
        except OSError as exc:
            raise BackupError(f"Cannot write the backup in {directory}: {exc}") from exc
        return path, partial
    raise AssertionError("unreachable")


def pg_name() -> str:
    return str(connections[DEFAULT_DB_ALIAS].settings_dict["NAME"] or "postgres")


def sqlite_copy(target: Path) -> None:
    """The live SQLite database copied into `target` by SQLite's online backup API."""
    source_path = sqlite_path()
    if not source_path.is_file():
        raise BackupError(f"No SQLite database at {source_path}.")
    timeout = sqlite_timeout()
    try:
        # mode=rw: never create an empty database where the real one is missing.
        source = sqlite3.connect(f"{source_path.as_uri()}?mode=rw", uri=True, timeout=timeout)
        with contextlib.closing(source), contextlib.closing(sqlite3.connect(target)) as copy:
            source.backup(copy)  # all pages in one step: one consistent snapshot
            copy.execute("PRAGMA journal_mode=DELETE")  # the one file is the whole backup
            check = copy.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite backup of {source_path} failed: {exc}") from exc
    if check != "ok":
        raise BackupError(f"The copy of {source_path} failed its check: {check}")


def fsync(path: Path) -> None:
    """Flush a file (or a directory's entries) to the disk before trusting it."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def own_backups(directory: Path) -> list[tuple[tuple[str, int], Path]]:
    """The backups in `directory` named like this module's, oldest first, with their keys
    (time stamp, number within the second)."""
    own = []
    for entry in os.scandir(directory):
        match = BACKUP_NAME.match(entry.name)
        if match and entry.is_file(follow_symlinks=False):
            own.append(((match[1], int(match[2] or 0)), Path(entry.path)))
    return sorted(own)


def backups_rotate(directory: Path, *, keep: int, spare: Path | None = None) -> tuple[Path, ...]:
    """Delete the oldest backups beyond the newest `keep`: only files named like this
    module's (huiyuan-YYYYmmdd-HHMMSS.sqlite3 or .dump), never `spare`."""
    own = own_backups(directory)
    removed = []
    for _key, path in own[: max(len(own) - keep, 0)]:
        if spare is not None and path == spare:
            continue
        path.unlink(missing_ok=True)
        removed.append(path)
    return tuple(removed)


# -- restore -----------------------------------------------------------------------------


def backup_kind(path: Path) -> str | None:
    """SQLITE or POSTGRESQL by the file's first bytes; None when it is neither."""
    with open(path, "rb") as f:
        head = f.read(len(SQLITE_MAGIC))
    if head.startswith(SQLITE_MAGIC):
        return SQLITE
    if head.startswith(PG_DUMP_MAGIC):
        return POSTGRESQL
    return None


def backup_check(path: Path) -> str:
    """Refuse (BackupError) a file that cannot be restored into the configured database:
    missing, not a backup, of the other kind, damaged, or not Huiyuan's. Its kind if fine."""
    path = Path(path)
    kind = database_kind()
    try:
        found = backup_kind(path)
    except FileNotFoundError as exc:
        raise BackupError(f"No such file: {path}") from exc
    except OSError as exc:  # a directory, no permission
        raise BackupError(f"Cannot read {path}: {exc}") from exc
    if found is None:
        raise BackupError(
            f"{path} is not a backup: neither a SQLite database nor a pg_dump custom-format "
            "dump (the files `manage.py backup` writes)."
        )
    if found != kind:
        raise BackupError(
            f"{path} is a {KIND_NAMES[found]} backup but this database is "
            f"{KIND_NAMES[kind]}: restore it where DATABASE_URL names a "
            f"{KIND_NAMES[found]} database."
        )
    if kind == SQLITE:
        sqlite_check(path)
    else:
        listing = run_pg("pg_restore", "--list", str(path))  # reads the whole table of contents
        if not re.search(rf"\bTABLE \S+ {MARKER_TABLE}\b", listing):
            raise BackupError(f"{path} holds no Huiyuan data (no {MARKER_TABLE} table).")
    return kind


def sqlite_check(path: Path) -> None:
    if path.resolve() == sqlite_path():
        raise BackupError(f"{path} is the database itself.")
    try:
        with contextlib.closing(
            sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        ) as db:
            check = db.execute("PRAGMA quick_check").fetchone()[0]
            ours = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [MARKER_TABLE]
            ).fetchone()
    except sqlite3.Error as exc:
        raise BackupError(f"{path} cannot be read as a SQLite database: {exc}") from exc
    if check != "ok":
        raise BackupError(f"{path} is damaged: {check}")
    if not ours:
        raise BackupError(f"{path} holds no Huiyuan data (no {MARKER_TABLE} table).")


def backup_restore(path: Path) -> float:
    """Replace the configured database's contents with the backup at `path` (checked with
    backup_check first); the seconds it took. This process's connection is closed first."""
    path = Path(path)
    kind = backup_check(path)
    conn = connections[DEFAULT_DB_ALIAS]
    conn.close()
    started = time.monotonic()
    if kind == SQLITE:
        sqlite_restore(path)
    else:
        run_pg(
            "pg_restore",
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",  # all of it or, on any error, nothing
            f"--dbname={pg_name()}",
            str(path),
        )
    return time.monotonic() - started


def sqlite_restore(path: Path) -> None:
    target = sqlite_path()
    conn = connections[DEFAULT_DB_ALIAS]
    # The app's writers queue on its lock file (config/platform/sqlite/base.py): hold it
    # too, so none is half-way through a write when the pages are replaced.
    queue = getattr(conn, "writer_lock", contextlib.nullcontext)
    timeout = sqlite_timeout()
    try:
        with queue():
            source = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
            with (
                contextlib.closing(source),
                contextlib.closing(sqlite3.connect(target, timeout=timeout)) as live,
            ):
                source.backup(live)
    except (sqlite3.Error, OperationalError) as exc:  # OperationalError: the lock file's wait
        raise BackupError(f"Restoring {path} into {target} failed: {exc}") from exc
