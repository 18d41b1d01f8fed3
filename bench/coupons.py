"""Benchmark "coupons": a purchase that redeems a coupon through the POS API, vs. the
same purchase without one, on the same gunicorn under the same load.

POST /api/v1/purchases with a store's Bearer key and a `coupon_code`: on top of the
bare purchase (key check, member lookup, card lock, purchase, points lot, growth,
counters, tier check) the coupon is looked up, checked (owner, window, status), its
discount taken off and the coupon marked redeemed with its event. Every request
uses a different usable coupon of its member: the coupons are issued beforehand in
bulk (one "cash 5 yuan, no threshold" template, Coupon rows made with bulk_create,
the template's issued_count updated) and the wrk script hands them out in order,
each thread from its own slice, the warm-up and each measurement from their own
part of the list (derived from the run prefix run_wrk passes), so no code is sent
twice. Only a 201 counts; a thread that ran out of coupons asks for a missing URL,
which counts as an error, so an exhausted list cannot pass unnoticed.

Afterwards the database must hold one redeemed coupon per acknowledged coupon
purchase (allowing for wrk's in-flight tail) and the touched members' ledgers must
agree with their cards.
"""

import datetime as dt
import random
from decimal import Decimal
from pathlib import Path

from django.db import connections

from bench.common import (
    ATTEMPTS,
    LUA_FRAME,
    RUN_TAG,
    BenchError,
    Figure,
    Goal,
    Load,
    Result,
    Workspace,
    count_in_log,
    django_setup,
    duration_seconds,
    gunicorn,
    lua_string,
    run_wrk,
    say,
    server_log,
    step,
    write_wrk_post_script,
)
from bench.purchase import PURCHASE_BODY, api_key, pick_members

SEEDED = True  # uses the seeded demo members (bench/__main__.py)
TITLE = "purchase with coupon redemption (POS API) vs the same purchase without a coupon"
STORE = "SH01"
TEMPLATE_NAME = "bench cash 5"
MAX_RATE = 1000  # requests/s per wrk run the coupon list is sized for (SQLite does far less)
GOAL_RATIO = 0.7  # a coupon check and a redeemed row should not cost a third of a purchase
LOCKED = "database is locked"
# (ref, '"member_no": ..., "coupon_code": ...', yuan, fen)
COUPON_BODY = '{"external_ref": "%s", %s, "amount": "%d.%02d"}'

# Items are handed out in order: run_wrk runs a script 1 + ATTEMPTS times (warm-up
# "...-<n>w", measurements "...-<n>m<attempt>"); each run, and each thread within
# it, takes a disjoint slice of ITEMS. An item is {cookie, body part}; the body is
# TEMPLATE formatted with (unique ref, body part, yuan, fen) (Lua ignores extra
# arguments). A 'LOCATION' other than "" must be found in the Location header.
_LUA_SEQUENCE = """\
local items = {ITEMS}
local method = METHOD
local path = PATH
local template = TEMPLATE
local expected = EXPECTED
local location = LOCATION
local phases = PHASES
local nthreads = NTHREADS
local first, last, nxt

local function slice()
  local run, kind, attempt = string.match(prefix, "%-(%d+)([wm])(%d*)$")
  local phase = 0
  if kind == "m" then phase = tonumber(attempt) end
  local per = math.floor(#items / (phases * nthreads))
  first = (phase * nthreads + id) * per + 1
  last = first + per - 1
  nxt = first
end

function request()
  if not nxt then slice() end
  sent = sent + 1
  if nxt > last then
    exhausted = (exhausted or 0) + 1
    return wrk.format("GET", "/bench/exhausted")
  end
  local item = items[nxt]
  nxt = nxt + 1
  local headers = {}
  for k, v in pairs(wrk.headers) do headers[k] = v end
  if item[1] ~= "" then headers["Cookie"] = item[1] end
  local fen = math.random(1500, 30000)
  local ref = prefix .. "-" .. id .. "-" .. sent
  local body = string.format(template, ref, item[2], math.floor(fen / 100), fen % 100)
  return wrk.format(method, path, headers, body)
end

function response(status, headers, body)
  local good = status == expected
  if good and location ~= "" then
    local where = headers["Location"] or headers["location"] or ""
    good = string.find(where, location, 1, true) ~= nil
  end
  count(good, status)
end
"""


