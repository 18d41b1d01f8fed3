import shutil
import sys

from django.core.management.base import BaseCommand, CommandError

from loyalty.imports import exports
from members.models import Member, Store, Tag


class Command(BaseCommand):
    help = (
        "Export members with their card (tier, points, spend) and tags to CSV (UTF-8 with "
        "BOM) or XLSX, in batches (constant memory). Phones are masked unless --full-phones. "
        "Recorded in the audit trail."
    )

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["csv", "xlsx"], default="csv")
        parser.add_argument("--tag", help="only members with this tag (name)")
        parser.add_argument("--store", help="only members of this store (code)")
        parser.add_argument("--output", "-o", help="file to write (default: standard output)")
        parser.add_argument(
            "--full-phones",
            action="store_true",
            help="whole mobile numbers, e-mail and addresses (default: masked phones)",
        )

    def handle(self, *args, format, tag, store, output, full_phones, **opts):
        queryset = Member.objects.all()
        what = ["command"]
        if tag:
            found = Tag.objects.filter(name=tag).first()
            if found is None:
                raise CommandError(f"No tag named {tag!r}.")
            queryset = queryset.filter(tags=found)
            what.append(f"tag: {tag}")
        if store:
            found = Store.objects.filter(code__iexact=store).first()
            if found is None:
                raise CommandError(f"No store with code {store!r}.")
            queryset = queryset.filter(store=found)
            what.append(f"store: {found.code}")
        if format == "xlsx" and not output:
            raise CommandError("--format xlsx needs --output FILE")
        if format == "xlsx" and (too_many := exports.xlsx_too_many(queryset)):
            raise CommandError(too_many)
        rows_total = queryset.count()
        exports.export_audit(
            actor=None, what=" · ".join(what), fmt=format, full_contact=full_phones, rows=rows_total
        )
        header = exports.headers(full_contact=full_phones)
        rows = exports.member_rows(queryset, full_contact=full_phones)
        counter = [0]
        if format == "xlsx":
            with exports.xlsx_file(rows, header, counter) as made, open(output, "wb") as out:
                shutil.copyfileobj(made, out)  # in blocks: the workbook may be large
        else:
            target = open(output, "wb") if output else sys.stdout.buffer  # noqa: SIM115
            try:
                for chunk in exports.csv_stream(rows, header, counter):
                    target.write(chunk)
            finally:
                if output:
                    target.close()
        self.stderr.write(f"exported={counter[0]}")
