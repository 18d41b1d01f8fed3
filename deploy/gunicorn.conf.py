"""gunicorn's settings for huiyuan-web.service (docs/deploy.md); read as it is, not rendered.

Workers: WEB_CONCURRENCY when it is set (the env file), else per core as measured
(docs/benchmarks.md, "PostgreSQL as production runs it"; docs/operations.md):
- SQLite: one per core. Every write waits for the one write lock, and more workers than
  cores only queue for it (2 cores: 620 purchases/s with 2 workers, 397/s with 4).
- PostgreSQL on this host (a socket, localhost, loopback): one per core too. The
  database needs its share of the cores: at a million members on 2 cores (shared with
  the load generator too), 805 lookups/s with 2 workers against 623/s with 4; purchases
  236/s against 208/s.
- PostgreSQL on another host: two per core, as a worker waits for the network on every
  statement (not measured here: measure with `python -m bench --workers N`).
Cores are the ones this process may run on (its CPU affinity, as `nproc` counts them).
"""

import os

# nginx proxies to this address (deploy/huiyuan.conf, `upstream huiyuan_web`).
bind = "127.0.0.1:8000"


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def workers_for(database_url: str, ncores: int) -> int:
    """The measured default: 1 worker per core on SQLite and on a PostgreSQL of this host,
    2 per core on a PostgreSQL elsewhere."""
    sqlite = not database_url or database_url.startswith(("sqlite", "spatialite"))
    return max(1, (1 if sqlite or database_is_local(database_url) else 2) * ncores)


def database_is_local(database_url: str) -> bool:
    """A PostgreSQL URL whose host (or `?host=`) is none (the socket), a socket directory,
    localhost or a loopback address. A PgBouncer on this host in front of a database
    elsewhere counts as local: set WEB_CONCURRENCY then."""
    import ipaddress
    from urllib.parse import parse_qs, unquote, urlsplit

    try:
        parts = urlsplit(database_url)
        host = parse_qs(parts.query).get("host", [unquote(parts.hostname or "")])[0]
    except ValueError:  # not a URL Django could use either: its check will say so
        return True
    if not host or host.startswith("/") or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: another host
        return False


workers = int(
    os.environ.get("WEB_CONCURRENCY") or workers_for(os.environ.get("DATABASE_URL", ""), cores())
)
worker_class = "sync"
# A request over 30 s is killed (the SQLite write wait, SQLITE_TIMEOUT 20 s, and the
# database connect timeout stay under it: config/settings.py).
timeout = 30
graceful_timeout = 30
# Requests reach gunicorn only from nginx on this host; X-Forwarded-Proto from there sets
# the scheme (Django reads it too: SECURE_PROXY_SSL_HEADER).
forwarded_allow_ips = "127.0.0.1,::1"
# nginx writes the access log; errors and the app's log go to stderr: the journal.
accesslog = None
errorlog = "-"
loglevel = "info"
proc_name = "huiyuan-web"
