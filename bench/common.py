"""Helpers the benchmarks share: throwaway data, gunicorn, wrk, the result table.

Nothing here touches a developer's data: every subprocess gets an environment that
points DATA_DIR, the database, static and media files into a temporary directory,
and every load generator targets 127.0.0.1 for a bounded duration.
"""

import base64
import itertools
import json
import os
import platform
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import requests

from bench.net import HOST, free_port  # noqa: F401 - the other benchmarks import them here

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "bench" / "results"

# Fixed bench-only secrets. Seeding and serving must share them (the seed writes
# phone hashes keyed by PHONE_HASH_KEY), and DEBUG=false refuses to start without.
BENCH_SECRETS = {
    "SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789abcdefghijkl",
    "FIELD_ENCRYPTION_KEYS": base64.urlsafe_b64encode(b"huiyuan-bench-field-key-32-bytes").decode(),
    "PHONE_HASH_KEY": "huiyuan-bench-phone-hash-key-0123456789",
}


class BenchError(RuntimeError):
    """The benchmark could not measure what it claims to: stop loudly."""


def say(message: str) -> None:
    print(message, flush=True)


@contextmanager
def step(what: str) -> Iterator[None]:
    say(f"==> {what}")
    started = time.monotonic()
    yield
    say(f"    done in {time.monotonic() - started:.1f}s")


# --- The throwaway workspace ----------------------------------------------------


@dataclass
class Workspace:
    root: Path  # temporary directory: DATA_DIR, static files, logs
    db: str  # "sqlite" | "postgres"
    database_url: str
    env: dict[str, str]  # environment for every manage.py / gunicorn subprocess
    cluster: object = None  # bench.pgcluster.Cluster: the run's own PostgreSQL, if any
    workers: int = 2  # gunicorn's (python -m bench sets the deployment's count, or --workers)


def bench_env(root: Path, database_url: str) -> dict[str, str]:
    """The environment of the app under test: production-like, isolated in `root`."""
    env = dict(os.environ)
    env.update(BENCH_SECRETS)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATA_DIR": str(root),
            # Explicit values beat a developer's .env (settings read it without
            # overwriting), so the bench can never seed their database or Redis.
            "DATABASE_URL": database_url,
            "REDIS_URL": "",
            "STATIC_ROOT": str(root / "static"),
            "MEDIA_ROOT": str(root / "media"),
            "DEBUG": "false",
            "TESTING": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "false",
            "BENCH_URLS": "true",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@contextmanager
def workspace(
    db: str,
    conn_max_age: int | None = None,
    redis_url: str | None = None,
    pg_server: str | None = None,
) -> Iterator[Workspace]:
    """A temporary DATA_DIR (and, for PostgreSQL, a database of its own), removed afterwards.

    PostgreSQL is a cluster of the run's own, made by initdb in the temporary directory
    and configured by deploy/postgresql.conf, the settings production runs with
    (docs/deploy.md); `pg_server` (a URL whose database name contains "bench") measures
    on that server instead, its database dropped and made again.
    `conn_max_age` overrides the app's CONN_MAX_AGE (django-environ reads it from the
    URL's query string) for an experiment; None measures the app as configured.
    `redis_url` (an experiment) serves with Redis as cache and session store; that
    Redis database is flushed before and after.
    """
    root = Path(tempfile.mkdtemp(prefix="huiyuan-bench-"))
    cluster = None
    if db == "postgres":
        OWN_COMMANDS.add("postgres")  # its backends do the benchmark's work
        if pg_server:
            url = pg_server
            _pg_recreate(url)
        else:
            from bench.pgcluster import PRODUCTION_CONF, Cluster

            root.chmod(0o755)  # PostgreSQL's own user walks into it
            with step(f"Starting a PostgreSQL cluster of the run's own ({PRODUCTION_CONF.name})"):
                cluster = Cluster(root, conf=PRODUCTION_CONF, database="huiyuan_bench")
            url = cluster.url
    else:
        url = f"sqlite:///{root / 'huiyuan.sqlite3'}"
    say(f"Throwaway data in {root} ({db})")
    served = url if conn_max_age is None else f"{url.split('?')[0]}?conn_max_age={conn_max_age}"
    env = bench_env(root, served)
    if redis_url:
        env["REDIS_URL"] = redis_url
        _flush_redis(redis_url)
    try:
        yield Workspace(root=root, db=db, database_url=served, env=env, cluster=cluster)
    finally:
        if redis_url:
            _flush_redis(redis_url)
        if cluster is not None:
            cluster.close()
        elif db == "postgres":
            pg_run("dropdb", url, "--if-exists", "--force", check=False)
        shutil.rmtree(root, ignore_errors=True)


