from celery import shared_task
from django.db import transaction

from .ingest import import_run
from .models import ImportJob, ImportStatus


@shared_task(name="catalog.import_dataset", acks_late=True, reject_on_worker_lost=True)
def import_dataset(job_id: int) -> None:
    """Run one import job. Safe to deliver twice: a finished job is left alone, and a job that
    was interrupted resumes after the rows it already reported."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().select_related("source").filter(pk=job_id).first()
        if job is None or job.status in (ImportStatus.SUCCEEDED, ImportStatus.FAILED):
            return
    import_run(job=job)
