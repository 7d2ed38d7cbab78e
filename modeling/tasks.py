"""The `train` queue's tasks: a training run (safe to deliver twice: runner._claim decides), and the
batches of pre-annotation and embedding jobs (ids only; a redelivered batch changes nothing, base/jobs.py)."""

import logging

from celery import shared_task
from django.conf import settings

from base.jobs import JobStatus, job_finish

from .embedding_batches import embedding_batch, embedding_finish
from .models import EmbeddingJob, PreannotationJob
from .preannotation import preannotation_batch, preannotation_finish
from .runner import HeldElsewhere, training_run_execute

logger = logging.getLogger(__name__)

# Training takes as long as its steps need; the app-wide task time limit is for short tasks.
THIRTY_DAYS = 30 * 24 * 3600


@shared_task(
    bind=True,
    name="modeling.training_run",
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=THIRTY_DAYS,
    max_retries=None,
)
def training_run_task(self, run_id: int) -> None:
    try:
        training_run_execute(run_id)
    except HeldElsewhere:
        # Either a duplicate delivery while the run is healthy (it will find the run finished), or the
        # worker that held it died (it will find the heartbeat stale and resume the run).
        raise self.retry(countdown=settings.TRAINING_HEARTBEAT_STALE_SECONDS) from None


@shared_task(name="modeling.preannotation_batch", acks_late=True, reject_on_worker_lost=True)
def preannotation_batch_task(job_id: int, batch: int) -> None:
    """One batch of a pre-annotation job; a redelivered message finds the batch committed (base/jobs.py)."""
    try:
        more = preannotation_batch(job_id=job_id, batch=batch)
    except Exception as error:  # not one sample's fault (a database error, a bug): the job says so, resumable
        logger.exception("pre-annotation job %s: batch %s failed", job_id, batch)
        job = PreannotationJob.objects.filter(pk=job_id).first()
        if job is not None:
            job_finish(job, status=JobStatus.FAILED, error=f"batch {batch}: {type(error).__name__}: {error}")
        return
    if more is True:
        preannotation_batch_task.delay(job_id, batch + 1)
    elif more is False:
        preannotation_finish_task.delay(job_id)


@shared_task(name="modeling.preannotation_finish", acks_late=True)
def preannotation_finish_task(job_id: int) -> None:
    preannotation_finish(job_id)


@shared_task(name="modeling.embedding_batch", acks_late=True, reject_on_worker_lost=True)
def embedding_batch_task(job_id: int, batch: int) -> None:
    try:
        more = embedding_batch(job_id=job_id, batch=batch)
    except Exception as error:  # not one sample's fault (the tower, the database): the job says so, resumable
        logger.exception("embedding job %s: batch %s failed", job_id, batch)
        job = EmbeddingJob.objects.filter(pk=job_id).first()
        if job is not None:
            job_finish(job, status=JobStatus.FAILED, error=f"batch {batch}: {type(error).__name__}: {error}")
        return
    if more is True:
        embedding_batch_task.delay(job_id, batch + 1)
    elif more is False:
        embedding_finish_task.delay(job_id)


@shared_task(name="modeling.embedding_finish", acks_late=True)
def embedding_finish_task(job_id: int) -> None:
    embedding_finish(job_id)