def _flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def pg_run(tool: str, url: str, *args: str, check: bool = True) -> None:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    cmd = [tool, "-h", parts.hostname or HOST, "-p", str(parts.port or 5432)]
    cmd += ["-U", parts.username or "postgres", *args, name]
    env = dict(os.environ)
    if parts.password:
        env["PGPASSWORD"] = parts.password
    subprocess.run(cmd, env=env, check=check)


def _pg_recreate(url: str) -> None:
    if not url.startswith(("postgres://", "postgresql://")):
        raise BenchError(f"--pg-server needs a postgres:// URL, not {url!r}")
    name = urlsplit(url).path.lstrip("/")
    # The database is dropped before and after the run: refuse any name that does
    # not say it is a bench database, so a mistyped URL cannot cost real data.
    if "bench" not in name:
        raise BenchError(
            f"refusing to drop database {name!r}: its name must contain 'bench' "
            "(e.g. --pg-server postgres://postgres@127.0.0.1:5432/huiyuan_bench)"
        )
    for tool in ("dropdb", "createdb"):
        if not shutil.which(tool):
            raise BenchError(f"{tool} not found: apt-get install -y postgresql-client")
    ensure = REPO / "scripts" / "ensure-postgres"
    if ensure.exists():
        subprocess.run([str(ensure)], check=True)
    pg_run("dropdb", url, "--if-exists", "--force")
    pg_run("createdb", url)


def warm_cache(ws: Workspace) -> None:
    """Read the SQLite database once, so the OS has it in its page cache.

    A server in service has its hot data cached; a throwaway database that sat idle
    (or a host that reclaims idle page cache) would otherwise make the first seconds
    of a measurement wait on the disk. PostgreSQL keeps its own buffers: not done.
    """
    if ws.db != "sqlite":
        return
    files = [str(p) for p in (ws.root / "huiyuan.sqlite3", ws.root / "huiyuan.sqlite3-wal")]
    # In another process: closing a file descriptor of the database in this one would
    # drop the POSIX locks of this process's own SQLite connection (the runner reads
    # the database too), and a lost lock lets another connection reset the WAL under
    # it: "database disk image is malformed".
    subprocess.run(["cat", *[f for f in files if Path(f).exists()]], stdout=subprocess.DEVNULL)


def manage(ws: Workspace, *args: str) -> None:
    """Run a manage.py command against the throwaway database; its output streams through."""
    subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=ws.env, check=True)


def manage_output(ws: Workspace, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run a manage.py command against the throwaway database and capture what it says.

    The caller judges the exit status (check_ledger exits 1 on purpose)."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=ws.env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# --- Django in this process (for the demo data's pure functions and checks) -----


def django_setup(ws: Workspace) -> None:
    """Load the app's settings in the runner with the bench environment (once)."""
    import django
    from django.conf import settings

    if settings.configured:
        return
    os.environ.update(ws.env)
    django.setup()


# --- gunicorn --------------------------------------------------------------------


@contextmanager
def gunicorn(ws: Workspace, workers: int | None = None) -> Iterator[str]:
    """Serve config.wsgi on a free 127.0.0.1 port (`workers`, else the workspace's);
    yields the base URL; always stops it."""
    workers = workers or ws.workers
    port = free_port()
    log = server_log(ws, f"http://{HOST}:{port}")
    binary = Path(sys.executable).parent / "gunicorn"
    cmd = [str(binary), "config.wsgi", "-w", str(workers), "-b", f"{HOST}:{port}"]
    cmd += _no_control_socket(str(binary))
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=ws.env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://{HOST}:{port}"
    try:
        _wait_until_up(proc, base, log)
        yield base
    finally:
        _stop(proc)


@cache
def _no_control_socket(binary: str) -> list[str]:
    # gunicorn 24+ opens a control socket at one fixed path in $HOME by default:
    # a throwaway server must not take it from a developer's own gunicorn.
    shown = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=60)
    return ["--no-control-socket"] if "--no-control-socket" in shown.stdout else []


