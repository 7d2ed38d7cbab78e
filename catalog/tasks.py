"""Import tasks on the `ingest` queue: one task per batch, then the finishing step. They take ids,
and a redelivered or duplicated message changes nothing (see base/jobs.py)."""

import logging

from celery import shared_task

from base.jobs import batch_task_step

from .ingest import import_batch, import_finish
from .models import ImportJob

logger = logging.getLogger(__name__)


@shared_task(name="catalog.import_batch", acks_late=True, reject_on_worker_lost=True)
def import_batch_task(job_id: int, batch: int) -> None:
    batch_task_step(
        ImportJob,
        job_id,
        batch,
        run_batch=lambda job, number: import_batch(job_id=job, batch=number),
        next_batch=import_batch_task,
        finish=import_finish_task,
    )


@shared_task(name="catalog.import_finish", acks_late=True)
def import_finish_task(job_id: int) -> None:
    import_finish(job_id)


@shared_task(name="catalog.import_dataset", acks_late=True, reject_on_worker_lost=True)
def import_dataset(job_id: int) -> None:
    """Messages queued before imports ran in batches: start (or continue) the job's batches."""
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is not None:
        import_batch_task.delay(job_id, job.next_batch)