def write_wrk_sequence_script(
    path: Path,
    *,
    items: list[tuple[str, str]],
    url_path: str,
    template: str,
    expected: int,
    threads: int,
    method: str = "POST",
    location: str = "",
) -> Path:
    """A wrk script sending each (cookie, body part) of `items` at most once (see above)."""
    listed = "\n  " + ",\n  ".join(
        f"{{{lua_string(cookie)}, {lua_string(part)}}}" for cookie, part in items
    )
    # The data last, and only into its own slot (the first ITEMS): a coupon code such
    # as "XPATHQ7K2M" once took the PATH replacement and broke the Lua string.
    body = (
        _LUA_SEQUENCE.replace("METHOD", lua_string(method))
        .replace("PATH", lua_string(url_path))
        .replace("TEMPLATE", lua_string(template))
        .replace("EXPECTED", str(int(expected)))
        .replace("LOCATION", lua_string(location))
        .replace("PHASES", str(1 + ATTEMPTS))
        .replace("NTHREADS", str(int(threads)))
        .replace("ITEMS", listed + "\n", 1)
    )
    path.write_text(LUA_FRAME + body)
    return path


def items_needed(load: Load, rate: int = MAX_RATE) -> int:
    """How many items a sequence script needs for a warm-up and ATTEMPTS measurements."""
    longest = max(duration_seconds(load.duration), duration_seconds(load.warmup))
    return int(rate * longest) * (1 + ATTEMPTS)


def run(ctx) -> Result:
    ws: Workspace = ctx.ws
    django_setup(ws)
    connections.close_all()  # a fresh connection: see the note in bench/jobs.py
    members = pick_members(ctx.members)  # (member_no, member id)
    key = api_key(ws)
    count = items_needed(ctx.load)
    with step(f"Issuing {count:,} coupons in bulk"):
        template_id, coupons = issue_coupons(members, count)
    coupon_script = write_wrk_sequence_script(
        ws.root / "coupons.lua",
        items=[("", f'"member_no": "{no}", "coupon_code": "{code}"') for no, code in coupons],
        url_path="/api/v1/purchases",
        template=COUPON_BODY,
        expected=201,
        threads=ctx.load.threads,
    )
    plain_script = write_wrk_post_script(
        ws.root / "coupons-plain.lua",
        url_path="/api/v1/purchases",
        keys=[no for no, _pk in members],
        template=PURCHASE_BODY,
        expected=201,
    )
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    with gunicorn(ws) as base:
        verify(base, headers, template_id, members[0])
        say(f"    wrk {ctx.load.duration} x2: coupon purchases, then plain purchases")
        coupon = run_wrk(base, coupon_script, "coupon", ctx.load, headers, allow_errors=True)
        plain = run_wrk(base, plain_script, "no-coupon", ctx.load, headers, allow_errors=True)
        locked = count_in_log(server_log(ws, base), LOCKED)
    notes = [
        f"{len(coupons):,} coupons issued to {len(members):,} members ({STORE} key); each "
        f"used at most once",
    ]
    notes += check_stored(coupon, plain, template_id, members, ctx.load.connections)
    ratio = coupon.rps / plain.rps if plain.rps else 0.0
    errors = coupon.errors + coupon.errors_elsewhere
    return Result(
        name="coupons",
        title=f"{TITLE} ({ctx.members:,} members, {ws.db})",
        subject=coupon,
        baseline=plain,
        goals=[
            Goal(f"ratio >= {GOAL_RATIO}", ratio, ratio >= GOAL_RATIO),
            Goal("errors == 0", errors, errors == 0),
            Goal(f'"{LOCKED}" == 0', locked, locked == 0),
        ],
        notes=notes,
    )


def issue_coupons(members: list[tuple[str, int]], count: int) -> tuple[int, list[tuple[str, str]]]:
    """A cash template and `count` usable coupons spread over `members` (bulk_create).

    Returns the template id and (member_no, code) in a shuffled order, so consecutive
    requests go to different members."""
    from django.db import transaction
    from django.utils import timezone

    from loyalty.models import Coupon, CouponTemplate

    now = timezone.now()
    rng = random.Random(2028)
    with transaction.atomic():
        template = CouponTemplate.objects.create(
            name=TEMPLATE_NAME,
            kind=CouponTemplate.Kind.CASH,
            value=5,
            min_spend=0,
            valid_days=30,
            per_member_limit=0,
        )
        codes: set[str] = set()
        while len(codes) < count:
            codes.add(Coupon.new_code())
        owners = [members[rng.randrange(len(members))] for _ in range(count)]
        rows = [
            Coupon(
                template=template,
                member_id=pk,
                code=code,
                valid_from=now - dt.timedelta(hours=1),
                valid_until=now + dt.timedelta(days=30),
                source=Coupon.Source.STAFF,
                issue_key=None,
            )
            for (_no, pk), code in zip(owners, codes, strict=True)
        ]
        Coupon.objects.bulk_create(rows, batch_size=2000)
        CouponTemplate.objects.filter(pk=template.pk).update(issued_count=count)
    pairs = [(no, row.code) for (no, _pk), row in zip(owners, rows, strict=True)]
    return template.pk, pairs


