"""How long the files of imports and exports are kept (personal data: PIPL keeps it no
longer than needed).

An import's uploaded file, its error file and the refused rows (whole rows as they were
in the file: phones, names) and an export's file are deleted TRANSFER_RETENTION_DAYS
after the job (30 by default); the job rows stay as history (who, when, file name,
counts, duration). Jobs still waiting or running are left alone. The nightly job
`prune_transfers` (loyalty/jobs.py) does it; it can be run by hand with
`manage.py run_job prune_transfers`.
"""

import datetime as dt
import logging

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from ..models import ExportJob, ImportJob, ImportRowError

log = logging.getLogger(__name__)
BUSY_IMPORTS = (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING)
BUSY_EXPORTS = (ExportJob.Status.QUEUED, ExportJob.Status.RUNNING)


def prune_transfers(day: dt.date, now=None) -> dict:
    now = now or timezone.now()
    before = now - dt.timedelta(days=settings.TRANSFER_RETENTION_DAYS)
    counts = {"import_files": 0, "rows_refused": 0, "export_files": 0}
    imports = ImportJob.objects.filter(created_at__lt=before).exclude(status__in=BUSY_IMPORTS)
    for job in imports.exclude(file="", error_file="").iterator():
        for field in (job.file, job.error_file):
            if field:
                _delete(field)
                counts["import_files"] += 1
        # The sample rows and the file's tier texts are the file's data too.
        cleared = {"file": "", "error_file": "", "samples": [], "notes": {}}
        if job.status != ImportJob.Status.DONE:  # a dry run never confirmed, a failed run
            cleared["status"] = ImportJob.Status.FAILED
            cleared["message"] = _(
                "The file was deleted %(days)d days after its upload (personal data). "
                "Upload it again to import it."
            ) % {"days": settings.TRANSFER_RETENTION_DAYS}
        ImportJob.objects.filter(pk=job.pk).update(**cleared)
    refused = ImportRowError.objects.filter(job__in=imports.values("pk"))
    counts["rows_refused"] = refused.delete()[0]
    exports = ExportJob.objects.filter(created_at__lt=before).exclude(status__in=BUSY_EXPORTS)
    for job in exports.exclude(file="").iterator():
        _delete(job.file)
        counts["export_files"] += 1
        ExportJob.objects.filter(pk=job.pk).update(file="")
    return counts


def _delete(field) -> None:
    try:
        field.storage.delete(field.name)
    except OSError:  # already gone (deleted by hand): the row is cleared all the same
        log.warning("could not delete %s", field.name, exc_info=True)
