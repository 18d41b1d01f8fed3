import random
import time

from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandError

from members.demo import DEMO_PASSWORD, seed_members, seed_stores_and_staff
from members.models import Member
from members.signals import demo_seeded


class Command(BaseCommand):
    help = (
        "Build a demo merchant: stores, staff of each role (passwords printed once), "
        "members, and whatever the other apps add (tiers, purchases, coupons ...)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--members", type=int, default=2000, help="members to add")
        parser.add_argument(
            "--purchases", type=int, default=None, help="purchases to add (default: 3 per member)"
        )
        parser.add_argument(
            "--if-empty", action="store_true", help="do nothing when members already exist"
        )
        parser.add_argument("--password", default=DEMO_PASSWORD, help="password of the demo staff")
        parser.add_argument("--seed", type=int, default=2026, help="random seed (repeatable data)")
        parser.add_argument("--batch-size", type=int, default=5000)

    def handle(self, *args, **opts):
        n = opts["members"]
        if n < 0 or (opts["purchases"] or 0) < 0:
            raise CommandError("--members and --purchases must not be negative")
        if opts["if_empty"] and Member.objects.exists():
            self.stdout.write("Members already exist; demo data not added (--if-empty).")
            return
        rng = random.Random(opts["seed"])
        started = time.monotonic()
        staff = seed_stores_and_staff(password=opts["password"])
        if staff:
            self.stdout.write(
                self.style.SUCCESS(f"Demo staff (password for all: {opts['password']})")
            )
            for s in staff:
                self.stdout.write(f"  {s.username:<18} {s.role:<8} {s.store}")
        else:
            self.stdout.write("Demo stores and staff already exist (passwords unchanged).")

        def progress(done, total):
            if done == total or done % 100_000 == 0:
                rate = done / max(time.monotonic() - started, 1e-6)
                self.stdout.write(f"  members {done:>9,}/{total:,}  ({rate:,.0f}/s)")

        indexes = seed_members(count=n, rng=rng, batch_size=opts["batch_size"], progress=progress)
        new_ids = Member.objects.order_by().filter(pk__gt=0)
        if indexes.start:
            # Only the members this run added (their ids follow the earlier ones').
            first = Member.objects.order_by("pk").values_list("pk", flat=True)[indexes.start]
            new_ids = new_ids.filter(pk__gte=first)
        purchases = opts["purchases"] if opts["purchases"] is not None else 3 * n
        demo_seeded.send(
            sender=self.__class__,
            member_ids=new_ids.values_list("pk", flat=True),
            purchases=purchases,
            rng=rng,
            stdout=self.stdout,
        )
        self.compute_dashboard()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready in {time.monotonic() - started:.1f}s: {n:,} members added."
            )
        )

    def compute_dashboard(self):
        """The dashboard's figures of the demo's days now, not after the first night: the
        dashboard_aggregates job, run through the jobs registry's command (members names
        no app above it)."""
        if "run_job" not in get_commands():
            return
        try:
            call_command("run_job", "dashboard_aggregates", stdout=self.stdout)
        except CommandError as exc:  # no such job here (campaigns not installed), or it failed
            self.stderr.write(f"Dashboard figures not computed: {exc}")
