"""Benchmark "member lookup": a clerk finds a member by phone, vs. hello world.

GET /staff/?q=<phone> with `HX-Request: true`: the counter's search box, whose
answer for a phone is the member card (templates/jinja2/loyalty/staff/_card.html). The
whole staff path: session, staff check, phone normalising and keyed hashing, the
indexed query, decrypting the phone, the card's figures (tier progress, points' cash
value), the template; the card's extras (coupons, expiring points, check-in, last
purchases) follow in a second request, not measured here. The baseline is /bench/hello on
the same gunicorn, so the ratio says what the lookup costs over Django's own floor.
"""

import random

from bench.common import (
    BenchError,
    Figure,
    Goal,
    Result,
    Workspace,
    django_setup,
    get,
    gunicorn,
    run_wrk,
    say,
    server_log,
    staff_login,
    write_wrk_script,
)

SEEDED = True  # uses the seeded demo members (bench/__main__.py)
TITLE = "member lookup by phone (staff view) vs hello world"
CLERK = "clerk_sh01_1"
PHONES = 2000  # different members per run, so no cache sees the same phone twice soon
MARKER = 'id="member-card"'  # the card of the one member found; anything else is an error
GOAL_RATIO = 0.5
GOAL_P99_MS = 15.0
# PostgreSQL, with Redis as cache and session store as the scale-out deployment (issue 27).
PG_GOAL_RATIO = 0.3
PG_GOAL_P99_MS = 25.0


def run(ctx) -> Result:
    ws: Workspace = ctx.ws
    django_setup(ws)
    members = pick_members(ws, ctx.members)
    paths = [f"/staff/?q={phone}" for phone, _no in members]
    lookup_script = write_wrk_script(ws.root / "lookup.lua", paths, MARKER)
    hello_script = write_wrk_script(ws.root / "hello.lua", ["/bench/hello"], "hello")
    floor_script = write_wrk_script(ws.root / "floor.lua", ["/bench/staff-hello"], "hello staff")
    with gunicorn(ws) as base:
        cookie = staff_login(base, CLERK, ctx.password)
        headers = {"Cookie": cookie, "HX-Request": "true"}
        verify(base, headers, members[0], server_log(ws, base))
        verify_hello(base)
        say(f"    wrk {ctx.load.duration} x3: lookup ({len(paths)} phones), hello, staff floor")
        lookup = run_wrk(base, lookup_script, "lookup", ctx.load, headers)
        hello = run_wrk(base, hello_script, "hello", ctx.load)
        floor = run_wrk(base, floor_script, "staff-hello", ctx.load, headers)
    return Result(
        name="lookup",
        title=f"{TITLE} ({ctx.members:,} members, {ws.db})",
        subject=lookup,
        baseline=hello,
        goals=goals(lookup, hello, ws.db),
        notes=[
            f"as {CLERK}, {len(paths)} different phones of the clerk's store",
            # The least any staff screen costs (session + staff user, empty answer): what
            # the framework leaves for the lookup's own work, in the same run.
            f"staff floor /bench/staff-hello: {floor.rps:,.1f} req/s, p99 {floor.p99_ms:.1f} ms "
            f"= {floor.rps / hello.rps:.2f} x hello; lookup = {lookup.rps / floor.rps:.2f} x "
            "the staff floor",
        ],
    )


def pick_members(ws: Workspace, count: int) -> list[tuple[str, str]]:
    """(phone as a clerk types it, member number) of members in the clerk's store.

    seed_demo puts demo member i in the i % 5-th store by code (members/demo.py), and
    a clerk sees only their store's members, so only those indexes are picked. The
    database confirms every one exists there before anything is measured.
    """
    from members.demo import demo_member_no, demo_phone
    from members.models import Member, StaffProfile, Store

    codes = list(Store.objects.order_by("code").values_list("code", flat=True))
    store = StaffProfile.objects.select_related("store").get(user__username=CLERK).store
    slots = range(codes.index(store.code), count, len(codes))
    picked = random.Random(2026).sample(slots, min(PHONES, len(slots)))
    members = [(demo_phone(i).removeprefix("+86"), demo_member_no(i)) for i in picked]
    found = Member.objects.filter(store=store, member_no__in=[no for _p, no in members]).count()
    if not members or found != len(members):
        raise BenchError(f"only {found} of {len(members)} picked members are in {store.code}")
    return members


def verify(base: str, headers: dict[str, str], member: tuple[str, str], log=None) -> None:
    phone, member_no = member
    page = get(base, f"/staff/?q={phone}", headers)
    if page.status_code != 200 or f'data-member-no="{member_no}"' not in page.text:
        tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
        raise BenchError(
            f"lookup of {phone} did not return member {member_no} (HTTP {page.status_code})"
            + (f"\nserver log:\n{tail}" if tail else "")
        )


def verify_hello(base: str) -> None:
    page = get(base, "/bench/hello")
    if page.status_code != 200 or page.text != "hello":
        raise BenchError(f"/bench/hello answered HTTP {page.status_code}: is BENCH_URLS on?")


def goals(lookup: Figure, hello: Figure, db: str = "sqlite") -> list[Goal]:
    ratio = lookup.rps / hello.rps if hello.rps else 0.0
    least, p99 = (PG_GOAL_RATIO, PG_GOAL_P99_MS) if db == "postgres" else (GOAL_RATIO, GOAL_P99_MS)
    return [
        Goal(f"ratio >= {least}", ratio, ratio >= least),
        Goal(f"p99 <= {p99:g} ms", lookup.p99_ms, lookup.p99_ms <= p99),
    ]
