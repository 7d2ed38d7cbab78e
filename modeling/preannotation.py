"""Pre-annotation: a trained Stage 2 checkpoint proposes regions for the samples nobody has started.

A PreannotationJob covers one source's annotations in sample-id order, one batch of
PREANNOTATION_BATCH_SIZE per task on the `train` queue (base/jobs.py). For each sample: if a
person has started or edited it, it is skipped with that reason; else the model runs on the
original image and its detections (mask, defect type, score) and uncertainty are stored as the
sample's prediction layer through annotation.predictions — which checks again, under the row
lock, that no person started it meanwhile. A batch's item rows and predictions commit together,
in one transaction after the model has run on the whole batch, so a batch run twice predicts
each sample once.

Who may ask: whoever may see the source and the dataset version the checkpoint learned from
(catalog's visibility rule, through sources_visible_to and versions_visible_to).
"""

from __future__ import annotations

import functools
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F

from accounts.models import User
from annotation.models import Annotation
from annotation.predictions import PredictedRegionInput, SamplePrediction, human_work_reasons, predictions_store
from base.jobs import JobStatus, job_batch_begin, job_batch_done, job_batch_lock, job_finish, job_run_here
from catalog.models import Source
from catalog.rle import mask_bbox, mask_to_rle
from catalog.selectors import sources_visible_to
from modeling.core.errors import ModelingError
from releases.selectors import versions_visible_to
from vocabulary.models import Facet, Term

from .models import ModelCheckpoint, PreannotationItem, PreannotationJob, PreannotationOutcome

logger = logging.getLogger(__name__)


class PreannotationError(ValueError):
    """A pre-annotation that cannot be made as asked; the message names what is wrong."""


def checkpoint_resolve(reference: str | int) -> ModelCheckpoint:
    """A checkpoint from "12" or "checkpoint:12" (its id), or "run:3" (run 3's newest checkpoint)."""
    text = str(reference).strip()
    kind, _, number = text.rpartition(":")
    if kind not in ("", "checkpoint", "run") or not number.isdigit():
        raise PreannotationError(f"checkpoint {text!r}: give a checkpoint id (12, checkpoint:12) or a run (run:3)")
    if kind == "run":
        checkpoint = ModelCheckpoint.objects.filter(run_id=int(number)).order_by("-step").first()
        if checkpoint is None:
            raise PreannotationError(f"run {number} has no checkpoint")
        return checkpoint
    checkpoint = ModelCheckpoint.objects.filter(pk=int(number)).first()
    if checkpoint is None:
        raise PreannotationError(f"no checkpoint {number}")
    return checkpoint


def checkpoint_classes(checkpoint: ModelCheckpoint) -> list[str]:
    """The defect-type slugs of the export the checkpoint's run trained on (the manifest's class list)."""
    return [entry["slug"] for entry in checkpoint.run.export.classes if entry.get("index")]


def model_key(checkpoint: ModelCheckpoint) -> str:
    return f"checkpoint:{checkpoint.pk}"


def model_version(checkpoint: ModelCheckpoint) -> str:
    return f"checkpoint {checkpoint.pk} (run {checkpoint.run_id}, step {checkpoint.step})"


def preannotation_request(
    *,
    checkpoint: ModelCheckpoint,
    source: Source,
    requester: User | None,
    limit: int | None = None,
    score_threshold: float = 0.3,
    classes: list[str] | None = None,
    enqueue: bool = True,
) -> PreannotationJob:
    """Create the job (and queue its first batch once the caller commits). requester None is the
    system (the CLI), which sees every source."""
    if requester is not None:
        if not sources_visible_to(requester).filter(pk=source.pk).exists():
            raise PreannotationError(f"no source {source.pk}")
        if not versions_visible_to(requester).filter(pk=checkpoint.run.dataset_version_id).exists():
            raise PreannotationError(f"no checkpoint {checkpoint.pk}")
    if str(checkpoint.stage) != "2":
        raise PreannotationError(
            f"checkpoint {checkpoint.pk} is from stage {checkpoint.stage or '?'}; pre-annotation needs a Stage 2 one"
        )
    if limit is not None and limit < 1:
        raise PreannotationError("limit must be at least 1")
    if not 0.0 <= score_threshold < 1.0:
        raise PreannotationError("score_threshold must be at least 0 and below 1")
    classes = list(classes) if classes is not None else checkpoint_classes(checkpoint)
    if not classes:
        raise PreannotationError(f"checkpoint {checkpoint.pk}'s export lists no defect classes; name them")
    known = set(Term.objects.filter(slug__in=classes, facet=Facet.DEFECT_TYPE).values_list("slug", flat=True))
    unknown = [slug for slug in classes if slug not in known]
    if unknown:
        raise PreannotationError(f"not defect types of the vocabulary: {', '.join(unknown)}")
    with transaction.atomic():
        job = PreannotationJob.objects.create(
            checkpoint=checkpoint,
            source=source,
            classes=classes,
            limit=limit,
            score_threshold=score_threshold,
            created_by=requester,
        )
        if enqueue:
            preannotation_enqueue(job=job)
    return job


