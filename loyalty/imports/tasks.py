"""django-q2 task: thin, takes the job's id, safe to run twice (the job is claimed).

The run speaks the language of whoever queued it (ImportJob.language): its row errors,
report and error file are read by them."""

from django.conf import settings
from django.utils import translation

from ..models import ImportJob
from .runner import import_job_run


def import_job_task(job_id: int) -> None:
    language = ImportJob.objects.filter(pk=job_id).values_list("language", flat=True).first()
    with translation.override(language or settings.LANGUAGE_CODE):
        import_job_run(job_id=job_id)
