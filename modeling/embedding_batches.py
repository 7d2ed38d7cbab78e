"""The batches of an embedding job: the CLIP image tower (modeling/core/image_embeddings.py) over the
catalog's samples, written through the catalog's services (the vectors as rows, then the nearest-
neighbour index, incrementally). Tasks call this module; it queues nothing (see base/jobs.py)."""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import lru_cache

from django.conf import settings
from django.db.models import Exists, F, OuterRef
from PIL import Image, UnidentifiedImageError

from base.jobs import JobStatus, job_batch_begin, job_batch_done, job_batch_lock, job_finish
from catalog.embedding_index import (
    embedding_index_add,
    embedding_index_sync,
    embedding_space_get_or_create,
    sample_embeddings_store,
)
from catalog.models import EmbeddingSpace, Sample, SampleEmbedding
from catalog.near_duplicate_pairs import near_duplicate_pairs_add, near_duplicate_pairs_find

from .models import EmbeddingJob

logger = logging.getLogger(__name__)

FAILURES_KEPT = 100
CLOCK_MARGIN = timedelta(minutes=5)


class EmbeddingJobError(ValueError):
    """An embedding job that cannot be made as asked; the message says what is wrong, and `field`
    the input it is about ("sources", "weights", "checkpoint") when it is about one."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


@lru_cache(maxsize=2)
def _embedder(model_name: str, weights: str, checkpoint: str):
    """One tower per worker process and model (loading ViT-B/16 takes seconds; a batch, less)."""
    import torch

    from modeling.core.image_embeddings import ImageEmbedder

    torch.set_num_threads(max(1, settings.EMBEDDING_TORCH_THREADS))
    if checkpoint:
        return ImageEmbedder.from_checkpoint(checkpoint)
    return ImageEmbedder.from_weights(model_name, weights or None)


def _space(job: EmbeddingJob, embedder) -> EmbeddingSpace:
    identity = embedder.identity
    if identity.random_init and not job.allow_random_init:
        raise EmbeddingJobError(
            f"{job.checkpoint or job.weights} holds a randomly initialised image tower; "
            "create the job with random init allowed (--allow-random-init, or allow_random_init in the API) "
            "to embed with it anyway"
        )
    space = embedding_space_get_or_create(
        model_name=identity.model_name,
        weights=identity.weights,
        fingerprint=identity.fingerprint,
        random_init=identity.random_init,
    )
    if job.space_id is None:
        EmbeddingJob.objects.filter(pk=job.pk, space__isnull=True).update(space=space)
        job.refresh_from_db(fields=["space"])
    if job.space_id != space.pk:
        raise EmbeddingJobError(
            f"the weights changed during the job: it started in embedding space {job.space_id}, "
            f"this worker's tower is space {space.pk} ({space.key})"
        )
    return space


def _pending(job: EmbeddingJob, space: EmbeddingSpace):
    samples = Sample.objects.filter(pk__gt=job.last_sample_id, source_id__in=job.sources.values("pk"))
    embedded = SampleEmbedding.objects.filter(space=space, sample_id=OuterRef("pk"))
    return samples.filter(~Exists(embedded)).order_by("pk")


def _read(sample: Sample) -> Image.Image:
    with sample.asset.open("rb") as handle:
        image = Image.open(handle)
        image.load()
    return image


def embedding_batch(*, job_id: int, batch: int) -> bool | None:
    """Embed the next EMBEDDING_BATCH_SIZE samples without a vector. True when more may follow,
    False after the last batch, None when there was nothing to do or the job failed."""
    job = job_batch_begin(EmbeddingJob, job_id, batch)
    if job is None:
        return None
    try:
        embedder = _embedder(job.model_name, job.weights, job.checkpoint)
        space = _space(job, embedder)
    except EmbeddingJobError as error:  # an expected refusal (a random tower not allowed): one line
        logger.warning("embedding job %s: %s", job_id, error)
        job_finish(job, status=JobStatus.FAILED, error=f"{type(error).__name__}: {error}")
        return None
    except Exception as error:  # missing weights, a checkpoint of another shape: the job says so
        logger.exception("embedding job %s: cannot load the image tower", job_id)
        job_finish(job, status=JobStatus.FAILED, error=f"{type(error).__name__}: {error}")
        return None
    size = settings.EMBEDDING_BATCH_SIZE
    samples = list(_pending(job, space)[:size])
    read_ids, images, failures = [], [], []
    for sample in samples:
        try:
            images.append(_read(sample))
            read_ids.append(sample.pk)
        except (OSError, UnidentifiedImageError, ValueError) as error:
            failures.append({"sample": sample.pk, "error": f"cannot read its asset: {error}"})
    vectors = embedder.embed(images)
    with job_batch_lock(EmbeddingJob, job_id, batch) as current:
        if not current:
            return None
        stored = sample_embeddings_store(space=space, sample_ids=read_ids, vectors=vectors)
        kept = list(EmbeddingJob.objects.values_list("failures", flat=True).get(pk=job_id))
        EmbeddingJob.objects.filter(pk=job_id).update(
            processed=F("processed") + len(samples),
            embedded=F("embedded") + len(stored),
            failed=F("failed") + len(failures),
            failures=(kept + failures)[:FAILURES_KEPT],
        )
        cursor = samples[-1].pk if samples else job.last_sample_id
        if not job_batch_done(EmbeddingJob, job_id, batch, last_sample_id=cursor):
            return None
    # After the commit: a worker killed here leaves rows the index lacks, and pairs unfound; the
    # finishing step adds both.
    embedding_index_add(space=space, sample_ids=stored)
    near_duplicate_pairs_add(space=space, sample_ids=stored)
    return len(samples) == size


def embedding_finish(job_id: int) -> None:
    """Reconcile the index with the stored vectors, find again the near-duplicate pairs of every vector
    stored since the job started (what its batches missed: see catalog/near_duplicate_pairs.py),
    then end the job."""
    job = EmbeddingJob.objects.filter(pk=job_id, status=JobStatus.RUNNING).select_related("space").first()
    if job is None:
        return
    if job.space is not None:
        report = embedding_index_sync(space=job.space)
        # A margin for the clocks of the workers that stamped the vectors: more is only asked twice.
        since = job.started_at - CLOCK_MARGIN
        report["pairs"] = near_duplicate_pairs_find(space=job.space, since=since)
        EmbeddingJob.objects.filter(pk=job_id).update(index_report=report)
    job_finish(job, status=JobStatus.SUCCEEDED)
