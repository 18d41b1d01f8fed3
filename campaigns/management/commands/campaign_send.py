"""manage.py campaign_send ID: send what is due of a broadcast now (the every-minute
job does the same); running it twice sends nothing twice. Last line: reached=N."""

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from campaigns.marketing.models import Campaign
from campaigns.marketing.sending import campaign_send


class Command(BaseCommand):
    help = "Send what is due of a campaign; ends with reached=N."

    def add_arguments(self, parser):
        parser.add_argument("campaign", type=int)

    def handle(self, *args, campaign, **options):
        found = Campaign.objects.filter(pk=campaign).first()
        if found is None:
            raise CommandError(_("No campaign %(id)s.") % {"id": campaign}, returncode=2)
        counts = campaign_send(found.pk)
        for outcome, n in sorted(counts.items()):
            self.stdout.write(f"  {outcome}: {n}")
        self.stdout.write(f"reached={sum(counts.values())}")