def server_log(ws: Workspace, base: str) -> Path:
    """Where the gunicorn serving `base` writes its errors (tracebacks of HTTP 500s)."""
    return ws.root / f"gunicorn-{urlsplit(base).port}.log"


def count_in_log(path: Path, text: str) -> int:
    try:
        return path.read_text(errors="replace").count(text)
    except OSError:
        return 0


def _wait_until_up(proc: subprocess.Popen, base: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"gunicorn exited ({proc.returncode}):\n{tail(log)}")
        try:
            if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            # Not listening yet, or listening while the workers still import Django
            # (seconds on a busy machine): the master accepts, nobody answers yet.
            pass
        time.sleep(0.2)
    raise BenchError(f"gunicorn did not answer /healthz within {timeout:.0f}s:\n{tail(log)}")


def _stop(proc: subprocess.Popen) -> None:
    # SIGTERM lets the master stop its workers; SIGKILL only if it hangs.
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- HTTP helpers --------------------------------------------------------------------


def staff_login(base: str, username: str, password: str) -> str:
    """A real login through the server; returns the `Cookie` header value of the session.

    Cookies are handled by hand: with DEBUG=false they are Secure, and an HTTP client
    would (rightly) not send them back over plain http to 127.0.0.1.
    """
    page = requests.get(f"{base}/accounts/login/", timeout=10)
    page.raise_for_status()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    csrf = page.cookies.get("csrftoken")
    if not token or not csrf:
        raise BenchError("login page has no CSRF token")
    answer = requests.post(
        f"{base}/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token[1]},
        headers={"Cookie": f"csrftoken={csrf}"},
        allow_redirects=False,
        timeout=30,
    )
    session = answer.cookies.get("sessionid")
    if answer.status_code != 302 or not session:
        raise BenchError(f"login as {username} failed (HTTP {answer.status_code})")
    return f"sessionid={session}"


