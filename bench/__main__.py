"""`python -m bench`: seed a throwaway database, run the benchmarks, print and save figures.

    .venv/bin/python -m bench                   # 1,000,000 members, SQLite (`make bench`)
    .venv/bin/python -m bench --quick           # 20,000 members, short runs: a smoke test
    .venv/bin/python -m bench --db postgres     # a cluster of its own, deploy/postgresql.conf
    .venv/bin/python -m bench --only lookup --only purchase
    .venv/bin/python -m bench --conn-max-age 600   # what if connections were kept

To add a benchmark: a module with TITLE and run(ctx) -> common.Result (or a list of them),
listed below.
"""

import argparse
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from bench import (
    broadcast,
    common,
    coupons,
    crypto,
    dashboard,
    imports,
    instructions,
    jobs,
    join,
    ledger,
    lookup,
    mixed,
    prepaid,
    purchase,
    segments,
)
from bench.common import BenchError, Load, Workspace, say, step

BENCHMARKS = {
    "lookup": lookup,
    "instructions": instructions,  # the lookup counted by callgrind: a few minutes
    "crypto": crypto,
    "purchase": purchase,
    "coupons": coupons,
    "prepaid": prepaid,  # stored value: tops up the picked members first
    "join": join,
    "dashboard": dashboard,
    "segments": segments,  # sets tiers and recency on the cards; jobs sets its own after
    "broadcast": broadcast,  # binds 30% to WeChat, 20% to SMS; removes its messages
    "jobs": jobs,  # before ledger: it checks every member's ledger afterwards
    "mixed": mixed,  # adds ten million purchases; check_ledger must pass afterwards
    "imports": imports,  # its own empty databases: the seeded data is not touched
    "ledger": ledger,  # last: it adds ten million rows and plants drift
}
FULL_MEMBERS = 1_000_000
QUICK_MEMBERS = 20_000
DEMO_PASSWORD = "huiyuan-demo-2026"  # seed_demo's default (members/demo.py)


@dataclass
class Context:
    """What a benchmark gets: the seeded workspace and how hard to drive it."""

    ws: Workspace
    members: int
    load: Load
    password: str = DEMO_PASSWORD


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--members",
        type=int,
        help=f"members to seed (default {FULL_MEMBERS:,}; --quick {QUICK_MEMBERS:,})",
    )
    parser.add_argument("--quick", action="store_true", help="small data, short wrk runs")
    parser.add_argument(
        "--only",
        action="append",
        choices=list(BENCHMARKS),
        help="run just this benchmark (repeat for more)",
    )
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--duration", help="wrk duration of each measurement (default 15s; --quick 3s)"
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when a goal is missed (for CI)"
    )
    parser.add_argument(
        "--conn-max-age",
        type=int,
        metavar="SECONDS",
        help="an experiment: serve with this CONN_MAX_AGE instead of the app's setting",
    )
    parser.add_argument(
        "--redis-db",
        type=int,
        metavar="N",
        help="an experiment: serve with REDIS_URL=redis://127.0.0.1:6379/N (cache and "
        "cached_db sessions in Redis, as the scale-out deployment); N must not be 0",
    )
    parser.add_argument(
        "--pg-server",
        metavar="URL",
        help="with --db postgres: measure on this server (its database name must contain "
        "'bench'; dropped and made again) instead of a cluster of the run's own configured "
        "by deploy/postgresql.conf",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="gunicorn workers (default: as deploy/gunicorn.conf.py chooses for the database "
        "and this machine: one per core on SQLite and on a PostgreSQL of this host)",
    )
    args = parser.parse_args(argv)
    if args.members is None:
        args.members = QUICK_MEMBERS if args.quick else FULL_MEMBERS
    if args.members < 1:
        parser.error("--members must be at least 1")
    if args.redis_db is not None and not 1 <= args.redis_db <= 15:
        parser.error("--redis-db must be 1-15 (database 0 is the developer's)")
    return args


