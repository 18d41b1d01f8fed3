"""manage.py campaign_report ID [--json]: the campaign's report per variant and for
the holdout (campaigns/marketing/report.py); --json prints the issue's shape."""

import json

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from campaigns.marketing.models import Campaign
from campaigns.marketing.report import as_json, campaign_report


class Command(BaseCommand):
    help = "A campaign's report: audience, delivery, coupons, purchasers, revenue, ROI, lift."

    def add_arguments(self, parser):
        parser.add_argument("campaign", type=int)
        parser.add_argument("--json", action="store_true", help="Machine-readable output")

    def handle(self, *args, campaign, json=False, **options):  # noqa: A002 - the option's name
        found = Campaign.objects.filter(pk=campaign).first()
        if found is None:
            raise CommandError(_("No campaign %(id)s.") % {"id": campaign}, returncode=2)
        data = as_json(campaign_report(found))
        if json:
            self.stdout.write(dumps(data))
            return
        audience = _("audience")
        self.stdout.write(f"{found.name} · {audience} {data['audience']}")
        rows = [("holdout", data["holdout"])] + [(v["name"], v) for v in data["variants"]]
        words = {"purchasers": _("purchasers"), "revenue": _("revenue"),
                 "conversion": _("conversion")}  # fmt: skip
        for name, row in rows:
            self.stdout.write(
                f"  {name}: {row['members']} · {words['purchasers']} {row['purchasers']} · "
                f"{words['revenue']} {row['revenue']} · {words['conversion']} {row['conversion']}"
            )
        for said in data["verdicts"]:
            self.stdout.write(f"  {said}")
        self.stdout.write(f"roi={data['roi']}")


def dumps(data) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)
