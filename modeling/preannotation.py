"""Pre-annotation: a trained Stage 2 checkpoint proposes regions for the samples nobody has started.

A PreannotationJob covers one source's annotations in sample-id order, one batch of
PREANNOTATION_BATCH_SIZE per task on the `train` queue (base/jobs.py). For each sample: if a
person has started or edited it, it is skipped with that reason; else the model runs on the
original image and its detections (mask, defect type, score) and uncertainty are stored as the
sample's prediction layer through annotation.predictions — which checks again, under the row
lock, that no person started it meanwhile. A batch's item rows and predictions commit together,
in one transaction after the model has run on the whole batch, so a batch run twice predicts
each sample once.

Creating, queueing and running a job here are in preannotation_services.py; this module does the
batches (it is what the tasks call) and never queues anything itself.
"""

from __future__ import annotations

import functools
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.db.models import F

from annotation.models import Annotation
from annotation.predictions import PredictedRegionInput, SamplePrediction, human_work_reasons, predictions_store
from base.jobs import JobStatus, job_batch_begin, job_batch_done, job_batch_lock, job_finish
from catalog.rle import mask_bbox, mask_to_rle
from modeling.core.errors import ModelingError
from vocabulary.models import Term

from .models import ModelCheckpoint, PreannotationItem, PreannotationJob, PreannotationOutcome

logger = logging.getLogger(__name__)


def model_key(checkpoint: ModelCheckpoint) -> str:
    return f"checkpoint:{checkpoint.pk}"


def model_version(checkpoint: ModelCheckpoint) -> str:
    return f"checkpoint {checkpoint.pk} (run {checkpoint.run_id}, step {checkpoint.step})"


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


def _read_originals(annotations: list[Annotation]) -> list:
    return [_read_original(annotation) for annotation in annotations]


def _predict_all(
    annotations: list[Annotation], predictor, names: list[str], terms: dict, threshold: float
) -> dict[int, _Result]:
    """The model's result for each annotation, PREANNOTATION_MODEL_BATCH_SIZE images per forward
    pass (predictor.predict_batch: on CPU the tiny model's per-call overhead is most of its cost, so
    one forward over 8 images costs far less than 8 forwards over one; each image's result is what
    it would be alone). The model runs in this thread without waiting: a helper thread reads and
    decodes the next chunk's originals while the model works on this one, and turns each finished
    prediction's masks into RLE rows (PIL, numpy and torch release the GIL). Memory holds two
    chunks of originals whatever their size."""
    if not annotations:
        return {}
    size = max(1, settings.PREANNOTATION_MODEL_BATCH_SIZE)
    chunks = [annotations[start : start + size] for start in range(0, len(annotations), size)]
    results = {}
    with ThreadPoolExecutor(max_workers=1) as helper:
        upcoming = helper.submit(_read_originals, chunks[0])
        for index, chunk in enumerate(chunks):
            images = upcoming.result()
            if index + 1 < len(chunks):
                upcoming = helper.submit(_read_originals, chunks[index + 1])
            readable = []
            for annotation, image in zip(chunk, images, strict=True):
                if isinstance(image, str):
                    results[annotation.pk] = _Result(PreannotationOutcome.FAILED, image)
                else:
                    readable.append((annotation, image))
            if not readable:
                continue
            predictions = predictor.predict_batch([image for _, image in readable], names, score_threshold=threshold)
            for (annotation, _), prediction in zip(readable, predictions, strict=True):
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
