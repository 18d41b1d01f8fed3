"""The fault suite's own services: a private PostgreSQL, Redis, gunicorn and qcluster.

Every fault is injected into these alone, never into the machine's shared PostgreSQL
(5432) or Redis (6379): a private cluster is made by initdb in a temporary directory and
listens on a free port; redis-server runs on another with nothing on disk; the app
runs as in production (DEBUG=false, gunicorn, the same secrets for every process) from
a temporary DATA_DIR. `Stack.close()` stops and removes all of it.

The environment and the login helper are the benchmarks' (bench/common.py): the app
under test is configured the same way in both.
"""

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bench.common import bench_env, free_port, staff_login, tail
from bench.pgcluster import Cluster

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
HOST = "127.0.0.1"
CLERK, PASSWORD = "clerk_sh01_1", "huiyuan-demo-2026"  # members/demo.py
STORE = "SH01"


class Postgres(Cluster):
    """The fault suite's clusters: small, and without fsync (a crash here is a test's
    kill, never the machine's, and the tests' speed is not what they measure)."""

    SETTINGS = {"fsync": "off", "max_connections": "60", "shared_buffers": "32MB"}


class Redis:
    """redis-server on a free port, nothing on disk; stop() and start() on the same port."""

    def __init__(self, root: Path):
        self.port = free_port()
        self.url = f"redis://{HOST}:{self.port}/0"
        self.log = root / "redis.log"
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        cmd = ["redis-server", "--bind", HOST, "--port", str(self.port), "--save", "",
               "--appendonly", "no", "--logfile", str(self.log)]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: _redis_answers(self.url), 10, "redis-server to answer")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()  # as a crash: no goodbye to the clients
            self.proc.wait()

    close = stop


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.2).ping())
    except redis.RedisError:
        return False