def preannotation_enqueue(*, job: PreannotationJob) -> None:
    from .tasks import preannotation_batch_task

    job_id, batch = job.pk, job.next_batch
    transaction.on_commit(lambda: preannotation_batch_task.delay(job_id, batch))


def preannotation_requeue(job_id: int) -> None:
    """The job registry's requeue (base/job_kinds.py)."""
    preannotation_enqueue(job=PreannotationJob.objects.get(pk=job_id))


def preannotation_run(*, job: PreannotationJob, predictor=None, on_progress=None) -> PreannotationJob:
    """Run the job's remaining batches in this process (the CLI without --enqueue, tests, benchmarks)."""
    return job_run_here(
        job,
        run_batch=lambda job_id, batch: preannotation_batch(job_id=job_id, batch=batch, predictor=predictor),
        finish=preannotation_finish,
        on_progress=on_progress,
    )


def preannotation_finish(job_id: int) -> None:
    job = PreannotationJob.objects.filter(pk=job_id, status=JobStatus.RUNNING).first()
    if job is not None:
        job_finish(job, status=JobStatus.SUCCEEDED)


@functools.lru_cache(maxsize=2)
def segmenter_for(path: str):
    """The checkpoint's model, loaded once per worker process (a batch after the first pays nothing)."""
    from modeling.core.inference import DefectSegmenter

    return DefectSegmenter.from_checkpoint(path)


def job_selection(job: PreannotationJob):
    return Annotation.objects.filter(source_id=job.source_id).order_by("pk")


@dataclass
class _Result:
    outcome: str
    reason: str = ""
    regions: list[PredictedRegionInput] | None = None
    uncertainty: float = 0.0


def preannotation_batch(*, job_id: int, batch: int, predictor=None) -> bool | None:
    """Batch `batch` of the job. True when more follow, False after the last, None when there was
    nothing to do (a redelivered batch, a finished or cancelled job) or the job failed as a whole."""
    job = job_batch_begin(PreannotationJob, job_id, batch)
    if job is None:
        return None
    checkpoint = job.checkpoint
    try:
        predictor = predictor or segmenter_for(checkpoint.path)
    except ModelingError as error:
        job_finish(job, status=JobStatus.FAILED, error=f"cannot load checkpoint {checkpoint.pk}: {error}")
        return None
    size = settings.PREANNOTATION_BATCH_SIZE
    limit = job.limit or 0
    if batch == 0:
        count = job_selection(job).count()
        PreannotationJob.objects.filter(pk=job.pk).update(total=min(count, limit) if limit else count)
    # Every batch but the last takes exactly `size` samples, so batch * size were taken before.
    take = max(0, min(size, limit - batch * size)) if limit else size
    ids = list(job_selection(job).filter(pk__gt=job.cursor).values_list("pk", flat=True)[: take + 1]) if take else []
    more = len(ids) > take and (not limit or (batch + 1) * size < limit)
    ids = ids[:take]
    done = set(job.items.filter(annotation_id__in=ids).values_list("annotation_id", flat=True))
    terms = {term.label_en: term for term in Term.objects.filter(slug__in=job.classes)}
    names = [term.label_en for term in sorted(terms.values(), key=lambda t: job.classes.index(t.slug))]
    todo = list(Annotation.objects.select_related("sample").filter(pk__in=set(ids) - done).order_by("pk"))
    # No model time for a sample that cannot take a draft (predictions_store checks again, locked).
    started = human_work_reasons(todo)
    to_predict = [annotation for annotation in todo if annotation.pk not in started]
    predicted = _predict_all(to_predict, predictor, names, terms, job.score_threshold)
    results = [
        (annotation, predicted.get(annotation.pk) or _Result(PreannotationOutcome.SKIPPED, started[annotation.pk]))
        for annotation in todo
    ]
    if not _record(job, batch, results, checkpoint):
        return None  # cancelled, or no longer this worker's batch
    if not job_batch_done(PreannotationJob, job_id, batch, cursor=ids[-1] if ids else job.cursor):
        return None
    return more


