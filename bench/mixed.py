"""Benchmark "mixed": a shop day's four kinds of request at once, against the whole data.

Counter lookups (a clerk's search box), POS purchases through the API, /join/
registrations and the member centre (/me/ and /me/purchases/ of members signed in on
their phones) hit one gunicorn at the same time, each kind from a wrk of its own with a
share of the connections that stands for a chain's day: LOOKUP, PURCHASE, CENTRE and
JOIN below (16 in all, as the other benchmarks). Each kind gets its throughput and
latencies; a request that is not what its kind expects is an error. Before the load,
every member gets PURCHASES_PER_MEMBER purchases over the past year (ten million at a
million members, one INSERT ... SELECT per batch of members), so the member centre's
history, the counter's extras and the purchase's indexes work at that size. After it,
the database must hold every acknowledged purchase and registration, and
`check_ledger` must pass over the whole ledger (exit status 0).

gunicorn runs with the run's workers (the deployment's count unless --workers: one per
core on SQLite and on a PostgreSQL of this host). The baseline: hello, with the same 16
connections and workers, alone, in the same run.
"""

import datetime as dt
import secrets
import string
import threading

import requests

from bench.common import (
    LUA_FRAME,
    RESULTS_DIR,
    RUN_TAG,
    BenchError,
    CpuWatch,
    Figure,
    Goal,
    Load,
    Result,
    Workspace,
    database_size_note,
    django_setup,
    figure_of,
    gunicorn,
    in_card_batches,
    insert_select_sql,
    lua_list,
    lua_string,
    manage_output,
    numbers_sql,
    run_wrk,
    say,
    staff_login,
    step,
    wait_until_quiet,
    write_wrk_post_script,
    write_wrk_script,
    wrk_errors,
    wrk_once,
)
from bench.coupons import items_needed, write_wrk_sequence_script
from bench.join import JOIN_BODY, PAGE, member_count
from bench.join import prepare as prepare_joins
from bench.lookup import CLERK
from bench.lookup import MARKER as CARD_MARKER
from bench.lookup import pick_members as pick_phones
from bench.purchase import PURCHASE_BODY, api_key
from bench.purchase import pick_members as pick_buyers

SEEDED = True  # uses the seeded demo members (bench/__main__.py)
TITLE = "mixed load: lookups, API purchases, registrations and the member centre at once"
PURCHASES_PER_MEMBER = 10
LOOKUP, PURCHASE, CENTRE, JOIN = 6, 5, 4, 1  # connections of each kind
CENTRE_MEMBERS = 2000
CENTRE_PATHS = ["/me/", "/me/", "/me/", "/me/purchases/"]
CENTRE_MARKER = 'class="m-'  # the member centre's layout; a sign-in page has none
JOIN_RATE = 300  # registrations/s the prepared sessions are sized for, at most
MEMBERS_PER_BATCH = 50_000

# GET with a cookie drawn per request: each signed-in member has their own session.
_LUA_COOKIES = """\
local cookies = {COOKIES}
local paths = {PATHS}
local marker = MARKER

function request()
  local headers = {}
  for k, v in pairs(wrk.headers) do headers[k] = v end
  headers["Cookie"] = cookies[math.random(#cookies)]
  return wrk.format("GET", paths[math.random(#paths)], headers)
end

function response(status, headers, body)
  count(status == 200 and string.find(body, marker, 1, true) ~= nil, status)
end
"""


def run(ctx) -> list[Result]:
    ws: Workspace = ctx.ws
    django_setup(ws)
    with step(f"Seeding {PURCHASES_PER_MEMBER} purchases per member (INSERT ... SELECT)"):
        history = seed_purchases()
    say(f"    {history:,} purchases in the table")
    workers = ws.workers
    kinds = scripts(ws, ctx)
    with gunicorn(ws) as base:
        cookie = staff_login(base, CLERK, ctx.password)
        headers = {
            "lookup": {"Cookie": cookie, "HX-Request": "true"},
            "purchase": {
                "Authorization": f"Bearer {api_key(ws)}",
                "Content-Type": "application/json",
            },
            "join": {"Content-Type": "application/x-www-form-urlencoded"},
            "centre": {},
        }
        verify_centre(base, kinds["centre"][2])
        before = member_count()
        say(f"    wrk {ctx.load.duration}: 4 kinds at once ({workers} gunicorn workers)")
        figures = load_together(base, kinds, headers, ctx.load)
        hello_script = write_wrk_script(ws.root / "hello.lua", ["/bench/hello"], "hello")
        hello = run_wrk(base, hello_script, "hello", ctx.load)
    joined = member_count() - before
    stored = purchases_stored()
    checks = check_after(ws, figures, joined, stored)
    where = f"{ctx.members:,} members, {history:,} purchases, {ws.db}, {workers} workers"
    results = []
    for name, figure in figures.items():
        errors = figure.errors + figure.errors_elsewhere
        results.append(
            Result(
                name=f"mixed-{name}",
                title=f"mixed load, {name} ({where})",
                subject=figure,
                baseline=hello,
                goals=[Goal("errors == 0", errors, errors == 0)],
                notes=[f"{connections_of(name)} of 16 connections"]
                + (checks if name == "lookup" else []),
            )
        )
    total = sum(f.rps for f in figures.values())
    shares = ", ".join(f"{name} {f.rps / total:.0%}" for name, f in figures.items())
    results[0].notes.append(
        f"all four: {total:,.1f} req/s = {total / hello.rps:.2f} x hello alone "
        f"({hello.rps:,.1f} req/s); the requests' mix: {shares}"
    )
    results[0].goals.append(Goal("check_ledger exit status == 0", 0, True))
    results[0].notes.append(database_size_note())
    if ws.env.get("REDIS_URL"):
        results[0].notes.append(redis_note(ws.env["REDIS_URL"]))
    return results


