"""A PostgreSQL cluster of one's own: initdb in a directory, started on a free port.

The benchmarks measure PostgreSQL as deploy/postgresql.conf configures it (the settings
docs/deploy.md installs), not as whatever server the machine happens to run; the fault
suite (tests/faults/harness.py) injects its faults into clusters of its own. Both make
them here. The server binaries are Debian's (package postgresql); PostgreSQL refuses to
run as root, so as root its tools run as the user postgres.
"""

import contextlib
import glob
import os
import shutil
import subprocess
from pathlib import Path

import psycopg

from bench.net import HOST, free_port

REPO = Path(__file__).resolve().parent.parent
PRODUCTION_CONF = REPO / "deploy" / "postgresql.conf"


def as_postgres() -> list[str]:
    """PostgreSQL's tools refuse to run as root: as its own user then."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


class Cluster:
    """initdb, start, stop, restart, SQL, kill backends; `close()` stops it at once.

    `conf`: a settings file included by the cluster's postgresql.conf (copied beside it);
    `settings`: `-c name=value` options on the server's command line, over the file.
    """

    SETTINGS: dict[str, str] = {}

    def __init__(
        self,
        root: Path,
        *,
        primary: "Cluster | None" = None,
        conf: Path | None = None,
        settings: dict[str, str] | None = None,
        database: str = "huiyuan",
    ):
        """A new cluster in root/pg, or (`primary`) a streaming standby of that one in
        root/standby: pg_basebackup -R, started in recovery, following it."""
        versions = sorted(
            glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[4])
        )
        if not versions:
            raise RuntimeError("PostgreSQL's server binaries are not installed")
        self.bin = Path(versions[-1])
        self.version = int(str(self.bin).split("/")[4])
        self.dir = root / ("standby" if primary else "pg")
        self.dir.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self.data, self.log = self.dir / "data", self.dir / "server.log"
        self.port = free_port()
        self.database = database
        self.url = f"postgres://postgres@{HOST}:{self.port}/{database}"
        self.settings = {**self.SETTINGS, **(settings or {})}
        if primary is not None:
            self._tool("pg_basebackup", "-D", str(self.data), "-R", "-X", "stream", "-c", "fast",
                       "-h", HOST, "-p", str(primary.port), "-U", "postgres")  # fmt: skip
            self.start()
            return
        self._tool("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
                   "-E", "UTF8", "--locale=C", "--no-sync")  # fmt: skip
        if conf is not None:
            self._include(conf)
        self.start()
        try:
            self.sql(f'CREATE DATABASE "{database}"', db="postgres")
        except BaseException:
            self.close()  # started: never leave a server behind
            raise

    def _include(self, conf: Path) -> None:
        target = self.data / "huiyuan.conf"
        shutil.copyfile(conf, target)
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as main:
            main.write("\ninclude 'huiyuan.conf'\n")
        if os.geteuid() == 0:
            shutil.chown(target, "postgres", "postgres")

    def _tool(self, name: str, *args: str, timeout: float = 60) -> None:
        subprocess.run([*as_postgres(), str(self.bin / name), *args], check=True,
                       capture_output=True, timeout=timeout, cwd=self.dir)  # fmt: skip

    def _ctl(self, action: str, *args: str) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses={HOST}"
        options += "".join(f" -c {name}={value}" for name, value in self.settings.items())
        self._tool("pg_ctl", action, "-D", str(self.data), "-l", str(self.log), "-w",
                   "-t", "60", "-o", options, *args, timeout=90)  # fmt: skip

    def start(self) -> None:
        self._ctl("start")

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast")

    def restart(self) -> None:
        self._ctl("restart", "-m", "fast")

    def sql(self, statement: str, params=None, db: str | None = None) -> list[tuple]:
        url = f"postgres://postgres@{HOST}:{self.port}/{db or self.database}"
        with psycopg.connect(url, autocommit=True) as connection:
            cursor = connection.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def setting(self, name: str) -> str:
        return self.sql("SELECT current_setting(%s)", [name])[0][0]

    def kill_backends(self) -> int:
        """pg_terminate_backend on every connection to the app's database but this one."""
        rows = self.sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            [self.database],
        )
        return len(rows)

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self._ctl("stop", "-m", "immediate")
