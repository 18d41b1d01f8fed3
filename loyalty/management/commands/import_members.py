import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from loyalty.imports import columns, presets
from loyalty.imports.matching import tier_choice_save
from loyalty.imports.memory import peak_rss_mb
from loyalty.imports.report import report_lines
from loyalty.imports.runner import CHUNK, import_file
from loyalty.models import ImportJob, Tier
from members.models import Store

UNUSABLE = 2


class Command(BaseCommand):
    help = (
        "Import members (CSV or XLSX, any encoding Excel writes) with their points, tier, "
        "spend and tags. Prints the report and ends with created=N updated=N unchanged=N "
        "errors=N. Exit status 0 when the run completed (rows with errors included), "
        "2 when the file cannot be used."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument(
            "--dry-run", action="store_true", help="check everything, write nothing"
        )
        parser.add_argument("--store", help="store code for new members whose row names none")
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="HEADER=FIELD",
            help="map a column the import does not recognise, e.g. --map 会员电话=phone "
            f"(fields: {', '.join(c.key for c in columns.MEMBER_COLUMNS)})",
        )
        parser.add_argument(
            "--preset",
            choices=[p.key for p in presets.PRESETS],
            help="the system the file was exported from (default: recognised from the header)",
        )
        parser.add_argument(
            "--tier",
            action="append",
            default=[],
            metavar="TEXT=TIER",
            help="which of our tiers a tier name of the file means, e.g. --tier 钻石会员=金卡; "
            "remembered for later imports",
        )
        parser.add_argument(
            "--language",
            choices=[code for code, _name in settings.LANGUAGES],
            help=f"the report's language (default: the active one, {settings.LANGUAGE_CODE})",
        )
        parser.add_argument(
            "--purchases",
            action="store_true",
            help="the file holds historic purchases (phone, order number, amount, time)",
        )
        parser.add_argument(
            "--chunk-size", type=int, default=CHUNK,
            help="rows per transaction (default: 2000 on SQLite, 5000 on PostgreSQL)",
        )  # fmt: skip

    def handle(self, *args, language=None, **opts):
        with translation.override(language or translation.get_language()):
            self.run(**opts)

    def run(self, *, file, dry_run, store, map, purchases, chunk_size, preset, tier, **opts):
        started = time.monotonic()
        default_store = None
        if store:
            default_store = Store.objects.filter(code__iexact=store).first()
            if default_store is None:
                raise CommandError(f"No store with code {store!r}.")
        mapping = {}
        for item in map:
            header, _sep, key = item.partition("=")
            if not key:
                raise CommandError(f"--map needs HEADER=FIELD, not {item!r}")
            mapping[header] = key
        for item in tier:
            text, _sep, name = item.partition("=")
            ours = Tier.objects.filter(name=name.strip()).first()
            if not text.strip() or ours is None:
                names = ", ".join(Tier.objects.order_by("level").values_list("name", flat=True))
                raise CommandError(f"--tier needs TEXT=TIER with one of: {names}; not {item!r}")
            tier_choice_save(value=text, tier=ours)
        kind = ImportJob.Kind.PURCHASES if purchases else ImportJob.Kind.MEMBERS
        try:
            job = import_file(
                path=file,
                dry_run=dry_run,
                store=default_store,
                mapping=mapping,
                chunk_size=max(1, chunk_size) if chunk_size else None,
                kind=kind,
                preset=preset or "",
            )
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc}", returncode=UNUSABLE) from exc
        for line in report_lines(job):
            self.stdout.write(line)
        if job.status == ImportJob.Status.FAILED:
            raise CommandError(job.message.strip(), returncode=UNUSABLE)
        counts = job.preview if job.dry_run else job.counts()
        peak = peak_rss_mb()
        self.stdout.write(f"Seconds: {time.monotonic() - started:.2f}")
        self.stdout.write(f"Peak memory: {peak} MB")
        self.stdout.write(
            "created={created} updated={updated} unchanged={unchanged} errors={errors}".format(
                **{k: counts.get(k, 0) for k in ("created", "updated", "unchanged", "errors")}
            )
        )
