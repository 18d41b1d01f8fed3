"""Benchmark "imports": `import_members` on a member CSV as large as the seeded table
(1,000,000 rows), beside two baselines timed on the same rows in the same run.

The file is what a merchant brings: GBK (Excel on Chinese Windows), Chinese headers,
every column the import knows (phone, name, gender, birthday, points, tier, total
spent, purchases, registration time, tags, store), all rows valid so every
figure counts the same rows. Its phones (166...) are not the seeded members'.

- subject: `manage.py import_members FILE`: the full path (decode, map, validate
  every cell, duplicate pre-pass, members + cards + opening points lots + tier
  history + opening balances + tags, chunk transactions); its own peak RSS.
- baseline: a raw `Member.objects.bulk_create` of the same rows (phone hashed and
  encrypted, no validation, no card, no ledger), in batches of 2,000, one
  transaction each. Goal: the import's rows/s >= 0.8 x this.
- stock: a default django-import-export ModelResource (import_id_fields = phone
  hash) on the first STOCK_ROWS rows, prepared as columns it can take. Goal: the
  import's rows/s >= 10 x this.
Each runs as its own manage.py process (Django's start-up included in all three).
Then the file is imported again (everything unchanged: the re-run figure) and
check_ledger must pass. Baseline rows are deleted after each baseline, and the
imported members at the end, so the benchmarks after this one see the seeded data.
"""

import csv
import random
import re
import time
from pathlib import Path

from bench.common import (
    BenchError,
    CpuWatch,
    Goal,
    Result,
    Timing,
    Workspace,
    django_setup,
    manage_output,
    say,
    step,
    wait_until_quiet,
)

TITLE = "import_members (CSV, GBK, full validation) vs bulk_create and a stock import-export"
STOCK_ROWS = 20_000
GOAL_VS_BULK = 0.8
GOAL_VS_STOCK = 10.0
GOAL_RSS_MB = 300
HEADERS = [
    "手机号",
    "姓名",
    "性别",
    "生日",
    "积分",
    "等级",
    "累计消费",
    "消费次数",
    "注册时间",
    "标签",
    "门店",
]
TIERS = ["普通会员", "银卡", "金卡", "钻石卡"]
TAGS = ["常客", "咖啡爱好者", "新品尝鲜", "企业客户", "价格敏感"]
STORES = ["SH01", "SH02", "SH03", "HZ01", "NJ01"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华玉萍红玲"


def phone(i: int) -> str:
    """Row i's mobile: 166 and an 8-digit bijection of i (not a seeded demo prefix)."""
    return f"166{(i * 7919 + 12345) % 10**8:08d}"


def write_file(path: Path, rows: int, seed: int = 2026) -> None:
    rng = random.Random(seed)
    with open(path, "w", encoding="gbk", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADERS)
        for i in range(rows):
            writer.writerow(
                [
                    phone(i),
                    rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
                    rng.choice("男女"),
                    "%d-%02d-%02d"  # noqa: UP031 - short enough to read in a row of columns
                    % (rng.randrange(1960, 2006), rng.randrange(1, 13), rng.randrange(1, 29)),
                    rng.randrange(0, 5000),
                    rng.choice(TIERS),
                    f"{rng.randrange(0, 500000) / 100:.2f}",
                    rng.randrange(0, 60),
                    "20%d/%d/%d 10:%02d"  # noqa: UP031
                    % (
                        rng.randrange(18, 26),
                        rng.randrange(1, 13),
                        rng.randrange(1, 29),
                        rng.randrange(60),
                    ),  # fmt: skip
                    rng.choice(TAGS) if rng.random() < 0.3 else "",
                    rng.choice(STORES),
                ]
            )


# --- the baselines: run inside `manage.py shell -c`, so under the same settings ---------


def bulk_create_baseline(path: str) -> None:
    """Raw bulk_create of the file's rows as members; prints rows, seconds, peak RSS."""
    import resource

    from django.db import transaction
    from django.utils import timezone

    from members import crypto
    from members.models import Member

    started = time.monotonic()
    now = timezone.now()
    batch, count = [], 0

    def flush():
        with transaction.atomic():
            Member.objects.bulk_create(batch)
        batch.clear()

    with open(path, encoding="gbk", newline="") as source:
        reader = csv.reader(source)
        next(reader)
        for row in reader:
            e164 = "+86" + row[0]
            batch.append(
                Member(
                    member_no=f"B{count:09d}",  # never a real (9-digit) member number
                    phone=e164,
                    phone_hash=crypto.phone_hash(e164),
                    phone_last4=e164[-4:],
                    name=row[1],
                    gender="M" if row[2] == "男" else "F",
                    birthday=row[3],
                    source=Member.Source.IMPORT,
                    created_at=now,
                )
            )
            count += 1
            if len(batch) >= 2000:
                flush()
        if batch:
            flush()
    _report(count, time.monotonic() - started, resource)


def stock_baseline(path: str, rows: int) -> None:
    """django-import-export's default ModelResource on the first `rows` rows."""
    import resource

    import tablib
    from import_export import resources

    from members import crypto
    from members.models import Member

    class MemberResource(resources.ModelResource):
        class Meta:
            model = Member
            fields = ("member_no", "phone", "phone_hash", "phone_last4", "name", "gender",
                      "birthday", "source")  # fmt: skip
            import_id_fields = ("phone_hash",)

    data = tablib.Dataset(headers=list(MemberResource.Meta.fields))
    with open(path, encoding="gbk", newline="") as source:
        reader = csv.reader(source)
        next(reader)
        for n, row in enumerate(reader):
            if n >= rows:
                break
            e164 = "+86" + row[0]
            data.append(
                (f"S{n:09d}", e164, crypto.phone_hash(e164), e164[-4:], row[1],
                 "M" if row[2] == "男" else "F", row[3], "import")
            )  # fmt: skip
    started = time.monotonic()
    result = MemberResource().import_data(data, dry_run=False, use_transactions=True)
    if result.has_errors() or result.has_validation_errors():
        raise SystemExit(f"stock import failed: {result.totals}")
    _report(len(data), time.monotonic() - started, resource)


def _report(rows: int, seconds: float, resource) -> None:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"BENCH rows={rows} seconds={seconds:.2f} peak_mb={peak}", flush=True)


