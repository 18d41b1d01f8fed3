"""The read replica (members/replica.py): which reads go where.

In this process there is no replica (config/settings.py leaves DATABASE_REPLICA_URL
out under pytest): the router and the switch are tested as units. The routing itself
is tested in processes started with two SQLite databases, a "primary" and a "replica"
that hold different members (3 and 7): whatever a read counts tells which database it
came from. Both are copies of this session's migrated test database (a replica gets its
schema from the primary). A last process points the replica at a closed port: the
reads fall back to the primary.
"""

import asyncio
import json
import logging
import os
import sqlite3
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, OperationalError, connection
from django.http import StreamingHttpResponse
from django.template import engines
from django.template.response import TemplateResponse
from django.test import RequestFactory

from members import replica
from members.replica import REPLICA, ReplicaRouter, from_replica, reading_from_replica

ROOT = Path(__file__).resolve().parent.parent
LEAKED = (
    "DATABASE_URL",
    "DATABASE_REPLICA_URL",
    "DEBUG",
    "TESTING",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "REDIS_URL",
    "SQLITE_TEST_NAME",
)
CLOSED_PORT = "postgres://postgres@127.0.0.1:1/huiyuan"  # refused at once


# --- the switch and the router, in this process ---------------------------------------


class Probe:
    """Rendered (str) or iterated: records whether the replica switch was on then."""

    def __init__(self):
        self.seen = []

    def __str__(self):
        self.seen.append(reading_from_replica())
        return "probe"


@pytest.fixture
def router(monkeypatch):
    """The router with a replica alias that is configured and reachable (by default)."""
    monkeypatch.setattr(replica, "configured", lambda: True)
    monkeypatch.setattr(replica, "replica_available", lambda: True)
    return ReplicaRouter()


def test_the_switch_is_on_only_inside_and_nests():
    assert not reading_from_replica()
    with from_replica():
        assert reading_from_replica()
        with from_replica():
            assert reading_from_replica()
        assert reading_from_replica()
    assert not reading_from_replica()


def test_the_switch_is_turned_off_by_an_exception():
    with pytest.raises(ValueError), from_replica():
        raise ValueError
    assert not reading_from_replica()


def test_reads_outside_the_switch_are_left_to_django(router):
    assert router.db_for_read(None) is None


def test_reads_inside_go_to_the_replica(router):
    with from_replica():
        assert router.db_for_read(None) == REPLICA


def test_without_a_replica_alias_nothing_is_routed():
    with from_replica():
        assert ReplicaRouter().db_for_read(None) is None  # no alias in this process
    assert REPLICA not in settings.DATABASES and settings.DATABASE_ROUTERS == []


def test_an_unreachable_replica_sends_the_reads_to_the_primary(router, monkeypatch):
    monkeypatch.setattr(replica, "replica_available", lambda: False)
    with from_replica():
        assert router.db_for_read(None) == DEFAULT_DB_ALIAS


def test_a_read_inside_a_transaction_stays_on_the_primary(router, db):
    assert connection.in_atomic_block  # the test's own transaction
    with from_replica():
        assert router.db_for_read(None) == DEFAULT_DB_ALIAS


def test_writes_and_migrations_are_the_primarys(router):
    with from_replica():
        assert router.db_for_write(None) == DEFAULT_DB_ALIAS
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "members") is True
    assert router.allow_migrate(REPLICA, "members") is False


def test_objects_of_both_databases_may_be_related(router):
    class Obj:
        def __init__(self, db):
            self._state = type("State", (), {"db": db})()

    assert router.allow_relation(Obj(DEFAULT_DB_ALIAS), Obj(REPLICA)) is True
    assert router.allow_relation(Obj(REPLICA), Obj("elsewhere")) is None


def test_a_thread_started_inside_reads_the_primary():
    seen = []
    with from_replica():
        thread = threading.Thread(target=lambda: seen.append(reading_from_replica()))
        thread.start()
        thread.join()
    assert seen == [False]