def wait_for(condition: Callable[[], object], timeout: float, what: str, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class Process:
    """A server of the stack (gunicorn, qcluster) in its own process group."""

    cmd: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self.cmd, cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def children(self) -> list[int]:
        """The pids of the process's children (gunicorn's workers, the cluster's processes)."""
        found = []
        for status in glob.glob("/proc/[0-9]*/status"):
            try:
                text = Path(status).read_text()
            except OSError:
                continue
            ppid = next(
                (line.split()[1] for line in text.splitlines() if line.startswith("PPid:")), ""
            )
            if self.proc and ppid == str(self.proc.pid):
                found.append(int(status.split("/")[2]))
        return sorted(found)

    def kill_all(self) -> None:
        """SIGKILL to the whole process group: a crash, no cleanup."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill_all()


@dataclass
class Stack:
    """The app as production runs it, on the test's own services."""

    root: Path
    env: dict[str, str]
    pg: Postgres | None = None
    redis: Redis | None = None
    base: str = ""
    web: Process | None = None
    cluster: Process | None = None
    api_key: str = ""
    clerk_cookie: str = ""
    stops: list[Callable[[], None]] = field(default_factory=list)

    @classmethod
    def create(
        cls, *, postgres: bool, redis: bool, members: int = 200, env: dict | None = None
    ) -> "Stack":
        root = Path(tempfile.mkdtemp(prefix="huiyuan-faults-"))
        root.chmod(0o755)  # PostgreSQL's own user walks into it
        stack = cls(root=root, env={})
        try:
            if postgres:
                stack.pg = Postgres(root)
                stack.stops.append(stack.pg.close)
            url = stack.pg.url if stack.pg else f"sqlite:///{root / 'huiyuan.sqlite3'}"
            stack.env = bench_env(root, url)
            stack.env.update({"LOG_LEVEL": "WARNING", "Q_WORKERS": "1", "Q_SYNC": "false"})
            stack.env.update(env or {})
            if redis:
                stack.redis = Redis(root)
                stack.stops.append(stack.redis.close)
                stack.env["REDIS_URL"] = stack.redis.url
            stack.manage("migrate", "--noinput")
            stack.manage("createcachetable")
            stack.manage("collectstatic", "--noinput")  # DEBUG=false: WhiteNoise's manifest
            stack.manage("seed_demo", "--members", str(members))
            done = stack.manage("create_api_key", "--store", STORE, "--name", "faults")
            stack.api_key = done.stdout.strip().splitlines()[-1].strip()
            stack.serve()
            stack.clerk_cookie = staff_login(stack.base, CLERK, PASSWORD)
        except BaseException:
            if stack.web:
                print(tail(stack.web.log, 60), file=sys.stderr)
            stack.close()
            raise
        return stack

    def manage(self, *args: str, check: bool = True, timeout: float = 600):
        done = subprocess.run([PYTHON, "manage.py", *args], cwd=REPO, env=self.env,
                              capture_output=True, text=True, timeout=timeout)  # fmt: skip
        if check and done.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)}: {done.stdout}\n{done.stderr}")
        return done

    def serve(self, workers: int = 2) -> None:
        port = free_port()
        self.base = f"http://{HOST}:{port}"
        gunicorn = str(Path(PYTHON).parent / "gunicorn")
        cmd = [gunicorn, "config.wsgi", "-w", str(workers), "-b", f"{HOST}:{port}",
               "--timeout", "30", "--graceful-timeout", "5", "--no-control-socket"]  # fmt: skip
        self.web = Process(cmd, self.env, self.root / f"gunicorn-{port}.log")
        self.web.start()
        self.stops.append(self.web.stop)
        wait_for(self._up, 60, f"gunicorn on {self.base}\n{tail(self.web.log)}", every=0.2)

    def _up(self) -> bool:
        try:
            return requests.get(f"{self.base}/healthz", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def start_cluster(self) -> Process:
        self.cluster = Process(
            [PYTHON, "manage.py", "qcluster"], self.env, self.root / "qcluster.log"
        )
        self.cluster.start()
        self.stops.append(self.cluster.stop)
        return self.cluster

    def close(self) -> None:
        for stop in reversed(self.stops):
            try:
                stop()
            except Exception as exc:  # noqa: BLE001 - the rest must stop too
                print(f"stopping: {exc}", file=sys.stderr)
        shutil.rmtree(self.root, ignore_errors=True)

    # --- the app's doors, as a POS and a clerk use them -------------------------------

    def purchase(self, ref: str, member_no: str, amount: str = "25.00", timeout: float = 10):
        return requests.post(
            f"{self.base}/api/v1/purchases",
            json={"external_ref": ref, "member_no": member_no, "amount": amount},
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=timeout,
        )

    def lookup(self, query: str, timeout: float = 10):
        return requests.get(f"{self.base}/staff/", params={"q": query},
                            headers={"Cookie": self.clerk_cookie}, allow_redirects=False,
                            timeout=timeout)  # fmt: skip

    def healthz(self, timeout: float = 10):
        return requests.get(f"{self.base}/healthz", timeout=timeout)


@dataclass
class Answer:
    kind: str
    key: str
    started: float  # monotonic
    seconds: float
    status: int  # 0: no HTTP answer (connection refused/reset, timeout)
    body: str


class Load:
    """Threads calling the app until stopped; every answer recorded with its timing."""

    def __init__(self):
        self.answers: list[Answer] = []
        self.lock = threading.Lock()
        self.running = threading.Event()
        self.threads: list[threading.Thread] = []

    def add(self, kind: str, call: Callable[[int], tuple[str, requests.Response]]) -> None:
        """call(n) -> (key, response): the n-th call of this kind."""

        def loop():
            n = 0
            while self.running.is_set():
                n += 1
                started = time.monotonic()
                try:
                    key, response = call(n)
                    status, body = response.status_code, response.text[:2000]
                except requests.RequestException as exc:
                    key, status, body = getattr(exc, "key", f"{kind}-{n}"), 0, repr(exc)
                seconds = time.monotonic() - started
                with self.lock:
                    self.answers.append(Answer(kind, key, started, seconds, status, body))
                time.sleep(0.01)

        self.threads.append(threading.Thread(target=loop, daemon=True))

    def __enter__(self) -> "Load":
        self.running.set()
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.running.clear()
        for thread in self.threads:
            thread.join(timeout=30)

    def of(self, kind: str) -> list[Answer]:
        with self.lock:
            return [a for a in self.answers if a.kind == kind]


def member_numbers(stack: Stack, count: int = 50) -> list[str]:
    """Member numbers of the POS's store (the API refuses another store's member)."""
    if stack.pg:
        rows = stack.pg.sql(
            "SELECT m.member_no FROM members_member m JOIN members_store s ON s.id = m.store_id "
            "WHERE s.code = %s ORDER BY m.id LIMIT %s",
            (STORE, count),
        )
    else:
        import sqlite3

        with sqlite3.connect(stack.root / "huiyuan.sqlite3") as db:
            rows = db.execute(
                "SELECT m.member_no FROM members_member m "
                "JOIN members_store s ON s.id = m.store_id WHERE s.code = ? ORDER BY m.id LIMIT ?",
                (STORE, count),
            ).fetchall()
    return [row[0] for row in rows]
