"""manage.py segment_count --rules '<json>' | --segment NAME [--store CODE]

Prints the rule in words, when it was counted, the members per store and the time
taken; the last line is ``count=N`` (scripts read it). A bad rule exits with 2 and
the validation message.
"""

import json
import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import Segment
from campaigns.segments.rules import RuleError, check, describe
from campaigns.segments.services import count_by_store
from members.models import Store
from members.replica import from_replica


class Command(BaseCommand):
    help = "Count the members of a segment rule (or a saved segment); ends with count=N."

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--rules", help='The rule as JSON, e.g. {"all": [...]}')
        which.add_argument("--segment", help="The name of a saved segment")
        parser.add_argument("--store", help="Only this store's members (store code)")

    @from_replica  # reads only: the replica when there is one
    def handle(self, *args, rules=None, segment=None, store=None, **options):
        if segment is not None:
            try:
                tree = Segment.objects.get(name=segment).rules
            except Segment.DoesNotExist:
                raise CommandError(
                    _("No segment named %(name)s.") % {"name": segment}, returncode=2
                ) from None
            self.stdout.write(_("Segment: %(name)s") % {"name": segment})
        else:
            try:
                tree = json.loads(rules)
            except ValueError as exc:
                raise CommandError(
                    _("The rule is not JSON: %(error)s") % {"error": exc}, returncode=2
                ) from None
        try:
            tree = check(tree)
        except RuleError as exc:
            raise CommandError(" ".join(exc.messages), returncode=2) from exc
        only = None
        if store is not None:
            only = Store.objects.filter(code=store).first()
            if only is None:
                raise CommandError(
                    _("No store with code %(code)s.") % {"code": store}, returncode=2
                )
        started = time.perf_counter()
        total, per_store = count_by_store(tree, store=only)
        seconds = time.perf_counter() - started
        self.stdout.write(_("Rule: %(rule)s") % {"rule": describe(tree)})
        self.stdout.write(
            _("As of: %(at)s") % {"at": timezone.localtime().strftime("%Y-%m-%d %H:%M:%S")}
        )
        names = dict(Store.objects.values_list("pk", "name"))
        for key, n in sorted(per_store.items(), key=lambda item: -item[1]):
            label = names.get(int(key), key) if key else _("(no store)")
            self.stdout.write(f"  {label}: {n}")
        self.stdout.write(_("Counted in %(seconds).2f s") % {"seconds": seconds})
        self.stdout.write(f"count={total}")
