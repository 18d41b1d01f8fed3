"""Benchmark "instructions": what a counter lookup costs, counted, not timed.

The served lookup benchmark moves with the machine (a shared VM ran at half its speed
on some nights, and hello with it); a change of a few per cent is lost in that. This
one counts the instructions a request executes with valgrind's callgrind, which gives
the same count whatever else the machine is doing: the lookup (`GET /staff/?q=<phone>`,
htmx, as the bench clerk: the lookup benchmark's request) and hello (`/bench/hello`),
each through the WSGI handler in one process, as gunicorn calls it (no server, no
load generator: those add about the same to both when served).

Each figure is the count of a run with WARMUP + REQUESTS requests minus a run with the
WARMUP only (Django's start-up, the first requests' imports and caches cancel out),
divided by REQUESTS. The ratio is hello's count over the lookup's: the share of
hello's speed the lookup would have if serving cost nothing; served, the ratio is
higher (docs/benchmarks.md). Four valgrind runs, two at a time: a few minutes.
"""

import json
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from bench.common import REPO, BenchError, Count, Result, Workspace, django_setup, say
from bench.lookup import CLERK, MARKER, pick_members

SEEDED = True  # uses the seeded demo members and the bench clerk
TITLE = "member lookup vs hello world, instructions per request (callgrind, in process)"
WARMUP = 50
REQUESTS = 300

DRIVER = r"""
import io, json, sys
import django
django.setup()
from django.core.wsgi import get_wsgi_application
from django.test import Client
from members.models import User

kind, warmup, count, phones_file, clerk, marker = sys.argv[1:7]
phones = json.load(open(phones_file))
app = get_wsgi_application()
client = Client()
client.force_login(User.objects.get(username=clerk))
cookie = "; ".join(f"{k}={v.value}" for k, v in client.cookies.items())
seen = {}

def start_response(status, headers, exc_info=None):
    seen["status"] = status

def call(i):
    if kind == "lookup":
        path, query = "/staff/", "q=" + phones[i % len(phones)]
    else:
        path, query = "/bench/hello", ""
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "443", "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1", "HTTP_COOKIE": cookie, "HTTP_HX_REQUEST": "true",
        "wsgi.url_scheme": "https", "wsgi.input": io.BytesIO(b""),
    }
    return b"".join(app(environ, start_response))

body = call(0).decode()
expected = marker if kind == "lookup" else "hello"
if not seen["status"].startswith("200") or expected not in body:
    sys.exit(f"{kind}: {seen['status']} without {expected!r}: {body[:300]}")
for i in range(1, int(warmup) + int(count)):
    call(i)
"""


def run(ctx) -> Result:
    ws: Workspace = ctx.ws
    valgrind = _ensure_valgrind()
    django_setup(ws)
    phones = [phone for phone, _no in pick_members(ws, ctx.members)]
    (ws.root / "phones.json").write_text(json.dumps(phones))
    (ws.root / "instructions_driver.py").write_text(DRIVER)
    runs = [(kind, count) for kind in ("lookup", "hello") for count in (0, REQUESTS)]
    say(f"    callgrind x{len(runs)}: lookup and hello, {WARMUP} + {REQUESTS} requests each")
    with ThreadPoolExecutor(max_workers=2) as pool:
        counts = dict(zip(runs, pool.map(lambda r: _count(ws, valgrind, *r), runs), strict=True))
    lookup, hello = (
        Count(kind, (counts[kind, REQUESTS] - counts[kind, 0]) / REQUESTS / 1e6, REQUESTS)
        for kind in ("lookup", "hello")
    )
    return Result(
        name="instructions",
        title=f"{TITLE} ({ctx.members:,} members, {ws.db})",
        subject=lookup,
        baseline=hello,
        notes=[
            f"as {CLERK}, {len(phones)} different phones; the ratio is hello's count over "
            "the lookup's (served, gunicorn and wrk add to both a share that depends on "
            "the machine's night: see docs/benchmarks.md)",
        ],
    )


def _count(ws: Workspace, valgrind: str, kind: str, count: int) -> int:
    out = ws.root / f"callgrind-{kind}-{count}.out"
    done = subprocess.run(
        [valgrind, "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
         str(ws.root / "instructions_driver.py"), kind, str(WARMUP), str(count),
         str(ws.root / "phones.json"), CLERK, MARKER],
        cwd=REPO, env={**ws.env, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or not found:
        raise BenchError(f"callgrind {kind} x{count} failed: {done.stderr[-2000:]}")
    return int(found[1])


def _ensure_valgrind() -> str:
    found = shutil.which("valgrind")
    if found:
        return found
    say("valgrind not found: installing it (apt-get install -y valgrind)")
    subprocess.run(["apt-get", "install", "-y", "-q", "valgrind"], check=False)
    found = shutil.which("valgrind")
    if not found:
        raise BenchError("valgrind is not installed: sudo apt-get install -y valgrind")
    return found
