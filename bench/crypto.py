"""Benchmark "crypto": what encrypting contact data at rest costs the paths that touch it.

Phones, e-mails and addresses are stored AES-GCM encrypted and found through a keyed
hash (HMAC-SHA256, members/crypto.py). Issue #2 asks that encryption not make the
lookup or the import slow: two figures, each beside the work it is part of, in the
same run, on the seeded members, in this process (no HTTP server: a share of
in-process time, which the server only adds to).

A. A counter lookup by phone pays the keyed hash of the typed phone and the decryption
   of the found member's phone. Subject: those two for LOOKUPS seeded members' phones.
   Baseline: the same lookups whole, `GET /staff/?q=<phone>` (htmx) through Django's
   test client as the bench clerk: session, staff user, the indexed member query, the
   card's template. Goal: the crypto <= 5 % of the lookup.
B. Writing a member (registration, import) pays the hash and the encryption of the
   phone. Subject: those two for WRITES new phones. Baseline: inserting those members'
   rows, already encrypted, with the import's own executemany / COPY (loyalty/imports/
   sql.py), in a transaction rolled back: the least any member write costs. Reported,
   not judged: against the whole import (~185 us a row at a million rows, see
   docs/benchmarks.md) or a registration (milliseconds) it is a few per cent.
"""

import random

from bench.common import BenchError, Goal, Result, Workspace, django_setup, timed
from bench.lookup import CLERK, pick_members

SEEDED = True  # uses the seeded demo members and the bench clerk
TITLE = "contact-data encryption (AES-GCM + HMAC) vs the lookup and the insert it is part of"
LOOKUPS = 1000
WRITES = 20_000
GOAL_LOOKUP_SHARE = 0.05
FIRST_NEW = 1_600_000_000  # demo_phone(i) of such i are nobody's phone (members/demo.py)


class _Rollback(Exception):
    pass


def run(ctx) -> Result:
    ws: Workspace = ctx.ws
    django_setup(ws)
    from django.contrib.auth import get_user_model
    from django.test import Client

    from members import crypto

    phones = [p for p, _no in pick_members(ws, ctx.members)][:LOOKUPS]
    tokens = _raw_tokens([crypto.phone_hash("+86" + p) for p in phones])
    if len(tokens) != len(phones):
        raise BenchError(f"{len(tokens)} of {len(phones)} picked phones found")

    client = Client(HTTP_HX_REQUEST="true", HTTP_HOST="localhost")
    client.force_login(get_user_model().objects.get(username=CLERK))
    if 'id="member-card"' not in client.get("/staff/", {"q": phones[0]}).content.decode():
        raise BenchError("the in-process lookup did not show the member's card")

    def lookups():
        for phone in phones:
            client.get("/staff/", {"q": phone})

    def lookup_crypto():
        for phone, token in zip(phones, tokens, strict=True):
            crypto.phone_hash("+86" + phone)
            crypto.decrypt(token)

    whole = timed(f"{LOOKUPS:,} lookups in process", lookups, runs=2)
    part = timed(f"hash + decrypt x {LOOKUPS:,}", lookup_crypto, runs=3)

    new = [_demo_phone(FIRST_NEW + i) for i in range(WRITES)]

    def write_crypto():
        for e164 in new:
            crypto.phone_hash(e164)
            crypto.encrypt(e164)

    rows = _member_rows(new)
    write_part = timed(f"hash + encrypt x {WRITES:,}", write_crypto, runs=3)
    insert = timed(f"insert {WRITES:,} member rows (rolled back)", lambda: _insert(rows), runs=3)

    lookup_share = part.seconds / whole.seconds
    write_share = write_part.seconds / insert.seconds
    return Result(
        name="crypto",
        title=f"{TITLE} ({ctx.members:,} members, {ws.db})",
        subject=part,
        baseline=whole,
        goals=[
            Goal(
                f"lookup: crypto <= {GOAL_LOOKUP_SHARE:.0%} of it",
                round(lookup_share, 4),
                lookup_share <= GOAL_LOOKUP_SHARE,
            ),
        ],
        notes=[
            f"A lookup: {part.seconds / LOOKUPS * 1e6:.1f} us of crypto in "
            f"{whole.seconds / LOOKUPS * 1e3:.2f} ms in process ({lookup_share:.1%})",
            f"B write: {write_part.seconds / WRITES * 1e6:.1f} us of crypto per member vs "
            f"{insert.seconds / WRITES * 1e6:.1f} us to insert its row ({write_share:.1%})",
        ],
    )


def _demo_phone(i: int) -> str:
    from members.demo import demo_phone

    return demo_phone(i)


def _raw_tokens(hashes: list[str]) -> list[str]:
    """The stored (encrypted) phone column of these members, as the database holds it."""
    from django.db import connection

    from members.models import Member

    table = connection.ops.quote_name(Member._meta.db_table)
    found = {}
    with connection.cursor() as cursor:
        for start in range(0, len(hashes), 500):
            part = hashes[start : start + 500]
            marks = ", ".join(["%s"] * len(part))
            cursor.execute(
                f"SELECT phone_hash, phone FROM {table} WHERE phone_hash IN ({marks})", part
            )
            found.update(cursor.fetchall())
    return [found[h] for h in hashes if h in found]


def _member_rows(phones: list[str]) -> list[tuple]:
    """New members' rows as the import writes them, crypto done beforehand."""
    from django.utils import timezone

    from members import crypto
    from members.models import Member, Store

    store_id = Store.objects.order_by("pk").values_list("pk", flat=True)[0]
    now = timezone.now()
    rng = random.Random(2026)
    return [
        (f"X{rng.randrange(10**11):011d}{i}", crypto.encrypt(p), crypto.phone_hash(p), p[-4:],
         "王小明", "", None, "", "", "", Member.Source.IMPORT, Member.Status.ACTIVE, store_id,
         now, now)
        for i, p in enumerate(phones)
    ]  # fmt: skip


def _insert(rows: list[tuple]) -> None:
    from django.db import transaction

    from loyalty.imports import sql
    from loyalty.imports.writer import MEMBER_FIELDS
    from members.models import Member

    try:
        with transaction.atomic():
            sql.insert(Member, MEMBER_FIELDS, rows)
            raise _Rollback
    except _Rollback:
        pass