# --- the run ---------------------------------------------------------------------------


def run(ctx) -> Result:
    ws: Workspace = ctx.ws
    django_setup(ws)
    rows = ctx.members
    path = ws.root / "members-gbk.csv"
    with step(f"Writing a {rows:,}-row GBK member file"):
        write_file(path, rows)
    say(f"    {path.stat().st_size / 1e6:.0f} MB")
    members_before = _max_member_id(ws)

    bulk, bulk_out = _timed(
        ws, "bulk_create (same rows)", "shell", "-c", _call("bulk_create_baseline", path)
    )
    _delete(ws, "member_no LIKE 'B%'")
    stock_rows = min(rows, STOCK_ROWS)
    stock, stock_out = _timed(
        ws, f"stock import-export ({stock_rows:,} rows)", "shell", "-c",
        _call("stock_baseline", path, stock_rows),
    )  # fmt: skip
    _delete(ws, "member_no LIKE 'S%'")

    subject, output = _timed(ws, f"import_members ({rows:,} rows)", "import_members", str(path))
    counts = _counts(output)
    if counts != {"created": rows, "updated": 0, "unchanged": 0, "errors": 0}:
        raise BenchError(f"import_members did not create every row: {counts}\n{output[-2000:]}")
    rss = int(re.search(r"Peak memory: (\d+) MB", output)[1])
    again, again_output = _timed(
        ws, "import_members again (all unchanged)", "import_members", str(path)
    )
    if _counts(again_output)["unchanged"] != rows:
        raise BenchError(f"the second import changed something:\n{again_output[-2000:]}")
    ledger = manage_output(ws, "check_ledger", timeout=3600)
    if ledger.returncode != 0:
        raise BenchError(f"check_ledger after the import:\n{ledger.stdout}{ledger.stderr}")
    with step("Removing the imported members (the next benchmarks see the seeded data)"):
        _remove_imported(ws, members_before)

    import_rps = rows / subject.seconds
    bulk_rps = _rows(bulk_out) / bulk.seconds
    stock_rps = _rows(stock_out) / stock.seconds
    vs_bulk, vs_stock = import_rps / bulk_rps, import_rps / stock_rps
    return Result(
        name="imports",
        title=f"{TITLE} ({rows:,} rows, {ws.db})",
        subject=subject,
        baseline=bulk,
        goals=[
            Goal(
                f"rows/s >= {GOAL_VS_BULK:g} x bulk_create",
                round(vs_bulk, 2),
                vs_bulk >= GOAL_VS_BULK,
            ),
            Goal(
                f"rows/s >= {GOAL_VS_STOCK:g} x stock import",
                round(vs_stock, 1),
                vs_stock >= GOAL_VS_STOCK,
            ),
            Goal(f"peak RSS MB <= {GOAL_RSS_MB}", rss, rss <= GOAL_RSS_MB),
        ],
        notes=[
            f"rows/s: import_members {import_rps:,.0f}; bulk_create {bulk_rps:,.0f}; "
            f"stock import-export {stock_rps:,.0f} (on {stock_rows:,} rows, {stock.seconds:.1f}s)",
            f"import_members itself: {_inner(output)}; peak RSS {rss} MB "
            f"(bulk_create process: {_peak(bulk_out)} MB)",
            f"same file again: {again.seconds:.1f}s, {rows / again.seconds:,.0f} rows/s, all "
            f"unchanged, peak RSS {_peak(again_output)} MB; check_ledger OK",
            f"file: {path.stat().st_size / 1e6:.0f} MB, GBK, 11 columns, {rows:,} valid rows; "
            "each figure is a manage.py process's wall time (Django start-up included)",
        ],
    )


