"""Benchmark "imports": `import_members` on a 1,000,000-row member CSV (as many rows as
the run's --members), beside two baselines on the same rows in the same run.

The file is what a merchant brings: GBK (Excel on Chinese Windows), Chinese headers,
every column the import knows (phone, name, gender, birthday, points, tier, total
spent, purchases, registration time, tags, store), all rows valid so that every
figure counts the same rows.

- subject: `manage.py import_members FILE`: the whole path (decode, map, validate
  every cell, the duplicate pre-pass, members + cards + opening points lots + tier
  history + opening balances + tags, a transaction per chunk); its own peak RSS.
- baseline: a raw `Member.objects.bulk_create` of the same rows (phone hashed and
  encrypted, a random card number as members get, no validation, no card, no
  ledger), 2,000 a batch and a transaction.
  Goal: the import's rows/s >= 0.8 x this.
- stock: django-import-export's default ModelResource (import_id_fields = the phone
  hash) on the first STOCK_ROWS rows, given as the columns it can take; the import
  is timed on the same rows. Goal: rows/s >= 10 x the stock's.

Each measurement starts from a fresh, empty, migrated database with the demo
stores (a merchant switching to Huiyuan starts empty): its own SQLite file, or
its own PostgreSQL database beside the run's; the seeded members are not touched.
Each runs as a manage.py process; rows/s come from the time each process reports
for its work (Django's start-up excluded; for the import: everything from reading
the file to its report). Then the file is imported again (all unchanged) and
check_ledger must pass.
"""

import csv
import random
import re
import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench.common import (
    BenchError,
    CpuWatch,
    Goal,
    Result,
    Timing,
    Workspace,
    django_setup,
    manage_output,
    pg_run,
    say,
    step,
    wait_until_quiet,
)

SEEDED = False  # its own empty databases: no demo seed needed
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


def _day(rng: random.Random, first: int, last: int, sep: str) -> str:
    year, month, day = rng.randrange(first, last), rng.randrange(1, 13), rng.randrange(1, 29)
    return f"{year}{sep}{month:02d}{sep}{day:02d}"


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
    from django.db import transaction
    from django.utils import timezone

    from loyalty.imports.writer import Taken
    from members import crypto
    from members.models import Member

    started = time.monotonic()
    now = timezone.now()
    batch, count = [], 0
    # Card numbers as members get them (random, Luhn-checked, each once), drawn as the
    # import draws them; the table starts empty, so there is nothing to read first.
    numbers = Taken()

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
                    member_no=numbers.draw(1)[0],
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
    _report(count, time.monotonic() - started)


def stock_baseline(path: str, rows: int) -> None:
    """django-import-export's default ModelResource on the first `rows` rows."""
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
    _report(len(data), time.monotonic() - started)


def _report(rows: int, seconds: float) -> None:
    from loyalty.imports.memory import peak_rss_mb

    peak = peak_rss_mb()
    print(f"BENCH rows={rows} seconds={seconds:.2f} peak_mb={peak}", flush=True)


# --- the run ---------------------------------------------------------------------------


def run(ctx) -> Result:
    django_setup(ctx.ws)  # the runner closes Django's connections at the end
    rows = ctx.members
    path = ctx.ws.root / "members-gbk.csv"
    sample = ctx.ws.root / "members-sample-gbk.csv"
    stock_rows = min(rows, STOCK_ROWS)
    with step(f"Writing a {rows:,}-row GBK member file"):
        write_file(path, rows)
        write_file(sample, stock_rows)  # the same first rows (same seed)
    say(f"    {path.stat().st_size / 1e6:.0f} MB")
    ws = _own_database(ctx.ws)
    try:
        _fresh(ws)
        stock = _measure(ws, f"stock import-export ({stock_rows:,} rows)", "shell", "-c",
                         _call("stock_baseline", sample, stock_rows))  # fmt: skip
        _fresh(ws)
        small = _measure(ws, f"import_members ({stock_rows:,} rows)", "import_members", str(sample))
        _fresh(ws)
        bulk = _measure(
            ws, f"bulk_create ({rows:,} rows)", "shell", "-c", _call("bulk_create_baseline", path)
        )
        _fresh(ws)
        subject = _measure(ws, f"import_members ({rows:,} rows)", "import_members", str(path))
        if _counts(subject.output) != {"created": rows, "updated": 0, "unchanged": 0, "errors": 0}:
            raise BenchError(f"import_members did not create every row:\n{subject.output[-2000:]}")
        again = _measure(ws, "import_members again (all unchanged)", "import_members", str(path))
        if _counts(again.output)["unchanged"] != rows:
            raise BenchError(f"the second import changed something:\n{again.output[-2000:]}")
        ledger = manage_output(ws, "check_ledger", timeout=3600)
        if ledger.returncode != 0:
            raise BenchError(f"check_ledger after the import:\n{ledger.stdout}{ledger.stderr}")
    finally:
        _drop(ws)
    vs_bulk = subject.rps / bulk.rps
    vs_stock = small.rps / stock.rps
    return Result(
        name="imports",
        title=f"{TITLE} ({rows:,} rows, {ws.db})",
        subject=subject.timing,
        baseline=bulk.timing,
        goals=[
            Goal(
                f"rows/s >= {GOAL_VS_BULK:g} x bulk_create",
                round(vs_bulk, 2),
                vs_bulk >= GOAL_VS_BULK,
            ),
            Goal(
                f"rows/s >= {GOAL_VS_STOCK:g} x stock import-export ({stock_rows:,} rows)",
                round(vs_stock, 1),
                vs_stock >= GOAL_VS_STOCK,
            ),
            Goal(f"peak RSS MB <= {GOAL_RSS_MB}", subject.peak_mb, subject.peak_mb <= GOAL_RSS_MB),
        ],  # fmt: skip
        notes=[
            f"rows/s at {rows:,} rows: import_members {subject.rps:,.0f}, bulk_create "
            f"{bulk.rps:,.0f} (peak RSS {subject.peak_mb} / {bulk.peak_mb} MB)",
            f"rows/s at {stock_rows:,} rows: import_members {small.rps:,.0f}, stock "
            f"import-export {stock.rps:,.0f} (peak RSS {small.peak_mb} / {stock.peak_mb} MB)",
            f"the same file again: {again.rps:,.0f} rows/s, all unchanged, peak RSS "
            f"{again.peak_mb} MB; check_ledger OK",
            f"file: {path.stat().st_size / 1e6:.0f} MB, GBK, 11 columns, {rows:,} valid rows; "
            "each on a fresh empty database; seconds exclude Django's start-up",
        ],
    )


