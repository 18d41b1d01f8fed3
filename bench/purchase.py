"""Benchmark "purchase": the POS records purchases through the API, vs. a bare ledger write.

POST /api/v1/purchases with a store's Bearer key (made by `create_api_key`), a new
external_ref for every request and member numbers spread over many members: the
whole write path (key check, member lookup, the card lock, purchase, points lot,
growth, counters, tier check). The baseline is /bench/ledger-insert on the same
gunicorn: one transaction that locks a card, appends one points entry and updates
the balance, which is the least any locked ledger write costs on this database.

Every answer but a 201 counts as an error and is reported, not hidden: on SQLite a
"database is locked" would be an HTTP 500 (the gunicorn log is searched for it too).
Afterwards the database must hold every purchase that was acknowledged, and the
touched members' ledgers must agree with their cards.
"""

import random

import requests

from bench.common import (
    RUN_TAG,
    BenchError,
    Figure,
    Goal,
    Result,
    Workspace,
    count_in_log,
    django_setup,
    gunicorn,
    manage_output,
    run_wrk,
    say,
    server_log,
    write_wrk_post_script,
)

SEEDED = True  # uses the seeded demo members (bench/__main__.py)
TITLE = "purchase recording (POS API) vs bare locked ledger insert"
STORE = "SH01"
MEMBERS = 20_000  # different members per run: little chance two requests meet on one card
GOAL_RPS = 500  # on SQLite
PG_GOAL_RATIO = 0.7  # x the bare locked insert, on PostgreSQL (issue 27)
GOAL_P99_MS = 100.0
LOCKED = "database is locked"
PURCHASE_BODY = '{"external_ref": "%s", "member_no": "%s", "amount": "%d.%02d"}'
LEDGER_BODY = '{"ref": "%s", "member_id": %s, "amount": "%d.%02d"}'


def run(ctx) -> Result:
    ws: Workspace = ctx.ws
    django_setup(ws)
    members = pick_members(ctx.members)  # (member_no, member id)
    key = api_key(ws)
    purchase_script = write_wrk_post_script(
        ws.root / "purchase.lua",
        url_path="/api/v1/purchases",
        keys=[no for no, _pk in members],
        template=PURCHASE_BODY,
        expected=201,
    )
    ledger_script = write_wrk_post_script(
        ws.root / "ledger-insert.lua",
        url_path="/bench/ledger-insert",
        keys=[str(pk) for _no, pk in members],
        template=LEDGER_BODY,
        expected=201,
    )
    api_headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    with gunicorn(ws) as base:
        verify(base, api_headers, members[0])
        say(f"    wrk {ctx.load.duration} x2: purchases ({len(members):,} members), then ledger")
        purchase = run_wrk(
            base, purchase_script, "purchase", ctx.load, api_headers, allow_errors=True
        )
        ledger = run_wrk(
            base,
            ledger_script,
            "ledger-insert",
            ctx.load,
            {"Content-Type": "application/json"},
            allow_errors=True,
        )
        locked = count_in_log(server_log(ws, base), LOCKED)
    notes = [
        f"{len(members):,} members, store key of {STORE}; {purchase.requests:,} purchases "
        f"answered in {purchase.seconds:g}s",
    ]
    notes += check_stored(purchase, ledger, members, ctx.load.connections)
    return Result(
        name="purchase",
        title=f"{TITLE} ({ctx.members:,} members, {ws.db})",
        subject=purchase,
        baseline=ledger,
        goals=goals(purchase, locked, ledger if ws.db == "postgres" else None),
        notes=notes,
    )


def pick_members(count: int) -> list[tuple[str, int]]:
    """(member number, id) of MEMBERS demo members spread over all of them, all checked."""
    from members.demo import demo_member_no
    from members.models import Member

    picked = random.Random(2027).sample(range(count), min(MEMBERS, count))
    numbers = [demo_member_no(i) for i in picked]
    ids = {}
    for lo in range(0, len(numbers), 5000):  # stay well under SQLite's variable limit
        batch = numbers[lo : lo + 5000]
        ids.update(Member.objects.filter(member_no__in=batch).values_list("member_no", "pk"))
    if not numbers or len(ids) != len(numbers):
        raise BenchError(f"only {len(ids)} of {len(numbers)} picked members exist")
    return [(no, ids[no]) for no in numbers]


