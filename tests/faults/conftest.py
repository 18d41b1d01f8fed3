"""Fixtures of the fault suite: stacks of private services (tests/faults/harness.py).

The stacks start their own PostgreSQL and Redis, so they run once, in the SQLite pass
of `make test`; the PostgreSQL pass (DATABASE_URL set) skips them rather than start the
same servers twice. The in-process fault tests beside them (a full disk, WeChat down)
run in both passes.
"""

import os

import pytest

from .harness import Stack

BUSY_SECONDS = 3


def _stack(**options):
    if os.environ.get("DATABASE_URL"):
        pytest.skip(
            "the fault stacks run once, in the SQLite pass (they bring their own PostgreSQL)"
        )
    stack = Stack.create(**options)
    try:
        yield stack
    finally:
        stack.close()


@pytest.fixture(scope="session")
def pg_stack():
    """A private PostgreSQL and Redis, gunicorn (2 workers) on them, 1,500 demo members
    (enough for a nightly job to take several batches); qcluster started by the tests
    that need it. One for the session: each test leaves it serving."""
    yield from _stack(postgres=True, redis=True, members=1500)


@pytest.fixture(scope="module")
def sqlite_stack():
    """The embedded default: SQLite in a temporary DATA_DIR, gunicorn (2 workers); a
    writer waits 3 s for the write lock (SQLITE_TIMEOUT), not 20, so the busy case is quick."""
    yield from _stack(postgres=False, redis=False, env={"SQLITE_TIMEOUT": str(BUSY_SECONDS)})


FIGURES: list[str] = []  # what the fault tests measured, shown at the end of the run


def report(title: str, figures: dict) -> None:
    """Keep the figures a fault test measured for the run's summary (and print them)."""
    line = f"{title}: " + ", ".join(f"{k} {v}" for k, v in figures.items())
    FIGURES.append(line)
    print(f"\n[faults] {line}")


def pytest_terminal_summary(terminalreporter):
    """The measured figures under the results, in `make test`'s output too."""
    if FIGURES:
        terminalreporter.section("faults: what was measured")
        for line in FIGURES:
            terminalreporter.write_line(line)
