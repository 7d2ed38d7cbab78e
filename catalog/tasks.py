"""Import tasks on the `ingest` queue: one task per batch, then the finishing step. They take ids,
and a redelivered or duplicated message changes nothing (see base/jobs.py)."""

import logging

from celery import shared_task

from base.jobs import JobStatus, job_finish

from .ingest import import_batch, import_finish
from .models import ImportJob

logger = logging.getLogger(__name__)


@shared_task(name="catalog.import_batch", acks_late=True, reject_on_worker_lost=True)
def import_batch_task(job_id: int, batch: int) -> None:
    try:
        more = import_batch(job_id=job_id, batch=batch)
    except Exception as error:  # not one row's fault (a database error, a bug): the job says so, resumable
        logger.exception("import %s: batch %s failed", job_id, batch)
        job = ImportJob.objects.filter(pk=job_id).first()
        if job is not None:
            job_finish(job, status=JobStatus.FAILED, error=f"batch {batch}: {type(error).__name__}: {error}")
        return
    if more is True:
        import_batch_task.delay(job_id, batch + 1)
    elif more is False:
        import_finish_task.delay(job_id)


@shared_task(name="catalog.import_finish", acks_late=True)
def import_finish_task(job_id: int) -> None:
    import_finish(job_id)


@shared_task(name="catalog.import_dataset", acks_late=True, reject_on_worker_lost=True)
def import_dataset(job_id: int) -> None:
    """Messages queued before imports ran in batches: start (or continue) the job's batches."""
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is not None:
        import_batch_task.delay(job_id, job.next_batch)
