"""Embedding jobs, for near-duplicates and the diversity sampler: create one, queue it, or run it
here. The batches themselves are in embedding_batches.py; see base/jobs.py for the contract."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from accounts.models import User
from base.jobs import job_run_here
from catalog.selectors import hidden_sources

from .embedding_batches import EmbeddingJobError, embedding_batch, embedding_finish
from .models import EmbeddingJob
from .tasks import embedding_batch_task

__all__ = ["EmbeddingJobError", "embedding_job_create", "embedding_job_enqueue", "embedding_job_run_here"]


def embedding_job_create(
    *,
    created_by: User | None,
    source_ids: list[int] | None = None,
    model_name: str | None = None,
    weights: str | None = None,
    checkpoint: str | None = None,
    allow_random_init: bool = False,
) -> EmbeddingJob:
    """A job over the samples of these sources (all when empty) that the requester may see (None:
    an operator on the command line). Weights default to CURATION_CLIP_WEIGHTS; with neither weights
    nor a checkpoint the job is refused unless random init is explicitly allowed."""
    source_ids = list(source_ids or [])
    if created_by is not None and (hidden := hidden_sources(created_by, source_ids)):
        raise EmbeddingJobError(f"no source with id(s) {', '.join(map(str, sorted(hidden)))}")
    if created_by is not None and not source_ids:
        raise EmbeddingJobError("name the sources to embed; only the command line embeds every source")
    weights = weights if weights is not None else settings.CURATION_CLIP_WEIGHTS
    if weights and checkpoint:
        raise EmbeddingJobError("give weights or a checkpoint, not both")
    if not weights and not checkpoint and not allow_random_init:
        raise EmbeddingJobError(
            "no CLIP weights: set CURATION_CLIP_WEIGHTS, give weights or a checkpoint, or allow random init "
            "(whose embeddings find only near-exact copies, and are flagged as random everywhere)"
        )
    return EmbeddingJob.objects.create(
        created_by=created_by,
        source_ids=source_ids,
        model_name=model_name or settings.CURATION_CLIP_MODEL,
        weights=weights or "",
        checkpoint=checkpoint or "",
        allow_random_init=allow_random_init and not weights and not checkpoint,
    )


def embedding_job_enqueue(*, job: EmbeddingJob) -> None:
    job_id, batch = job.pk, job.next_batch
    transaction.on_commit(lambda: embedding_batch_task.delay(job_id, batch))


def embedding_job_requeue(job_id: int) -> None:
    """The job registry's requeue (base/job_kinds.py): the job's current batch, read now."""
    embedding_job_enqueue(job=EmbeddingJob.objects.get(pk=job_id))


def embedding_job_run_here(job: EmbeddingJob, *, on_progress=None) -> EmbeddingJob:
    """The whole job in this process, batch after batch (the CLI without --enqueue, tests)."""

    def run_batch(job_id, batch):
        return embedding_batch(job_id=job_id, batch=batch)

    return job_run_here(job, run_batch=run_batch, finish=embedding_finish, on_progress=on_progress)
