"""django-q2 task: thin, takes the job's id, safe to run twice (the job is claimed)."""

from .runner import import_job_run


def import_job_task(job_id: int) -> None:
    import_job_run(job_id=job_id)