def _call(name: str, *args) -> str:
    """Python for `manage.py shell -c`: call this module's `name` with `args`."""
    values = ", ".join(repr(str(a) if isinstance(a, Path) else a) for a in args)
    return f"from bench.imports import {name}; {name}({values})"


def _timed(ws: Workspace, label: str, *command: str) -> tuple[Timing, str]:
    """One quiet-as-possible run of a manage.py command (not repeated: it writes)."""
    wait_until_quiet()
    say(f"    {label} ...")
    with CpuWatch() as watch:
        started = time.monotonic()
        done = manage_output(ws, *command, timeout=6 * 3600)
        took = time.monotonic() - started
    if done.returncode != 0:
        raise BenchError(
            f"{label} failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
        )
    say(f"    {label}: {took:.1f}s")
    return Timing(label=label, seconds=round(took, 2), background=watch.share), done.stdout


def _counts(output: str) -> dict:
    last = output.strip().splitlines()[-1]
    return {k: int(v) for k, v in (part.split("=") for part in last.split())}


def _rows(output: str) -> int:
    return int(re.search(r"BENCH rows=(\d+)", output)[1])


def _peak(output: str) -> str:
    found = re.search(r"peak_mb=(\d+)|Peak memory: (\d+) MB", output)
    return (found[1] or found[2]) if found else "?"


def _inner(output: str) -> str:
    found = re.search(r": (\d+) rows in ([\d.]+)s", output)
    return f"{found[1]} rows in {found[2]}s as it reports" if found else "?"


def _max_member_id(ws: Workspace) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM members_member")
        return cursor.fetchone()[0]


def _delete(ws: Workspace, where: str) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM members_member WHERE {where}")  # noqa: S608 - constant


def _remove_imported(ws: Workspace, after_id: int) -> None:
    from django.db import connection, transaction

    tables = [
        "loyalty_pointsentry", "loyalty_tierchange", "loyalty_openingbalance", "loyalty_card",
        "members_member_tags",
    ]  # fmt: skip
    with transaction.atomic(), connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"DELETE FROM {table} WHERE member_id > %s", [after_id])  # noqa: S608
        cursor.execute("DELETE FROM members_member WHERE id > %s", [after_id])