def run_in_a_fresh_thread(coroutine):
    """asyncio.run in a thread of its own: Playwright's sync API (the e2e tests) leaves an
    event loop running in the main thread, where asyncio.run refuses to start."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def test_asyncio_tasks_keep_their_own_switch():
    async def reads(switch_on: bool) -> bool:
        if switch_on:
            with from_replica():
                await asyncio.sleep(0.01)  # the other task runs meanwhile
                return reading_from_replica()
        await asyncio.sleep(0.005)
        return reading_from_replica()

    async def both():
        return await asyncio.gather(reads(True), reads(False))

    assert run_in_a_fresh_thread(both()) == [True, False]


def _template_view(probe):
    template = engines["django"].from_string("{{ probe }}")

    def view(request):
        return TemplateResponse(request, template, {"probe": probe})

    return view


def test_a_decorated_view_renders_its_template_response_with_the_switch_on():
    probe = Probe()
    response = from_replica(_template_view(probe))(RequestFactory().get("/"))
    assert response.is_rendered and probe.seen == [True]
    assert response.content == b"probe"


def test_undecorated_a_template_response_renders_after_the_view():
    """The caveat the decorator handles: Django renders a TemplateResponse later, in the
    middleware chain, where a `with from_replica()` in the view is already over."""
    probe = Probe()
    view = _template_view(probe)

    def with_block(request):
        with from_replica():
            return view(request)

    response = with_block(RequestFactory().get("/"))
    response.render()
    assert probe.seen == [False]


def test_a_decorated_view_streams_each_chunk_with_the_switch_on():
    probe = Probe()

    @from_replica
    def view(request):
        return StreamingHttpResponse(str(probe) for _ in range(3))

    response = view(RequestFactory().get("/"))
    consumer = []
    for _chunk in response.streaming_content:
        consumer.append(reading_from_replica())  # the server's side, between chunks
    assert probe.seen == [True, True, True] and consumer == [False, False, False]


def test_a_decorated_function_or_coroutine_returns_its_value():
    assert from_replica(reading_from_replica)() is True

    @from_replica
    async def coroutine():
        return reading_from_replica()

    assert run_in_a_fresh_thread(coroutine()) is True
    assert not reading_from_replica()


class FakeConnection:
    vendor = "sqlite"  # no lag to ask (tests/faults/test_replica_lag.py asks a real standby)

    def __init__(self, fails: bool):
        self.fails, self.tries, self.closed = fails, 0, 0

    def close_if_health_check_failed(self):
        pass

    def ensure_connection(self):
        self.tries += 1
        if self.fails:
            raise OperationalError("connection refused")

    def close(self):
        self.closed += 1


def test_an_unreachable_replica_is_left_alone_for_a_while(monkeypatch, caplog):
    down = FakeConnection(fails=True)
    now = [1000.0]
    monkeypatch.setattr(replica, "connections", {REPLICA: down})
    monkeypatch.setattr(replica, "clock", lambda: now[0])
    replica.forget_health()
    try:
        with caplog.at_level(logging.WARNING, logger="members.replica"):
            assert replica.replica_available() is False
            assert replica.replica_available() is False  # not tried again
        assert down.tries == 1 and down.closed == 1
        assert "read replica unreachable" in caplog.text and caplog.text.count("unreachable") == 1
        now[0] += replica.RETRY_SECONDS + 1
        down.fails = False
        assert replica.replica_available() is True and down.tries == 2
    finally:
        replica.forget_health()


# --- two databases, in processes of their own ------------------------------------------


def _env(data_dir: Path, primary: Path, replica_url: str = "") -> dict:
    env = {k: v for k, v in os.environ.items() if k not in LEAKED}
    env.update(
        DATA_DIR=str(data_dir),
        TESTING="false",
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=f"sqlite:///{primary}",
    )
    if replica_url:
        env["DATABASE_REPLICA_URL"] = replica_url
    return env


def _run(script: str, env: dict) -> dict:
    """Run `script` (after django.setup()) in a process of its own; its RESULT line."""
    prelude = "import django, json\ndjango.setup()\n"
    result = subprocess.run(
        [sys.executable, "-c", prelude + script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT ") :])


def _copy(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database (its write-ahead log included)."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


SEED = """
from django.contrib.auth.models import Group, Permission
from django.utils import timezone
from campaigns.dashboard import dashboard_aggregates
from loyalty.models import LoyaltySettings
from members.models import Member, Role, Store
from members.roles import sync_role_groups
from members.services import member_create, staff_create

