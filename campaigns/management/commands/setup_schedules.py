"""`manage.py setup_schedules`: declare every scheduled job in django-q2, idempotently.

Run on every deploy (and by `make run`). Schedules are keyed by name
(update_or_create): running it again changes nothing, and a changed cron string
in loyalty/jobs.py replaces the old one. Cron strings are Asia/Shanghai time
(django-q2 reads them in settings.TIME_ZONE).
"""

from django.core.management.base import BaseCommand
from django_q.models import Schedule

from loyalty.jobs import JOBS

PREFIX = "huiyuan:"


class Command(BaseCommand):
    help = "Create or update the django-q2 schedules of all scheduled jobs."

    def handle(self, *args, **options):
        names = []
        for name, (_func, cron, about) in JOBS.items():
            schedule_name = PREFIX + name
            names.append(schedule_name)
            obj, created = Schedule.objects.get_or_create(
                name=schedule_name,
                defaults={
                    "func": "loyalty.jobs.scheduled",
                    "args": repr((name,)),
                    "schedule_type": Schedule.CRON,
                    "cron": cron,
                    "repeats": -1,
                    "intended_date_kwarg": "scheduled_for",
                },
            )
            if not created and (obj.cron, obj.func) != (cron, "loyalty.jobs.scheduled"):
                obj.func, obj.cron, obj.args = "loyalty.jobs.scheduled", cron, repr((name,))
                obj.schedule_type, obj.intended_date_kwarg = Schedule.CRON, "scheduled_for"
                obj.next_run = None  # recomputed from the new cron on save
                obj.save()
            state = "created" if created else "up to date"
            self.stdout.write(f"{schedule_name:<36} {cron:<12} {state}  # {about}")
        gone = Schedule.objects.filter(name__startswith=PREFIX).exclude(name__in=names)
        for obj in gone:
            self.stdout.write(f"{obj.name:<36} removed (no such job any more)")
        gone.delete()
