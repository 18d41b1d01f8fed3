import sys
import time

from django.core.management.base import BaseCommand

from loyalty.ledger import ledger_problems
from members.models import Member


class Command(BaseCommand):
    help = (
        "Verify for every member: card points balance == sum of ledger deltas == sum of "
        "lots' remaining points, never negative, and points owed match. Exit 1 on drift."
    )

    def add_arguments(self, parser):
        parser.add_argument("--show", type=int, default=50, help="how many offenders to list")

    def handle(self, *args, show, **opts):
        started = time.monotonic()
        problems = ledger_problems()
        elapsed = time.monotonic() - started
        if not problems:
            self.stdout.write(self.style.SUCCESS(f"Ledger OK ({elapsed:.1f}s)."))
            return
        numbers = dict(
            Member.objects.filter(pk__in=[mid for mid, _ in problems[:show]]).values_list(
                "pk", "member_no"
            )
        )
        self.stderr.write(f"Ledger drift for {len(problems)} member(s) ({elapsed:.1f}s):")
        for member_id, detail in problems[:show]:
            self.stderr.write(f"  {numbers.get(member_id, member_id)}: {detail}")
        sys.exit(1)
