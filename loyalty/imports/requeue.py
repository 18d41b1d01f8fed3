"""Imports and exports left waiting because their task never reached the broker.

The rows are the truth: an ImportJob or ExportJob in "queued" is work asked for; the
task (members.queue.enqueue) is only the nudge, and with the broker (Redis) down it is
lost (logged). Every minute, `requeue_waiting` queues the task again of every job that
has waited more than WAIT: since it was queued for an import (its heartbeat_at, set by
import_job_queue), since it was asked for for an export (created_at: it is queued
then, once). A job whose first task is still in the broker (the workers are busy) gets
a second nudge too: harmless, as each task claims its job with a conditional UPDATE
(runner._claim, export_job_task) and the second one finds nothing to do.
"""

import datetime as dt

from django.db.models import Q
from django.utils import timezone

from ..models import ExportJob, ImportJob
from .exports import enqueue_export
from .runner import enqueue_import

WAIT = dt.timedelta(minutes=2)
LIMIT = 500  # jobs a run nudges of each kind; the next minute takes the rest


def requeue_waiting(day: dt.date, now: dt.datetime | None = None) -> dict:
    """The job: queue again the tasks of the jobs waiting longer than WAIT."""
    now = now or timezone.now()
    before = now - WAIT
    counts = {"imports_requeued": 0, "exports_requeued": 0}
    waiting = ImportJob.objects.filter(status=ImportJob.Status.QUEUED).filter(
        Q(heartbeat_at__lt=before) | Q(heartbeat_at__isnull=True, created_at__lt=before)
    )
    for job_id in list(waiting.order_by("pk").values_list("pk", flat=True)[:LIMIT]):
        if not enqueue_import(job_id):
            break  # the broker is still down: the next minute tries again
        counts["imports_requeued"] += 1
        # Waited since now: nudged again WAIT later if still nobody takes it.
        ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.QUEUED).update(heartbeat_at=now)
    exports = ExportJob.objects.filter(status=ExportJob.Status.QUEUED, created_at__lt=before)
    for job_id in list(exports.order_by("pk").values_list("pk", flat=True)[:LIMIT]):
        if not enqueue_export(job_id):
            break
        counts["exports_requeued"] += 1
    return counts