first, count = {first}, {count}
if not Store.objects.filter(code="SH01").exists():
    sync_role_groups(Group, Permission)
    Store.objects.create(code="SH01", name="静安店")
    staff_create(username="owner", password="owner-pass-2026", role=Role.OWNER, store=None)
    LoyaltySettings.current()
store = Store.objects.get(code="SH01")
for n in range(first, first + count):
    member_create(phone=f"139{{n:08d}}", name=f"会员{{n}}", store=store)
dashboard_aggregates(timezone.localdate())
print("RESULT " + json.dumps({{"members": Member.objects.count()}}))
"""

CHECK = """
import threading
from io import StringIO
from django.conf import settings
from django.core.management import call_command
from django.db import connections, transaction
from django.test import Client
from django.test.utils import setup_test_environment
from django.urls import reverse
from loyalty.imports import exports
from members.models import Member, Role, Store, User
from members.replica import from_replica
from members.services import staff_create

setup_test_environment()
out = {"routers": settings.DATABASE_ROUTERS, "primary": Member.objects.count()}
with from_replica():
    out["inside"] = Member.objects.count()
    with transaction.atomic():
        out["in_transaction"] = Member.objects.count()
    seen = []

    def count_in_a_thread():
        seen.append(Member.objects.count())
        connections.close_all()

    thread = threading.Thread(target=count_in_a_thread)
    thread.start()
    thread.join()
    out["thread"] = seen[0]
    Store.objects.create(code="W1", name="写入")
    fresh = staff_create(username="fresh", password="fresh-pass-2026", role=Role.OWNER, store=None)
out["write_on_primary"] = Store.objects.filter(code="W1").exists()
out["write_on_replica"] = Store.objects.using("replica").filter(code="W1").exists()

owner = Client()
owner.force_login(User.objects.get(username="owner"))
page = owner.get(reverse("dashboard:home"))
out["dashboard"] = [page.status_code, page.context["f"].members_total,
                    page.context["segments"].members]
out["reports"] = [owner.get(reverse("dashboard:stored_value")).status_code,
                  owner.get(reverse("dashboard:guides")).status_code]
page = owner.get(reverse("admin:members_member_changelist"))
out["member_list"] = [page.status_code, page.context["cl"].result_count]
answer = owner.post(reverse("admin:campaigns_segment_preview"), {"rules": '{"all": []}'})
out["preview"] = [answer.status_code, answer.json()["count"], len(answer.json()["members"])]
newcomer = Client()
newcomer.force_login(fresh)  # only on the primary: login and permissions read from there
out["fresh_dashboard"] = newcomer.get(reverse("dashboard:home")).status_code

said = StringIO()
call_command("segment_count", rules='{"all": []}', stdout=said)
out["segment_count"] = said.getvalue().strip().splitlines()[-1]
out["export_rows"] = len(list(exports.member_rows(Member.objects.all(), full_contact=False)))
job = exports.export_job_create(
    queryset=Member.objects.all(), fmt="csv", actor=None, what="all", full_contact=False
)
exports.export_job_task(job.pk)
job.refresh_from_db()
lines = job.file.read().decode("utf-8-sig").strip().splitlines()
out["export_job"] = [job.status, job.rows_done, len(lines) - 1]
print("RESULT " + json.dumps(out))
"""

FALLBACK = """
import logging
import time
from io import StringIO
from django.core.management import call_command
from django.test import Client
from django.test.utils import setup_test_environment
from django.urls import reverse
from members.models import Member, User
from members.replica import from_replica

setup_test_environment()
said = []


class Keep(logging.Handler):
    def emit(self, record):
        said.append(record.getMessage())


