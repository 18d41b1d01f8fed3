"""manage.py campaign_create --spec FILE.json: a campaign from a spec
(campaigns/marketing/spec.py), checked and scheduled; the last line is campaign=ID."""

import json

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from campaigns.marketing.sending import CampaignError
from campaigns.marketing.spec import campaign_from_spec


class Command(BaseCommand):
    help = "Create and schedule a campaign from a JSON spec; ends with campaign=ID."

    def add_arguments(self, parser):
        parser.add_argument("--spec", required=True, help="The campaign spec, a JSON file")

    def handle(self, *args, spec, **options):
        try:
            with open(spec, encoding="utf-8-sig") as handle:
                data = json.load(handle)
        except (OSError, ValueError) as exc:
            raise CommandError(_("Cannot read the spec: %(error)s") % {"error": exc},
                               returncode=2) from None  # fmt: skip
        try:
            campaign = campaign_from_spec(data)
        except CampaignError as exc:
            raise CommandError(str(exc), returncode=2) from None
        variants = ", ".join(v.name for v in campaign.variants.order_by("name"))
        self.stdout.write(
            _("Scheduled %(name)s for %(at)s: variants %(variants)s, holdout %(holdout)d%%.")
            % {"name": campaign.name, "at": campaign.send_at.isoformat(timespec="minutes"),
               "variants": variants, "holdout": campaign.holdout_percent}
        )  # fmt: skip
        self.stdout.write(f"campaign={campaign.pk}")
