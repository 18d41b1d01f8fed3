"""docs/operations.md's job table names every scheduled job, at the time its cron says
(issue 25: three jobs were missing)."""

import re
from pathlib import Path

from loyalty.jobs import JOBS

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def _when(cron: str) -> str:
    """A cron string as the table writes it: "00:05 daily", "08:00 on the 1st"."""
    if cron == "* * * * *":
        return "every minute"
    minute, hour, day, month, weekday = cron.split()
    at = f"{int(hour):02d}:{int(minute):02d}"
    if (day, month, weekday) == ("*", "*", "*"):
        return f"{at} daily"
    if (day, month, weekday) == ("1", "*", "*"):
        return f"{at} on the 1st"
    raise AssertionError(f"write the table's words for {cron!r} here")


def test_the_job_table_lists_every_registered_job_at_its_time():
    text = OPERATIONS.read_text(encoding="utf-8")
    table = dict(re.findall(r"^\| `(\w+)` \| ([^|]+?) \|", text, flags=re.MULTILINE))

    documented = {name: table.get(name) for name in JOBS}
    assert documented == {name: _when(cron) for name, (_f, cron, _a) in JOBS.items()}