class Measure:
    def __init__(self, label: str, output: str, wall: float, background: float):
        self.output = output
        found = re.search(r"BENCH rows=(\d+) seconds=([\d.]+) peak_mb=(\d+)", output)
        if found:  # a baseline
            self.rows, self.seconds, self.peak_mb = int(found[1]), float(found[2]), int(found[3])
        else:  # import_members: its "Seconds:" and "Peak memory:" lines, and the counts
            counts = _counts(output)
            self.rows = sum(counts.values())
            self.seconds = float(re.search(r"^Seconds: ([\d.]+)$", output, re.M)[1])
            self.peak_mb = int(re.search(r"^Peak memory: (\d+) MB$", output, re.M)[1])
        self.rps = self.rows / self.seconds if self.seconds else 0.0
        self.timing = Timing(label=label, seconds=round(self.seconds, 2), background=background)
        say(f"    {label}: {self.seconds:.1f}s, {self.rps:,.0f} rows/s, peak RSS {self.peak_mb} MB "
            f"(process {wall:.1f}s)")  # fmt: skip


def _measure(ws: Workspace, label: str, *command: str) -> Measure:
    """One run of a manage.py command, on as quiet a machine as it gets (not repeated:
    it writes)."""
    wait_until_quiet()
    with CpuWatch() as watch:
        started = time.monotonic()
        done = manage_output(ws, *command, timeout=6 * 3600)
        wall = time.monotonic() - started
    if done.returncode != 0:
        raise BenchError(
            f"{label} failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
        )
    return Measure(label, done.stdout, wall, watch.share)


def _call(name: str, *args) -> str:
    """Python for `manage.py shell -c`: call this module's `name` with `args`."""
    values = ", ".join(repr(str(a) if isinstance(a, Path) else a) for a in args)
    return f"from bench.imports import {name}; {name}({values})"


def _counts(output: str) -> dict:
    last = output.strip().splitlines()[-1]
    return {k: int(v) for k, v in (part.split("=") for part in last.split())}


# --- a database of its own ---------------------------------------------------------------


def _own_database(ws: Workspace) -> Workspace:
    if ws.db == "postgres":
        parts = urlsplit(ws.database_url)
        url = urlunsplit(parts._replace(path=parts.path + "_imports"))
    else:
        url = f"sqlite:///{ws.root / 'imports.sqlite3'}"
    return replace(ws, database_url=url, env={**ws.env, "DATABASE_URL": url})


def _fresh(ws: Workspace) -> None:
    """An empty, migrated database with the demo stores, staff and tiers."""
    _drop(ws)
    if ws.db == "postgres":
        pg_run("createdb", ws.database_url)
    for args in (
        ("migrate", "--noinput", "-v", "0"),
        ("seed_demo", "--members", "0", "--purchases", "0"),
    ):
        done = manage_output(ws, *args)
        if done.returncode != 0:
            raise BenchError(f"{' '.join(args)} failed:\n{done.stdout}{done.stderr}")


def _drop(ws: Workspace) -> None:
    if ws.db == "postgres":
        pg_run("dropdb", ws.database_url, "--if-exists", "--force", check=False)
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(ws.database_url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