def connections_of(name: str) -> int:
    return {"lookup": LOOKUP, "purchase": PURCHASE, "centre": CENTRE, "join": JOIN}[name]


# --- data ----------------------------------------------------------------------------


def seed_purchases() -> int:
    """PURCHASES_PER_MEMBER purchases for every member, one a month back from last week,
    at the member's own store; returns the table's row count."""
    from django.db import connection
    from django.utils import timezone

    from loyalty.models import Purchase

    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    if connection.vendor == "sqlite":
        ref = "printf('hist-%%08d-%%02d', c.member_id, k.n)"
    else:
        ref = "'hist-' || lpad(c.member_id::text, 8, '0') || '-' || lpad(k.n::text, 2, '0')"
    when = "CASE k.n " + " ".join(f"WHEN {n} THEN %s" for n in range(1, 11)) + " END"
    stamps = [adapt(now - dt.timedelta(days=7 + 30 * n)) for n in range(10)]
    amount = "(20 + (c.member_id * 7 + k.n * 13) %% 480)"
    chosen = {
        "member_id": ("c.member_id", []),
        "store_id": ("m.store_id", []),
        "external_ref": (ref, []),
        "channel": ("%s", ["counter"]),
        "gross_amount": (amount, []),
        "cash_paid": (amount, []),
        "points_earned": (amount, []),
        "occurred_at": (when, stamps),
        "created_at": (when, stamps),
    }
    source = (
        f"loyalty_card c JOIN members_member m ON m.id = c.member_id "
        f"CROSS JOIN ({numbers_sql(PURCHASES_PER_MEMBER)}) k "
        "WHERE c.member_id BETWEEN %s AND %s ORDER BY c.member_id, k.n"
    )
    sql, params = insert_select_sql(Purchase, chosen, source)
    in_card_batches(lambda cursor, lo, hi: cursor.execute(sql, [*params, lo, hi]),
                    MEMBERS_PER_BATCH)  # fmt: skip
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("VACUUM ANALYZE loyalty_purchase")
    return Purchase.objects.count()


def member_sessions(count: int) -> list[str]:
    """Cookies of `count` members signed in to the member centre, stored as member_login
    stores a sign-in (the member's id under MEMBER_SESSION_KEY)."""
    from django.conf import settings
    from django.contrib.sessions.models import Session
    from django.utils import timezone
    from django.utils.module_loading import import_string

    from members.member_auth import MEMBER_SESSION_KEY
    from members.models import Member

    engine = import_string(f"{settings.SESSION_ENGINE}.SessionStore")()
    ids = list(Member.objects.filter(status=Member.Status.ACTIVE).values_list("pk", flat=True)
               .order_by("?")[:count])  # fmt: skip
    expires = timezone.now() + dt.timedelta(hours=2)
    sessions = [
        Session(
            session_key=secrets.token_hex(16),
            session_data=engine.encode({MEMBER_SESSION_KEY: pk}),
            expire_date=expires,
        )
        for pk in ids
    ]
    Session.objects.bulk_create(sessions, batch_size=2000)
    return [f"sessionid={s.session_key}" for s in sessions]


def scripts(ws: Workspace, ctx) -> dict[str, tuple]:
    """Each kind's (wrk script, connections, a sample for its check)."""
    phones = pick_phones(ws, ctx.members)
    lookup = write_wrk_script(
        ws.root / "mixed-lookup.lua", [f"/staff/?q={p}" for p, _no in phones], CARD_MARKER
    )
    buyers = pick_buyers(ctx.members)
    purchase = ws.root / "mixed-purchase.lua"
    write_wrk_post_script(
        purchase, url_path="/api/v1/purchases", keys=[no for no, _pk in buyers],
        template=PURCHASE_BODY, expected=201,
    )  # fmt: skip
    cookies = member_sessions(CENTRE_MEMBERS)
    centre = ws.root / "mixed-centre.lua"
    centre.write_text(
        LUA_FRAME
        + _LUA_COOKIES.replace("MARKER", lua_string(CENTRE_MARKER))
        .replace("PATHS", lua_list(CENTRE_PATHS))
        .replace("COOKIES", lua_list(cookies), 1)
    )
    csrf = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))
    with step("Preparing pending registrations (code + session)"):
        pending = prepare_joins(items_needed(ctx.load, JOIN_RATE))
    join = write_wrk_sequence_script(
        ws.root / "mixed-join.lua",
        items=[(f"sessionid={key}; csrftoken={csrf}", code) for key, code in pending],
        url_path=PAGE, template=JOIN_BODY.replace("CSRF", csrf), expected=302,
        threads=1, location="/me/",
    )  # fmt: skip
    return {
        "lookup": (lookup, LOOKUP, phones[0]),
        "purchase": (purchase, PURCHASE, buyers[0]),
        "centre": (centre, CENTRE, cookies[0]),
        "join": (join, JOIN, None),
    }