def get(base: str, path: str, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.get(f"{base}{path}", headers=headers or {}, allow_redirects=False, timeout=30)


# --- A quiet machine ---------------------------------------------------------------------

QUIET = 0.15  # share of all CPUs that other processes may use during a measurement
QUIET_PATIENCE = 30  # seconds to wait for a quiet machine before measuring anyway
ATTEMPTS = 2  # a measurement disturbed by other processes is made once more, at most
# Processes that work for the benchmark without being the runner's children: wrk
# (short-lived anyway) and, for --db postgres, the PostgreSQL server's backends.
OWN_COMMANDS = {"wrk"}


def _processes() -> dict[int, tuple[int, str, int, int]]:
    """{pid: (parent pid, command, start time, CPU ticks used)} of every process (Linux)."""
    found = {}
    with suppress(OSError):
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                text = (entry / "stat").read_text()
            except OSError:
                continue  # ended meanwhile
            comm = text[text.index("(") + 1 : text.rindex(")")]
            # After the command: state ppid ... utime(11) stime(12) ... starttime(19)
            fields = text[text.rindex(")") + 2 :].split()
            ticks = int(fields[11]) + int(fields[12])
            found[int(entry.name)] = (int(fields[1]), comm, int(fields[19]), ticks)
    return found


def _descendants(processes: dict[int, tuple], root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, *_rest) in processes.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = {root}, [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


class CpuWatch:
    """Share of all CPUs that processes other than the benchmark's used meanwhile.

    Ours are the runner and its descendants (gunicorn and its workers, manage.py
    commands) and OWN_COMMANDS. On a shared machine a test suite in another shell
    halves a figure; this says so instead of letting it pass for a slow server.
    """

    share = 0.0

    def __enter__(self) -> "CpuWatch":
        self._start = _processes()
        self._clock = time.monotonic()
        return self

    def __exit__(self, *exc) -> None:
        end = _processes()
        elapsed = time.monotonic() - self._clock
        ours = _descendants(end, os.getpid())
        other = 0
        for pid, (_ppid, comm, started, ticks) in end.items():
            if pid in ours or comm in OWN_COMMANDS:
                continue
            before = self._start.get(pid)
            # A process that started meanwhile counts from zero (a reused pid too).
            other += ticks - (before[3] if before and before[2] == started else 0)
        capacity = elapsed * os.sysconf("SC_CLK_TCK") * (os.cpu_count() or 1)
        self.share = round(other / capacity, 3) if capacity > 0 else 0.0


def wait_until_quiet() -> None:
    """Wait (at most QUIET_PATIENCE) until other processes leave the CPUs alone."""
    deadline = time.monotonic() + QUIET_PATIENCE
    with CpuWatch() as watch:
        time.sleep(1)
    if watch.share > QUIET:
        say(
            f"    other processes use {watch.share:.0%} of the CPUs: waiting up to "
            f"{QUIET_PATIENCE}s for them"
        )
    while watch.share > QUIET and time.monotonic() < deadline:
        with CpuWatch() as watch:
            time.sleep(2)


# --- wrk -------------------------------------------------------------------------------


def ensure_wrk() -> str:
    """Path of wrk, installed from Debian's packages when missing (we are root)."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise BenchError("wrk is not installed: sudo apt-get install -y wrk")
    say("wrk not found: installing it (apt-get install -y wrk)")
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    if subprocess.run(install, stdout=subprocess.DEVNULL).returncode != 0:
        say("    apt-get install failed: running apt-get update and trying again")
        subprocess.run(["apt-get", "update", "-q"], stdout=subprocess.DEVNULL, check=True)
        subprocess.run(install, stdout=subprocess.DEVNULL, check=True)
    found = shutil.which("wrk")
    if not found:
        raise BenchError("wrk is still missing after apt-get install")
    return found


@dataclass
class Load:
    """How hard and how long wrk drives a server."""

    threads: int = 2
    connections: int = 16
    duration: str = "15s"
    warmup: str = "3s"  # run first, discarded: imports, templates, connections, caches


# Every script shares this frame: per-thread counters of answers that were what
# the benchmark expects (`ok`) and that were not (`bad`, of which `s5xx` server
# errors), summed in done() and reported as one JSON line (microseconds), which is
# easier to parse than wrk's text. A request that times out or whose connection
# fails gets no response() call: wrk counts it in summary.errors (socket_errors).
LUA_FRAME = """\
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  -- Each thread draws from its own random sequence; `prefix` (the script's
  -- argument, different for every wrk run) keeps generated references unique.
  math.randomseed(7919 + id)
  prefix = args[1] or "run"
  sent, ok, bad, s5xx = 0, 0, 0, 0
end

function count(good, status)
  if good then ok = ok + 1 else bad = bad + 1 end
  if status >= 500 then s5xx = s5xx + 1 end
end

function done(summary, latency, requests)
  local n = {ok = 0, bad = 0, s5xx = 0}
  for _, t in ipairs(threads) do
    for k, v in pairs(n) do n[k] = v + t:get(k) end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH-JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, '
    .. '"p99_us": %d, "max_us": %d, "ok": %d, "bad": %d, "s5xx": %d, "socket_errors": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, n.ok, n.bad, n.s5xx,
    e.connect + e.read + e.write + e.timeout))
end

"""

# GET: every response that is not a 200 carrying `marker` is bad, so a login
# redirect or a "no match" page cannot pass for a fast lookup.
_LUA_GET = """\
local paths = {PATHS}
local marker = MARKER

