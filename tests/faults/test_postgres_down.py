"""PostgreSQL restarting and its backends killed while the counter and the POS API are busy.

The promise: a request during the outage fails fast with a 503 that says so (a page for
the clerk, JSON for the POS), never a 500 and never a hang past 5 s; every purchase
answered 201 is stored; a POS retrying the same external_ref afterwards ends with
exactly one purchase; the app serves again within 5 s of the database coming back, with
no restart of gunicorn; /healthz says 503 during and 200 after.
"""

import time

import pytest

from .conftest import report
from .harness import Load, member_numbers, wait_for

pytestmark = pytest.mark.faults
HANG = 5.0  # no answer may take longer than this, outage or not
RECOVERY = 5.0  # seconds from the database back to the app serving again


def busy(stack, tag: str) -> Load:
    """Two POS terminals posting purchases, a clerk searching, a monitor on /healthz."""
    numbers = member_numbers(stack)
    load = Load()
    for terminal in ("a", "b"):

        def post(n, terminal=terminal):
            ref = f"{tag}-{terminal}-{n}"
            return ref, stack.purchase(ref, numbers[n % len(numbers)], timeout=HANG + 5)

        load.add(f"purchase-{terminal}", post)
    load.add("lookup", lambda n: ("", stack.lookup(numbers[n % len(numbers)], timeout=HANG + 5)))
    load.add("healthz", lambda n: ("", stack.healthz(timeout=HANG + 5)))
    return load


def purchases(load: Load) -> list:
    return load.of("purchase-a") + load.of("purchase-b")


def stored(stack, refs) -> dict[str, int]:
    rows = stack.pg.sql(
        "SELECT external_ref, count(*) FROM loyalty_purchase WHERE external_ref = ANY(%s) "
        "GROUP BY external_ref",
        (list(refs),),
    )
    return dict(rows)


def check_answers(load: Load) -> None:
    """No 500, no hang; every refusal is the documented 503."""
    answers = load.answers
    slow = [a for a in answers if a.seconds > HANG]
    assert not slow, f"{len(slow)} answers took over {HANG}s, e.g. {slow[0]}"
    errors = [a for a in answers if a.status >= 500 and a.status != 503]
    assert not errors, f"{len(errors)} server errors, e.g. {errors[0]}"
    unexpected = [a for a in answers if a.status not in (0, 200, 201, 302, 503)]
    assert not unexpected, f"unexpected answers, e.g. {unexpected[0]}"
    for answer in answers:
        if answer.status == 503 and answer.kind.startswith("purchase"):
            assert '"code": "service_unavailable"' in answer.body, answer.body
        if answer.status == 503 and answer.kind == "lookup":
            assert "503" in answer.body and "<html" in answer.body, answer.body[:300]


def converge(stack, load: Load) -> dict:
    """Every 201 stored; the POS retries every other ref; each ends as one purchase."""
    sent = purchases(load)
    acknowledged = {a.key for a in sent if a.status == 201}
    found = stored(stack, acknowledged)
    lost = acknowledged - set(found)
    assert not lost, f"{len(lost)} purchases answered 201 are not stored, e.g. {sorted(lost)[:3]}"
    unanswered = [a for a in sent if a.status not in (200, 201)]
    numbers = member_numbers(stack)
    for answer in unanswered:  # the POS's retry queue, after the outage
        n = int(answer.key.rsplit("-", 1)[1])
        again = stack.purchase(answer.key, numbers[n % len(numbers)])
        assert again.status_code in (200, 201), (answer.key, again.status_code, again.text)
    everything = stored(stack, {a.key for a in sent})
    doubled = {ref: n for ref, n in everything.items() if n != 1}
    assert not doubled, f"refs stored more than once: {doubled}"
    assert set(everything) == {a.key for a in sent}
    return {"acknowledged": len(acknowledged), "retried": len(unanswered)}


def first_success_after(load: Load, kind_prefix: str, moment: float) -> float:
    ok = [a.started + a.seconds for a in load.answers
          if a.kind.startswith(kind_prefix) and a.status in (200, 201)
          and a.started >= moment]  # fmt: skip
    assert ok, f"no {kind_prefix} succeeded after the database came back"
    return min(ok) - moment


def test_a_postgresql_stop_and_start_under_load(pg_stack):
    stack = pg_stack
    with busy(stack, "outage") as load:
        time.sleep(1)
        down_at = time.monotonic()
        stack.pg.stop()
        time.sleep(3)
        stack.pg.start()
        up_at = time.monotonic()
        wait_for(lambda: stack.healthz().status_code == 200, RECOVERY, "/healthz 200 again")
        time.sleep(2)
    check_answers(load)
    during = [a for a in load.answers if down_at <= a.started < up_at]
    assert any(a.status == 503 for a in during if a.kind == "healthz"), "/healthz said 503 during"
    assert load.of("healthz")[-1].status == 200
    assert any(a.status == 503 for a in during if a.kind.startswith("purchase"))
    assert any(a.status == 503 for a in during if a.kind == "lookup")
    recovery = {
        kind: first_success_after(load, kind, up_at) for kind in ("purchase", "lookup", "healthz")
    }
    assert max(recovery.values()) <= RECOVERY, recovery
    figures = converge(stack, load)
    stack.manage("check_ledger")
    report("PostgreSQL stopped 3 s under load", {
        "requests": len(load.answers),
        "during the outage": len(during),
        "503 during": sum(a.status == 503 for a in during),
        "no answer during": sum(a.status == 0 for a in during),
        "slowest answer s": round(max(a.seconds for a in load.answers), 2),
        **figures,
        **{f"recovery {kind} s": round(s, 2) for kind, s in recovery.items()},
    })  # fmt: skip


def test_pg_ctl_restart_under_load(pg_stack):
    stack = pg_stack
    with busy(stack, "restart") as load:
        time.sleep(1)
        restarted_at = time.monotonic()
        stack.pg.restart()
        back_at = time.monotonic()
        time.sleep(2)
    check_answers(load)
    recovery = first_success_after(load, "purchase", back_at)
    assert recovery <= RECOVERY
    figures = converge(stack, load)
    report("pg_ctl restart -m fast under load", {
        "requests": len(load.answers),
        "restart s": round(back_at - restarted_at, 2),
        "not 2xx": sum(a.status not in (200, 201, 302) for a in load.answers),
        "recovery purchase s": round(recovery, 2),
        **figures,
    })  # fmt: skip


def test_killed_backends_are_replaced(pg_stack):
    """pg_terminate_backend on the app's connections, three times: each worker's next
    request notices its dead connection and opens a new one (CONN_HEALTH_CHECKS)."""
    stack = pg_stack
    killed = 0
    with busy(stack, "killed") as load:
        for _ in range(3):
            time.sleep(1)
            killed += stack.pg.kill_backends()
        last_kill = time.monotonic()
        time.sleep(2)
    check_answers(load)
    after = [a for a in load.answers if a.started >= last_kill + 0.5]
    assert after and all(a.status in (200, 201, 302) for a in after), [
        (a.kind, a.status) for a in after if a.status not in (200, 201, 302)
    ]
    figures = converge(stack, load)
    report("backends killed 3 times under load", {
        "backends killed": killed,
        "requests": len(load.answers),
        "503": sum(a.status == 503 for a in load.answers),
        **figures,
    })  # fmt: skip