logging.getLogger("members.replica").addHandler(Keep())
owner = Client()
owner.force_login(User.objects.get(username="owner"))
started = time.monotonic()
first = owner.get(reverse("dashboard:home"))
second = owner.get(reverse("dashboard:home"))
seconds = time.monotonic() - started
counted = StringIO()
call_command("segment_count", rules='{"all": []}', stdout=counted)
with from_replica():
    inside = Member.objects.count()
print("RESULT " + json.dumps({
    "dashboard": [first.status_code, first.context["f"].members_total, second.status_code],
    "seconds": seconds,
    "segment_count": counted.getvalue().strip().splitlines()[-1],
    "inside": inside,
    "warnings": [m for m in said if "unreachable" in m],
}))
"""


@pytest.fixture(scope="module")
def databases(tmp_path_factory, django_db_setup):
    if os.environ.get("DATABASE_URL"):
        # Their databases are SQLite files of their own whatever the suite runs on: once,
        # in the SQLite pass, is enough (CI's time).
        pytest.skip("the two-database processes run in the SQLite pass")
    """(data dir, primary, replica): the primary with 3 members, the replica with 7."""
    root = tmp_path_factory.mktemp("replica")
    base, primary, standby = (root / f"{name}.sqlite3" for name in ("base", "primary", "replica"))
    # A SQLite file migrated for this module: not a copy of the session's test database,
    # which holds whatever the transactional tests before this module committed.
    for command in (["migrate", "--noinput"], ["createcachetable"]):
        subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=_env(root, base),
            check=True,
            capture_output=True,
            timeout=300,
        )
    assert _run(SEED.format(first=0, count=3), _env(root, base)) == {"members": 3}
    _copy(base, primary)
    _copy(base, standby)
    assert _run(SEED.format(first=3, count=4), _env(root, standby)) == {"members": 7}
    return root, primary, standby


@pytest.fixture(scope="module")
def checked(databases):
    root, primary, standby = databases
    return _run(CHECK, _env(root, primary, f"sqlite:///{standby}"))


def test_the_router_is_installed_with_a_replica(checked):
    assert checked["routers"] == ["members.replica.ReplicaRouter"]


def test_plain_reads_come_from_the_primary(checked):
    assert checked["primary"] == 3
    assert checked["member_list"] == [200, 3]  # the admin's member list: not opted in


def test_reads_inside_from_replica_come_from_the_replica(checked):
    assert checked["inside"] == 7


def test_in_a_transaction_or_another_thread_reads_stay_on_the_primary(checked):
    assert checked["in_transaction"] == 3
    assert checked["thread"] == 3


def test_a_write_inside_from_replica_lands_on_the_primary(checked):
    assert checked["write_on_primary"] is True
    assert checked["write_on_replica"] is False


def test_the_dashboard_and_its_reports_read_the_replica(checked):
    # Total members (the daily rows) and the lifecycle funnel (the cards).
    assert checked["dashboard"] == [200, 7, 7]
    assert checked["reports"] == [200, 200]


def test_login_and_permissions_are_read_from_the_primary(checked):
    """A staff account created a moment ago (not on the replica yet) sees the dashboard."""
    assert checked["fresh_dashboard"] == 200


def test_segment_counts_read_the_replica(checked):
    assert checked["segment_count"] == "count=7"
    assert checked["preview"] == [200, 7, 7]


def test_exports_read_the_replica(checked):
    assert checked["export_rows"] == 7
    assert checked["export_job"] == ["done", 7, 7]  # the job's own row: the primary's


def test_an_unreachable_replica_falls_back_to_the_primary(databases):
    root, primary, _standby = databases
    result = _run(FALLBACK, _env(root, primary, CLOSED_PORT))
    assert result["dashboard"] == [200, 3, 200]
    assert result["segment_count"] == "count=3"
    assert result["inside"] == 3
    assert len(result["warnings"]) == 1  # tried once, then left alone for RETRY_SECONDS
    assert result["seconds"] < 10
