"""`manage.py run_job NAME [--date YYYY-MM-DD]`: run one scheduled job now; `--list` names them."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from loyalty.jobs import JOBS, JobFailed, run_job


class Command(BaseCommand):
    help = "Run one scheduled job now (recorded as a JobRun), or list the jobs."

    def add_arguments(self, parser):
        parser.add_argument("name", nargs="?", help="the job's name (see --list)")
        parser.add_argument("--date", help="the Shanghai day to run for (default today)")
        parser.add_argument("--list", action="store_true", help="list the jobs and schedules")

    def handle(self, *args, name=None, date=None, list=False, **options):
        if list or not name:
            for job, (_func, cron, about) in JOBS.items():
                self.stdout.write(f"{job:<24} {cron:<12} {about}")
            if not list:
                raise CommandError("name a job to run it")
            return
        if name not in JOBS:
            raise CommandError(f"unknown job {name!r}; known: {', '.join(JOBS)}")
        day = None
        if date:
            try:
                day = dt.date.fromisoformat(date)
            except ValueError as exc:
                raise CommandError(f"--date must be YYYY-MM-DD, not {date!r}") from exc
        try:
            run = run_job(name, day)
        except JobFailed as exc:
            raise CommandError(str(exc)) from exc
        counts = " ".join(f"{k}={v}" for k, v in run.counts.items())
        self.stdout.write(f"{name} {run.run_date}: {counts} ({run.seconds}s)")