def _read_original(annotation: Annotation):
    """The sample's original image, decoded; or the error text when it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with annotation.sample.original.open("rb") as stream:
            image = Image.open(stream)
            image.load()
        return image
    except (OSError, UnidentifiedImageError) as error:
        return f"cannot read the original image: {error}"


def _predict_all(
    annotations: list[Annotation], predictor, names: list[str], terms: dict, threshold: float
) -> dict[int, _Result]:
    """The model's result for each annotation, the model running in this thread without waiting:
    a helper thread reads and decodes the next original while the model works on this one, and
    turns each finished prediction's masks into RLE rows (on one CPU thread these cost about a
    fifth of the tiny model's forward pass; PIL, numpy and torch release the GIL). The helper works
    one image ahead, so memory holds two originals whatever their size."""
    if not annotations:
        return {}
    results = {}
    with ThreadPoolExecutor(max_workers=1) as helper:
        upcoming = helper.submit(_read_original, annotations[0])
        for index, annotation in enumerate(annotations):
            image = upcoming.result()
            if index + 1 < len(annotations):
                upcoming = helper.submit(_read_original, annotations[index + 1])
            if isinstance(image, str):
                results[annotation.pk] = _Result(PreannotationOutcome.FAILED, image)
                continue
            prediction = predictor.predict(image, names, score_threshold=threshold)
            results[annotation.pk] = helper.submit(_result_of, prediction, terms)
    return {pk: result if isinstance(result, _Result) else result.result() for pk, result in results.items()}


def _result_of(prediction, terms: dict) -> _Result:
    """A prediction's detections as region rows: masks in the original's pixels, as COCO RLE."""
    regions = []
    for mask, label, score in zip(prediction.masks, prediction.labels, prediction.scores, strict=True):
        pixels = mask.numpy()
        bbox = mask_bbox(pixels)
        if bbox is None:
            continue
        regions.append(
            PredictedRegionInput(
                defect_type=terms[label],
                mask_rle=mask_to_rle(pixels),
                bbox=bbox,
                area=int(pixels.sum()),
                score=float(score),
            )
        )
    return _Result(PreannotationOutcome.PREDICTED, regions=regions, uncertainty=prediction.uncertainty)


def _record(job: PreannotationJob, batch: int, results: list[tuple[Annotation, _Result]], checkpoint) -> bool:
    """Store the batch's predictions and item rows with the job's counters, in one transaction (one
    commit per batch, not per sample: a batch run again predicts again, which is cheap, and writes
    nothing twice). False when the batch is no longer this worker's (nothing is written)."""
    with job_batch_lock(PreannotationJob, job.pk, batch) as current:
        if not current:
            return False
        recorded = set(
            PreannotationItem.objects.filter(job=job, annotation__in=[a for a, _ in results]).values_list(
                "annotation_id", flat=True
            )
        )
        results = [(annotation, result) for annotation, result in results if annotation.pk not in recorded]
        stored = predictions_store(
            model_key=model_key(checkpoint),
            model_version=model_version(checkpoint),
            predictions=[
                SamplePrediction(
                    sample_id=annotation.pk,
                    regions=result.regions or [],
                    uncertainty=min(1.0, max(0.0, result.uncertainty)),
                )
                for annotation, result in results
                if result.outcome == PreannotationOutcome.PREDICTED
            ],
        )
        items, counts = [], dict.fromkeys(PreannotationOutcome.values, 0)
        for annotation, result in results:
            outcome, reason, regions = result.outcome, result.reason, len(result.regions or [])
            if outcome == PreannotationOutcome.PREDICTED and not stored[annotation.pk].stored:
                # a person claimed it while the model ran, or this model predicted it before
                outcome, reason, regions = PreannotationOutcome.SKIPPED, stored[annotation.pk].reason, 0
            items.append(
                PreannotationItem(job=job, annotation=annotation, outcome=outcome, reason=reason[:500], regions=regions)
            )
            counts[outcome] += 1
        PreannotationItem.objects.bulk_create(items)
        PreannotationJob.objects.filter(pk=job.pk).update(
            processed=F("processed") + len(items), **{outcome: F(outcome) + n for outcome, n in counts.items() if n}
        )
    return True
