"""The `train` queue's tasks: a training run (safe to deliver twice: runner._claim decides), and the
batches of pre-annotation and embedding jobs (ids only; a redelivered batch changes nothing, base/jobs.py)."""

import logging

from celery import shared_task
from django.conf import settings

from base.jobs import batch_task_step

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
    batch_task_step(
        PreannotationJob,
        job_id,
        batch,
        run_batch=lambda job, number: preannotation_batch(job_id=job, batch=number),
        next_batch=preannotation_batch_task,
        finish=preannotation_finish_task,
    )


@shared_task(name="modeling.preannotation_finish", acks_late=True)
def preannotation_finish_task(job_id: int) -> None:
    preannotation_finish(job_id)


@shared_task(name="modeling.embedding_batch", acks_late=True, reject_on_worker_lost=True)
def embedding_batch_task(job_id: int, batch: int) -> None:
    batch_task_step(
        EmbeddingJob,
        job_id,
        batch,
        run_batch=lambda job, number: embedding_batch(job_id=job, batch=number),
        next_batch=embedding_batch_task,
        finish=embedding_finish_task,
    )


@shared_task(name="modeling.embedding_finish", acks_late=True)
def embedding_finish_task(job_id: int) -> None:
    embedding_finish(job_id)
