"""Embedding jobs, for near-duplicates and the diversity sampler: create one, queue it, or run it
here. The batches themselves are in embedding_batches.py; see base/jobs.py for the contract."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet

from accounts.models import User
from base.jobs import job_run_here
from catalog.models import Source
from catalog.selectors import hidden_sources, sees_every_source, without_hidden

from .embedding_batches import EmbeddingJobError, embedding_batch, embedding_finish
from .models import EmbeddingJob, ModelCheckpoint
from .selectors import runs_visible_to
from .tasks import embedding_batch_task

__all__ = [
    "EmbeddingJobError",
    "EmbeddingJobRequest",
    "embedding_job_check",
    "embedding_job_create",
    "embedding_job_enqueue",
    "embedding_job_run_here",
    "embedding_jobs_visible_to",
]


@dataclass(frozen=True)
class EmbeddingJobRequest:
    """What embedding_job_check made of a request: the sources and the tower to embed with."""

    sources: QuerySet[Source]
    weights: str
    checkpoint: str
    allow_random_init: bool


def embedding_jobs_visible_to(user: User) -> QuerySet[EmbeddingJob]:
    """The jobs over sources `user` may all see, whose tower is not a checkpoint of a training run
    hidden from them (selectors.runs_visible_to: its lineage learned from a hidden source). A job names its checkpoint by path (the
    run's folder), so the hidden checkpoints are matched by their paths."""
    jobs = without_hidden(EmbeddingJob.objects.all(), user, "sources")
    if sees_every_source(user):
        return jobs
    hidden_checkpoints = ModelCheckpoint.objects.exclude(run__in=runs_visible_to(user).values("pk"))
    return jobs.exclude(checkpoint__in=hidden_checkpoints.values("path"))


def _check_weights_file(weights: str) -> None:
    """A weights file a person names (API, admin) lies under MODEL_WEIGHTS_ROOTS: a worker loads it, and
    its existence elsewhere on the server is nobody's business."""
    resolved = Path(weights).resolve()
    if not any(resolved.is_relative_to(root.resolve()) for root in settings.MODEL_WEIGHTS_ROOTS):
        roots = ", ".join(str(root) for root in settings.MODEL_WEIGHTS_ROOTS) or "none configured"
        raise EmbeddingJobError(f"weights must lie under MODEL_WEIGHTS_ROOTS ({roots})", field="weights")
    if not resolved.is_file():
        raise EmbeddingJobError(f"no weights file {weights}", field="weights")


def embedding_job_check(
    *,
    created_by: User | None,
    source_ids: list[int] | None = None,
    weights: str | None = None,
    checkpoint: str | None = None,
    allow_random_init: bool = False,
) -> EmbeddingJobRequest:
    """The job as asked, or EmbeddingJobError naming what is wrong (`field`: the input at fault).
    The sources must exist and the requester may see them (None: an operator on the command line,
    who may also name none: every source there is now). Weights default to CURATION_CLIP_WEIGHTS
    unless a checkpoint is given; with neither weights nor a checkpoint the job is refused unless
    random init is explicitly allowed."""
    source_ids = sorted({int(source_id) for source_id in source_ids or []})
    if created_by is not None and (hidden := hidden_sources(created_by, source_ids)):
        raise EmbeddingJobError(f"no source with id(s) {', '.join(map(str, sorted(hidden)))}", field="sources")
    if created_by is not None and not source_ids:
        raise EmbeddingJobError("name the sources to embed; only the command line embeds every source", field="sources")
    sources = Source.objects.filter(pk__in=source_ids) if source_ids else Source.objects.all()
    if source_ids and (missing := set(source_ids) - set(sources.values_list("pk", flat=True))):
        raise EmbeddingJobError(f"no source with id(s) {', '.join(map(str, sorted(missing)))}", field="sources")
    if weights and created_by is not None:
        _check_weights_file(weights)
    if weights is None and not checkpoint:
        weights = settings.CURATION_CLIP_WEIGHTS
    if weights and checkpoint:
        raise EmbeddingJobError("give weights or a checkpoint, not both", field="weights")
    if not weights and not checkpoint and not allow_random_init:
        raise EmbeddingJobError(
            "no CLIP weights: set CURATION_CLIP_WEIGHTS, give weights or a checkpoint, or allow random init "
            "(whose embeddings are flagged as random everywhere and never used to find near-duplicates)",
            field="weights",
        )
    return EmbeddingJobRequest(
        sources=sources,
        weights=weights or "",
        checkpoint=checkpoint or "",
        # with a checkpoint the flag stands: the tower it saved may be a random one (every tiny preset's is)
        allow_random_init=allow_random_init and not weights,
    )


def embedding_job_create(
    *,
    created_by: User | None,
    source_ids: list[int] | None = None,
    model_name: str | None = None,
    weights: str | None = None,
    checkpoint: str | None = None,
    allow_random_init: bool = False,
) -> EmbeddingJob:
    """A job made as embedding_job_check allows (EmbeddingJobError otherwise); it is not queued."""
    request = embedding_job_check(
        created_by=created_by,
        source_ids=source_ids,
        weights=weights,
        checkpoint=checkpoint,
        allow_random_init=allow_random_init,
    )
    with transaction.atomic():
        job = EmbeddingJob.objects.create(
            created_by=created_by,
            model_name=model_name or settings.CURATION_CLIP_MODEL,
            weights=request.weights,
            checkpoint=request.checkpoint,
            allow_random_init=request.allow_random_init,
        )
        job.sources.set(request.sources)
    return job


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