def verify(base: str, headers: dict, template_id: int, member: tuple[str, int]) -> None:
    """One coupon purchase by hand: 201, 5 yuan off, the coupon redeemed; the same code
    again is refused."""
    import requests
    from django.utils import timezone

    from loyalty.models import Coupon

    member_no, member_id = member
    coupon = Coupon.objects.create(
        template_id=template_id,
        member_id=member_id,
        code=Coupon.new_code(),
        valid_from=timezone.now() - dt.timedelta(hours=1),
        valid_until=timezone.now() + dt.timedelta(days=30),
    )
    body = {
        "external_ref": f"coupon-verify-{RUN_TAG}",
        "member_no": member_no,
        "amount": "38.50",
        "coupon_code": coupon.code,
    }
    first = requests.post(f"{base}/api/v1/purchases", json=body, headers=headers, timeout=30)
    if first.status_code != 201:
        raise BenchError(f"coupon purchase: HTTP {first.status_code} {first.text[:300]}")
    if Decimal(str(first.json().get("coupon_discount"))) != 5:
        raise BenchError(f"coupon purchase gave no 5 yuan discount: {first.text[:300]}")
    coupon.refresh_from_db()
    if coupon.status != Coupon.Status.REDEEMED:
        raise BenchError(f"coupon {coupon.code} is {coupon.status} after the purchase")
    body["external_ref"] += "-again"
    again = requests.post(f"{base}/api/v1/purchases", json=body, headers=headers, timeout=30)
    if again.status_code == 201:
        raise BenchError("a redeemed coupon was accepted a second time")


def check_stored(
    coupon: Figure,
    plain: Figure,
    template_id: int,
    members: list[tuple[str, int]],
    connections: int,
) -> list[str]:
    """One redeemed coupon per acknowledged coupon purchase; the ledgers add up."""
    from loyalty.ledger import ledger_problems
    from loyalty.models import Coupon, Purchase

    redeemed = (
        Coupon.objects.filter(template_id=template_id, status=Coupon.Status.REDEEMED).count() - 1
    )  # minus verify()'s
    with_coupon = (
        Purchase.objects.filter(external_ref__startswith=f"coupon-{RUN_TAG}-")
        .filter(coupons__isnull=False)
        .distinct()
        .count()
    )
    stored = Purchase.objects.filter(external_ref__startswith=f"coupon-{RUN_TAG}-").count()
    plain_stored = Purchase.objects.filter(external_ref__startswith=f"no-coupon-{RUN_TAG}-").count()
    in_flight = connections * (1 + coupon.attempts)
    if not coupon.ok_total <= redeemed <= coupon.ok_total + in_flight:
        raise BenchError(f"{coupon.ok_total} coupon purchases acknowledged, {redeemed} redeemed")
    if redeemed != with_coupon or stored != with_coupon:
        raise BenchError(
            f"{stored} coupon-run purchases, {with_coupon} with a coupon, {redeemed} redeemed"
        )
    in_flight = connections * (1 + plain.attempts)
    if not plain.ok_total <= plain_stored <= plain.ok_total + in_flight:
        raise BenchError(f"{plain.ok_total} plain purchases acknowledged, {plain_stored} stored")
    sample = random.Random(2029).sample(members, min(2000, len(members)))
    problems = ledger_problems([pk for _no, pk in sample])
    if problems:
        raise BenchError(f"ledger drift after the load: {problems[:5]}")
    return [
        f"stored: {redeemed:,} redeemed coupons, each on its own purchase, for "
        f"{coupon.ok_total:,} acknowledged (warm-up included); {plain_stored:,} plain "
        f"purchases for {plain.ok_total:,}; ledgers of {len(sample):,} sampled members agree",
    ]