# --- the load ----------------------------------------------------------------------


def load_together(base: str, kinds: dict, headers: dict, load: Load) -> dict[str, Figure]:
    """A warm-up and one measurement, each with all four wrk processes at once."""
    warm, _share = all_at_once(base, kinds, headers, "w", load.warmup)
    wait_until_quiet()
    measured, share = all_at_once(base, kinds, headers, "m1", load.duration)
    return {  # in the kinds' order: the lookup first
        name: figure_of(
            name,
            data,
            ok_total=warm[name]["ok"] + data["ok"],
            errors_total=wrk_errors(warm[name]) + wrk_errors(data),
            background=share,
            attempts=1,
        )
        for name, data in sorted(measured.items(), key=lambda item: list(kinds).index(item[0]))
    }


def all_at_once(base, kinds, headers, phase: str, duration: str) -> tuple[dict, float]:
    """One wrk per kind, started together (threads waiting on the processes); returns
    each kind's BENCH-JSON figures and the CPU share other processes used meanwhile."""
    runs: dict[str, dict] = {}
    failures: list[BaseException] = []

    def one(name, script, connections):
        kind_load = Load(threads=1, connections=connections)
        # The run's own references ("mixed-purchase-…"), apart from the purchase
        # benchmark's; the phase at the end is the sequence script's (see coupons).
        prefix = f"mixed-{name}-{RUN_TAG}-1{phase}"
        try:
            data, output = wrk_once(base, script, kind_load, duration, headers[name], prefix)
        except BaseException as exc:  # noqa: BLE001 - raised below, in the caller
            failures.append(exc)
            return
        runs[name] = data
        if phase != "w":
            RESULTS_DIR.mkdir(parents=True, exist_ok=True)
            (RESULTS_DIR / f"wrk-mixed-{name}.txt").write_text(output)

    with CpuWatch() as watch:
        threads = [
            threading.Thread(target=one, args=(name, script, connections))
            for name, (script, connections, _sample) in kinds.items()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    if failures:
        raise failures[0]
    return runs, watch.share


# --- checks ------------------------------------------------------------------------


def redis_note(url: str) -> str:
    """What the cache and the sessions hold in Redis after the load."""
    import redis

    client = redis.Redis.from_url(url)
    keys = client.dbsize()
    sample = [k for k in client.scan_iter(count=1000)][:1000]
    sizes = [client.memory_usage(k) or 0 for k in sample]
    mean = sum(sizes) / len(sizes) if sizes else 0
    used = client.info("memory")["used_memory"]
    return (
        f"Redis: {keys:,} keys in the run's database, {mean:,.0f} bytes each on average "
        f"(MEMORY USAGE of {len(sample):,}); the server uses {used / 2**20:,.1f} MiB"
    )


def verify_centre(base: str, cookie: str) -> None:
    for path in CENTRE_PATHS[-2:]:
        page = requests.get(f"{base}{path}", headers={"Cookie": cookie}, timeout=30,
                            allow_redirects=False)  # fmt: skip
        if page.status_code != 200 or CENTRE_MARKER not in page.text:
            raise BenchError(f"GET {path} as a signed-in member: HTTP {page.status_code}")


def purchases_stored() -> int:
    from loyalty.models import Purchase

    return Purchase.objects.filter(external_ref__startswith=f"mixed-purchase-{RUN_TAG}-").count()


def check_after(ws: Workspace, figures: dict[str, Figure], joined: int, stored: int) -> list[str]:
    """Every acknowledged write is stored, and check_ledger passes on the whole ledger."""
    for label, figure, held in (
        ("purchases", figures["purchase"], stored),
        ("registrations", figures["join"], joined),
    ):
        in_flight = connections_of("join" if label == "registrations" else "purchase") * 2
        if not figure.ok_total <= held <= figure.ok_total + in_flight:
            raise BenchError(f"{label}: {figure.ok_total} acknowledged but {held} stored")
    done = manage_output(ws, "check_ledger", timeout=1800)
    if done.returncode != 0:
        raise BenchError(
            f"check_ledger after the load: exit {done.returncode}\n{done.stdout[-2000:]}"
        )
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    return [
        f"stored: {stored:,} purchases for {figures['purchase'].ok_total:,} acknowledged, "
        f"{joined:,} new members for {figures['join'].ok_total:,} (warm-up included)",
        f"check_ledger afterwards: exit 0 ({last})",
    ]