function request()
  return wrk.format(nil, paths[math.random(#paths)])
end

function response(status, headers, body)
  count(status == 200 and string.find(body, marker, 1, true) ~= nil, status)
end
"""

# POST: a JSON body per request from TEMPLATE, filled with a reference unique per
# run, thread and request, a key drawn from KEYS (members), and a random amount in
# yuan (integer and fen parts); only EXPECTED counts as ok.
_LUA_POST = """\
local path = PATH
local keys = {KEYS}
local template = TEMPLATE
local expected = EXPECTED

function request()
  sent = sent + 1
  local fen = math.random(1500, 30000)
  local ref = prefix .. "-" .. id .. "-" .. sent
  local body = string.format(
    template, ref, keys[math.random(#keys)], math.floor(fen / 100), fen % 100)
  return wrk.format("POST", path, nil, body)
end

function response(status, headers, body)
  count(status == expected, status)
end
"""


def lua_string(text: str) -> str:
    # A JSON string of ASCII text is a valid Lua string literal (JSON's \\u escapes are not).
    if not text.isascii():
        raise BenchError(f"wrk scripts take ASCII only: {text!r}")
    return json.dumps(text)


def lua_list(items: list[str]) -> str:
    """Lua table items: each a string literal, one a line."""
    return "\n  " + ",\n  ".join(lua_string(i) for i in items) + "\n"


def write_wrk_script(path: Path, paths: list[str], marker: str) -> Path:
    """A wrk script requesting `paths` at random and checking each body for `marker`."""
    # The data last, into its own slot only (see bench.coupons.write_wrk_sequence_script).
    body = _LUA_GET.replace("MARKER", lua_string(marker)).replace("PATHS", lua_list(paths), 1)
    path.write_text(LUA_FRAME + body)
    return path


def write_wrk_post_script(
    path: Path, *, url_path: str, keys: list[str], template: str, expected: int
) -> Path:
    """A wrk script POSTing `template` % (unique ref, random key, yuan, fen) to `url_path`."""
    if template.count("%s") != 2 or template.count("%d") != 1 or template.count("%02d") != 1:
        raise BenchError(f"template needs %s (ref), %s (key), %d.%02d (amount): {template!r}")
    body = (
        _LUA_POST.replace("PATH", lua_string(url_path))
        .replace("TEMPLATE", lua_string(template))
        .replace("EXPECTED", str(int(expected)))
        .replace("KEYS", lua_list(keys), 1)  # the data last, into its own slot only
    )
    path.write_text(LUA_FRAME + body)
    return path


@dataclass
class Figure:
    """One wrk measurement (the warm-up run before it is not counted)."""

    label: str
    requests: int
    seconds: float
    rps: float  # answers the script accepted per second: errors are not throughput
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int  # answers the script did not accept, plus socket errors and timeouts
    server_errors: int  # of which HTTP 5xx (e.g. "database is locked")
    socket_errors: int
    ok: int  # accepted answers in the measured run
    ok_total: int  # ... in every run (warm-up, repeats): what the server must have stored
    errors_elsewhere: int  # errors in the warm-up and in repeats that were not kept
    background: float  # share of the CPUs other processes used during the measured run
    attempts: int  # measurements made (repeated when other processes disturbed one)


_runs = itertools.count(1)
# In every reference a script generates: unique to this runner process, so that
# no two runs' writes meet even in one database.
RUN_TAG = secrets.token_hex(3)


def run_wrk(
    base: str,
    script: Path,
    label: str,
    load: Load,
    headers: dict[str, str] | None = None,
    *,
    allow_errors: bool = False,
) -> Figure:
    """Warm up, then measure (again, up to ATTEMPTS, while other processes disturb it).

    Any error fails the benchmark unless `allow_errors`; then errors are counted in
    the figure for a goal to judge, those of the warm-up and of repeats included.
    """
    run = next(_runs)
    warm, _ = wrk_once(base, script, load, load.warmup, headers, f"{label}-{RUN_TAG}-{run}w")
    ok_total, errors_total, kept = warm["ok"], wrk_errors(warm), None
    for attempt in range(1, ATTEMPTS + 1):
        wait_until_quiet()
        prefix = f"{label}-{RUN_TAG}-{run}m{attempt}"
        with CpuWatch() as watch:
            data, output = wrk_once(base, script, load, load.duration, headers, prefix)
        ok_total += data["ok"]
        errors_total += wrk_errors(data)
        if kept is None or watch.share < kept[2]:
            kept = (data, output, watch.share)
        if watch.share <= QUIET:
            break
        if attempt < ATTEMPTS:
            say(f"    {label}: other processes used {watch.share:.0%} of the CPUs: measuring again")
    data, output, background = kept
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"wrk-{label}.txt").write_text(output)
    if errors_total and not allow_errors:
        raise BenchError(
            f"{label}: {errors_total} responses were not what was expected or failed "
            f"(last run: {data['s5xx']} HTTP 5xx, {data['socket_errors']} socket errors/timeouts)"
        )
    return figure_of(label, data, ok_total, errors_total, background, attempt)


def figure_of(
    label: str, data: dict, ok_total: int, errors_total: int, background: float, attempts: int
) -> Figure:
    """The Figure of one wrk run's BENCH-JSON `data` (the others' totals beside it)."""
    seconds = data["duration_us"] / 1e6
    return Figure(
        label=label,
        requests=data["requests"],
        seconds=round(seconds, 2),
        rps=round(data["ok"] / seconds, 1),
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        errors=wrk_errors(data),
        server_errors=data["s5xx"],
        socket_errors=data["socket_errors"],
        ok=data["ok"],
        ok_total=ok_total,
        errors_elsewhere=errors_total - wrk_errors(data),
        background=background,
        attempts=attempts,
    )


def wrk_errors(data: dict) -> int:
    return data["bad"] + data["socket_errors"]


def wrk_once(base, script, load, duration, headers, prefix) -> tuple[dict, str]:
    """One wrk run of `script`: its BENCH-JSON figures and wrk's whole output."""
    cmd = [ensure_wrk(), f"-t{load.threads}", f"-c{load.connections}", f"-d{duration}"]
    cmd += ["--latency", "--timeout", "10s", "-s", str(script)]
    for name, value in (headers or {}).items():
        cmd += ["-H", f"{name}: {value}"]
    if not base.startswith(f"http://{HOST}:"):
        raise BenchError(f"wrk only targets {HOST}, not {base}")
    cmd += [base + "/", "--", prefix]
    # wrk stops by itself after -d; the timeout is a guard against a hung server.
    done = subprocess.run(
        cmd, capture_output=True, text=True, timeout=duration_seconds(duration) + 120
    )
    if done.returncode:
        raise BenchError(f"wrk exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr}")
    found = re.search(r"^BENCH-JSON (\{.*\})$", done.stdout, re.M)
    if not found:
        raise BenchError(f"could not read wrk's output:\n{done.stdout}\n{done.stderr}")
    return json.loads(found[1]), done.stdout


def duration_seconds(duration: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return float(duration[:-1]) * units[duration[-1]] if duration[-1] in units else float(duration)


@dataclass
class Timing:
    """One timed operation, e.g. a command over the whole ledger (the best of `runs`)."""

    label: str
    seconds: float
    runs: int = 1
    background: float = 0.0  # share of the CPUs other processes used during the kept run


def timed(label: str, func, runs: int = 1) -> Timing:
    """Best of `runs` quiet runs of func() (up to ATTEMPTS more while others disturb them)."""
    kept: list[tuple[float, float]] = []  # (seconds, background) of each quiet-enough run
    for _ in range(runs + ATTEMPTS - 1):
        wait_until_quiet()
        with CpuWatch() as watch:
            started = time.monotonic()
            func()
            took = time.monotonic() - started
        kept.append((took, watch.share))
        if sum(1 for _s, share in kept if share <= QUIET) >= runs:
            break
    quiet = [k for k in kept if k[1] <= QUIET] or kept
    seconds, background = min(quiet)
    return Timing(label=label, seconds=round(seconds, 2), runs=len(kept), background=background)


def deployed_workers(database_url: str) -> int:
    """gunicorn's workers as deploy/gunicorn.conf.py chooses them for this database and
    this machine's cores (the file is read as gunicorn reads it; WEB_CONCURRENCY aside)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("deploy_gunicorn_conf", GUNICORN_CONF)
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    return conf.workers_for(database_url, conf.cores())


GUNICORN_CONF = REPO / "deploy" / "gunicorn.conf.py"


# --- Data in bulk -------------------------------------------------------------------------


def numbers_sql(count: int) -> str:
    """A derived table of one column `n`, the numbers 1..count (both databases)."""
    return " UNION ALL ".join(f"SELECT {n} AS n" for n in range(1, count + 1))


def insert_select_sql(model, chosen: dict[str, tuple[str, list]], source: str) -> tuple[str, list]:
    """`INSERT INTO <model's table> (...) SELECT ... FROM <source>`: the `chosen` columns
    as their SQL expression (with its parameters), every other column but the primary
    key NULL, its database default or its model default, so a column added later needs
    no change here unless it has none of them. Returns (sql, parameters before the source's own)."""
    from django.db import connection

    ops = connection.ops
    columns, values, params = [], [], []
    for column in model._meta.concrete_fields:
        if column.primary_key:
            continue
        if column.column not in chosen and column.has_db_default():
            continue  # left out: the database fills in its own default
        columns.append(ops.quote_name(column.column))
        if column.column in chosen:
            expr, args = chosen[column.column]
        elif column.null:
            expr, args = "NULL", []
        elif column.get_default() is not None:  # a default, or "" for text
            expr, args = "%s", [column.get_db_prep_save(column.get_default(), connection)]
        else:
            raise BenchError(f"{model.__name__}.{column.name} has no default: choose a value")
        values.append(expr)
        params += args
    table = ops.quote_name(model._meta.db_table)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(values)} FROM {source}"
    return sql, params


def in_card_batches(write, batch: int = 50_000) -> None:
    """write(cursor, lo, hi) in a transaction of its own for each range of `batch` card
    ids, the cards' whole range over; a loading database: durability traded for speed."""
    from django.db import connection, transaction

    from loyalty.models import Card

    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.execute("PRAGMA cache_size=-1000000")
        else:
            cursor.execute("SET synchronous_commit = off")
    ids = Card.objects.order_by("pk").values_list("pk", flat=True)
    first, last = ids.first(), ids.last()
    if first is None:
        raise BenchError("no cards to write rows for")
    for lo in range(first, last + 1, batch):
        hi = lo + batch - 1
        with transaction.atomic(), connection.cursor() as cursor:
            write(cursor, lo, hi)
        if (lo - first) // batch % 4 == 3:
            say(f"    ... members up to id {hi:,}")


def database_size_note(top: int = 5) -> str:
    """The database's size and, on PostgreSQL, its largest tables (indexes included)."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.execute("PRAGMA page_count")
            pages = cursor.fetchone()[0]
            cursor.execute("PRAGMA page_size")
            return f"database file: {pages * cursor.fetchone()[0] / 2**30:.2f} GiB"
        cursor.execute("SELECT pg_database_size(current_database())")
        total = cursor.fetchone()[0]
        cursor.execute(
            "SELECT relname, pg_total_relation_size(oid), pg_indexes_size(oid) FROM pg_class "
            "WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace "
            "ORDER BY 2 DESC LIMIT %s",
            [top],
        )
        tables = ", ".join(
            f"{name} {size / 2**30:.2f} GiB ({indexes / 2**30:.2f} of it indexes)"
            for name, size, indexes in cursor.fetchall()
        )
    return f"database: {total / 2**30:.2f} GiB; largest: {tables}"


# --- Results ------------------------------------------------------------------------------


@dataclass
class Count:
    """Instructions per request, counted by callgrind: the same whatever else runs."""

    label: str
    millions: float  # instructions per request, in millions
    requests: int
    background: float = 0.0  # kept for print_result's check: a count is never disturbed


@dataclass
class Goal:
    label: str  # e.g. "ratio >= 0.5"
    value: float
    met: bool


@dataclass
class Result:
    name: str
    title: str
    subject: Figure | Timing | Count
    baseline: Figure | Timing | Count
    goals: list[Goal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        """Throughput: subject req/s over baseline req/s (1 = as fast as the baseline).
        Time: subject seconds over baseline seconds (1 = as fast, 3 = three times slower)."""
        if isinstance(self.subject, Timing):
            return self.subject.seconds / self.baseline.seconds if self.baseline.seconds else 0.0
        if isinstance(self.subject, Count):  # as req/s compare: the baseline's cost over ours
            return self.baseline.millions / self.subject.millions if self.subject.millions else 0.0
        return self.subject.rps / self.baseline.rps if self.baseline.rps else 0.0


def print_result(result: Result) -> None:
    subject, baseline = result.subject, result.baseline
    labels = [subject.label, baseline.label] + [f"goal {g.label}" for g in result.goals]
    width = max(24, *(len(label) + 2 for label in labels))
    say("")
    say(f"{result.title}")
    if isinstance(subject, Timing):
        say(f"  {'':<{width}}{'seconds':>10}{'other CPU':>11}")
        for t in (subject, baseline):
            best = f"  best of {t.runs} runs" if t.runs > 1 else ""
            say(f"  {t.label:<{width}}{t.seconds:>10.2f}{t.background:>11.0%}{best}")
        ratio = "time ratio"
    elif isinstance(subject, Count):
        say(f"  {'':<{width}}{'M instr':>10}{'requests':>10}")
        for c in (subject, baseline):
            say(f"  {c.label:<{width}}{c.millions:>10.2f}{c.requests:>10}")
        ratio = "ratio"
    else:
        say(
            f"  {'':<{width}}{'req/s':>10}{'p50 ms':>10}{'p90 ms':>10}{'p99 ms':>10}"
            f"{'errors':>8}{'other CPU':>11}"
        )
        for fig in (subject, baseline):
            say(
                f"  {fig.label:<{width}}{fig.rps:>10.1f}{fig.p50_ms:>10.2f}{fig.p90_ms:>10.2f}"
                f"{fig.p99_ms:>10.2f}{fig.errors:>8}{fig.background:>11.0%}"
            )
        ratio = "ratio"
    say(f"  {ratio:<{width}}{result.ratio:>10.2f}  ({subject.label} / {baseline.label})")
    for goal in result.goals:
        label = f"goal {goal.label}"
        say(f"  {label:<{width}}{goal.value:>10.2f}  {'PASS' if goal.met else 'MISS'}")
    for t in (subject, baseline):
        if t.background > QUIET:
            say(f"  WARNING: other processes used {t.background:.0%} of the CPUs during {t.label}")
    for note in result.notes:
        say(f"  {note}")


def machine() -> dict:
    cpu = ""
    with suppress(OSError, TypeError):  # not Linux, or no model name: leave it blank
        cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())[1]
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "wrk": _first_line(["wrk", "-v"]),
        "commit": _first_line(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]),
    }


def _first_line(cmd: list[str]) -> str:
    # Informational only: a missing tool leaves the field blank rather than failing.
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except OSError:
        return ""
    return (done.stdout or done.stderr).strip().split("\n")[0]


def write_results(meta: dict, results: list[Result]) -> Path:
    """bench/results/latest.json (git-ignored): the run's settings, machine and figures."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / "latest.json"
    # ... and a copy per kind of run, so the SQLite and PostgreSQL figures both stay.
    kind = f"{meta['db']}{'-quick' if meta['quick'] else ''}"
    payload = {
        **meta,
        "machine": machine(),
        "results": [{**asdict(r), "ratio": round(r.ratio, 3)} for r in results],
    }
    text = json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
    path.write_text(text)
    (RESULTS_DIR / f"{kind}.json").write_text(text)
    return path
