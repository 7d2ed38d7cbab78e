"""Caption tasks on the `caption` queue: one task per batch, then the finishing step. They take
ids, and a redelivered or duplicated message changes nothing (see base/jobs.py)."""

import logging

from celery import shared_task

from base.jobs import batch_task_step

from .drafting import caption_job_batch, caption_job_finish
from .models import CaptionJob

logger = logging.getLogger(__name__)


@shared_task(name="annotation.caption_job_batch", acks_late=True, reject_on_worker_lost=True)
def caption_job_batch_task(job_id: int, batch: int) -> None:
    batch_task_step(
        CaptionJob,
        job_id,
        batch,
        run_batch=lambda job, number: caption_job_batch(job_id=job, batch=number),
        next_batch=caption_job_batch_task,
        finish=caption_job_finish_task,
    )


@shared_task(name="annotation.caption_job_finish", acks_late=True)
def caption_job_finish_task(job_id: int) -> None:
    caption_job_finish(job_id)


@shared_task(name="annotation.caption_job", acks_late=True, reject_on_worker_lost=True)
def caption_job_run_task(job_id: int) -> None:
    """Messages queued before caption jobs ran in batches: start (or continue) the job's batches."""
    job = CaptionJob.objects.filter(pk=job_id).first()
    if job is not None:
        caption_job_batch_task.delay(job_id, job.next_batch)