def api_key(ws: Workspace) -> str:
    """A new POS key for STORE, made the way an operator makes one (printed on the last line)."""
    done = manage_output(ws, "create_api_key", "--store", STORE, "--name", "bench wrk")
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines or not lines[-1].startswith("hy_"):
        raise BenchError(f"create_api_key failed:\n{done.stdout}\n{done.stderr}")
    return lines[-1].strip()


def verify(base: str, headers: dict[str, str], member: tuple[str, int]) -> None:
    """One purchase through the API (201), its replay (200, same purchase), one ledger insert."""
    member_no, member_id = member
    body = {"external_ref": f"verify-{RUN_TAG}", "member_no": member_no, "amount": "38.50"}
    first = requests.post(f"{base}/api/v1/purchases", json=body, headers=headers, timeout=30)
    again = requests.post(f"{base}/api/v1/purchases", json=body, headers=headers, timeout=30)
    if first.status_code != 201 or first.json().get("member_no") != member_no:
        raise BenchError(f"POST /api/v1/purchases: HTTP {first.status_code} {first.text[:300]}")
    if again.status_code != 200 or again.json() != first.json():
        raise BenchError(f"replayed purchase: HTTP {again.status_code} {again.text[:300]}")
    ledger = requests.post(
        f"{base}/bench/ledger-insert",
        json={"ref": f"verify-{RUN_TAG}", "member_id": member_id},
        timeout=30,
    )
    if ledger.status_code != 201:
        raise BenchError(
            f"/bench/ledger-insert answered HTTP {ledger.status_code}: is BENCH_URLS on?"
        )


def check_stored(
    purchase: Figure, ledger: Figure, members: list[tuple[str, int]], connections: int
) -> list[str]:
    """Every acknowledged write is in the database, and the ledgers still add up.

    wrk stops each run with up to `connections` requests in flight: the server may
    finish those after wrk stopped counting, so the database may hold a few more.
    """
    from loyalty.ledger import ledger_problems
    from loyalty.models import PointsEntry, Purchase

    stored = Purchase.objects.filter(external_ref__startswith=f"purchase-{RUN_TAG}-").count()
    entries = PointsEntry.objects.filter(
        idempotency_key__startswith=f"bench:ledger-insert-{RUN_TAG}-"
    ).count()
    for label, fig, held in (("purchases", purchase, stored), ("ledger inserts", ledger, entries)):
        in_flight = connections * (1 + fig.attempts)  # the warm-up and each measurement
        if not fig.ok_total <= held <= fig.ok_total + in_flight:
            raise BenchError(f"{label}: {fig.ok_total} acknowledged but {held} stored")
    problems = ledger_problems([pk for _no, pk in members])
    if problems:
        raise BenchError(f"ledger drift after the load: {problems[:5]}")
    return [
        f"stored: {stored:,} purchases and {entries:,} bare entries for "
        f"{purchase.ok_total:,} and {ledger.ok_total:,} acknowledged (warm-up included); "
        f"the {len(members):,} members' ledgers agree with their cards"
    ]


def goals(purchase: Figure, locked: int, floor: Figure | None = None) -> list[Goal]:
    """SQLite: GOAL_RPS; PostgreSQL (`floor`, the bare insert): PG_GOAL_RATIO of it."""
    errors = purchase.errors + purchase.errors_elsewhere  # the warm-up's count too
    if floor is not None:
        ratio = purchase.rps / floor.rps if floor.rps else 0.0
        speed = Goal(f"ratio >= {PG_GOAL_RATIO}", ratio, ratio >= PG_GOAL_RATIO)
    else:
        speed = Goal(f"purchases/s >= {GOAL_RPS}", purchase.rps, purchase.rps >= GOAL_RPS)
    return [
        speed,
        Goal(f"p99 <= {GOAL_P99_MS:g} ms", purchase.p99_ms, purchase.p99_ms <= GOAL_P99_MS),
        Goal("errors == 0", errors, errors == 0),
        Goal(f'"{LOCKED}" == 0', locked, locked == 0),
    ]