def load_for(args: argparse.Namespace) -> Load:
    load = Load(duration="3s", warmup="1s") if args.quick else Load()
    if args.duration:
        load.duration = args.duration
    return load


def seed(ws: Workspace, members: int, demo: bool = True) -> None:
    """Schema, cache table, static files (DEBUG=false serves hashed names), demo data
    (not when no selected benchmark uses it: `imports` makes its own databases)."""
    with step("Creating the schema"):
        common.manage(ws, "migrate", "--noinput", "-v", "0")
        common.manage(ws, "createcachetable")
        common.manage(ws, "collectstatic", "--noinput", "-v", "0")
    if not demo:
        return
    with step(f"Seeding {members:,} members (seed_demo --purchases 0)"):
        common.manage(ws, "seed_demo", "--members", str(members), "--purchases", "0")
    if ws.db == "postgres":
        # Autovacuum would otherwise vacuum and analyse the freshly loaded tables
        # during the first measurements; a database in service has long done so.
        with step("VACUUM ANALYZE"):
            common.django_setup(ws)
            from django.db import connection

            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")


def run(args: argparse.Namespace) -> list[common.Result]:
    names = [name for name in BENCHMARKS if name in args.only] if args.only else list(BENCHMARKS)
    common.ensure_wrk()  # before the long seed, so a missing wrk fails fast
    results = []
    redis_url = None if args.redis_db is None else f"redis://127.0.0.1:6379/{args.redis_db}"
    with common.workspace(
        args.db, conn_max_age=args.conn_max_age, redis_url=redis_url, pg_server=args.pg_server
    ) as ws:
        ws.workers = args.workers or common.deployed_workers(ws.database_url)
        say(f"gunicorn: {ws.workers} workers")
        seed(ws, args.members, demo=any(BENCHMARKS[n].SEEDED for n in names))
        ctx = Context(ws=ws, members=args.members, load=load_for(args))
        try:
            for name in names:
                common.warm_cache(ws)
                with step(f"Benchmark {name}: {BENCHMARKS[name].TITLE}"):
                    got = BENCHMARKS[name].run(ctx)  # a Result, or a list of them
                for result in got if isinstance(got, list) else [got]:
                    if args.conn_max_age is not None:
                        result.title += f" [experiment: CONN_MAX_AGE={args.conn_max_age}]"
                    if redis_url:
                        result.title += f" [experiment: REDIS_URL={redis_url}]"
                    results.append(result)
                    common.print_result(result)  # now: a later benchmark may fail
        finally:
            _close_django_connections()
    return results


def _close_django_connections() -> None:
    # The runner may have opened the database (benchmarks check their data); close it
    # so a PostgreSQL bench database can be dropped.
    if "django" in sys.modules:
        from django.db import connections

        connections.close_all()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # Stopped with SIGTERM (a CI timeout, kill): unwind, so the servers stop and the
    # throwaway data (a PostgreSQL database too) is removed, as on Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = datetime.now(UTC)
    clock = time.monotonic()
    try:
        results = run(args)
    except BenchError as exc:
        say(f"\nBENCHMARK FAILED: {exc}")
        return 2
    except subprocess.CalledProcessError as exc:  # its output went to the console
        say(f"\nBENCHMARK FAILED: {' '.join(map(str, exc.cmd[1:]))} exited {exc.returncode}")
        return 2
    say("\n==> Summary")
    for result in results:
        common.print_result(result)
    meta = {
        "started": started.isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - clock, 1),
        "members": args.members,
        "db": args.db,
        "quick": args.quick,
        "only": args.only,
        "conn_max_age": args.conn_max_age,
        "redis_db": args.redis_db,
        "workers": args.workers or "as deployed",
        "pg_server": args.pg_server
        or ("own cluster, deploy/postgresql.conf" if args.db == "postgres" else None),
        "load": vars(load_for(args)),
    }
    say(f"\nResults: {common.write_results(meta, results)}")
    missed = [g.label for r in results for g in r.goals if not g.met]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
