"""Turning importer items into samples: read, hash, deduplicate, decode, store, record.

Work is done in batches. Decoding and encoding run in a small thread pool (Pillow releases the GIL),
the database sees one transaction per batch, and every item ends as exactly one ImportRow:
imported, duplicate or rejected with its reason. A re-run of the same job skips the items it has
already reported, so a worker killed mid-import resumes where it stopped.
"""

import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from vocabulary.language import detect_language

from .images import ImageRejected, PreparedImage, prepare_image, sha256_hex
from .importers import ImportItem, get_importer
from .importers.base import ImportFormatError, ImportOptions
from .item_regions import ProcessedRegion, RegionRejected, regions_for
from .models import (
    ImportJob,
    ImportRow,
    ImportStatus,
    RowOutcome,
    Sample,
    SourceRegion,
    asset_name,
    original_name,
    thumbnail_name,
)

logger = logging.getLogger(__name__)

BATCH_SIZE = 32


class RowRejected(ValueError):
    """This item cannot be imported; the message is the reason shown in the report."""


@dataclass
class ReadItem:
    item: ImportItem
    data: bytes
    sha256: str


@dataclass
class ProcessedItem:
    read: ReadItem
    image: PreparedImage
    regions: list[ProcessedRegion]
    language: str
    original_name: str
    warnings: list[str]


def read_item(item: ImportItem) -> ReadItem:
    if item.problem:
        raise RowRejected(item.problem)
    try:
        data = item.image_path.read_bytes()
    except OSError as error:
        raise RowRejected(f"cannot read {item.relpath} ({error.strerror or error})") from None
    if not data:
        raise RowRejected(f"{item.relpath} is an empty file")
    return ReadItem(item=item, data=data, sha256=sha256_hex(data))


def process_item(read: ReadItem) -> ProcessedItem:
    """Decode, normalise and store the files of one item. Raises RowRejected, RegionRejected or ImageRejected."""
    item = read.item
    if item.declared_size is not None:
        declared_width, declared_height = item.declared_size
        if declared_width * declared_height > settings.IMAGE_MAX_PIXELS:
            raise RowRejected(
                f"the annotation declares {declared_width}x{declared_height} = {declared_width * declared_height:,} "
                f"pixels, above the limit of {settings.IMAGE_MAX_PIXELS:,}"
            )
    image = prepare_image(
        read.data,
        max_pixels=settings.IMAGE_MAX_PIXELS,
        asset_size=settings.ASSET_SIZE,
        thumbnail_size=settings.THUMBNAIL_SIZE,
    )
    if item.declared_size is not None and item.declared_size != (image.width, image.height):
        raise RowRejected(
            f"the annotation declares {item.declared_size[0]}x{item.declared_size[1]} "
            f"but the image is {image.width}x{image.height}"
        )
    found = regions_for(item, width=image.width, height=image.height)
    language = detect_language(item.source_text)
    name = original_name(read.sha256, item.image_path.name)
    # Content-addressed names: a file left by an earlier, interrupted run is the same file.
    for file_name, content in (
        (name, read.data),
        (asset_name(read.sha256), image.asset),
        (thumbnail_name(read.sha256), image.thumbnail),
    ):
        if not default_storage.exists(file_name):
            default_storage.save(file_name, ContentFile(content))
    return ProcessedItem(
        read=read,
        image=image,
        regions=found.regions,
        language=language,
        original_name=name,
        warnings=found.warnings,
    )


def _batches(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _attempt(function, argument):
    """Run one step for one item, turning a row-level failure into its reason string."""
    try:
        return function(argument), None
    except (RowRejected, RegionRejected, ImageRejected) as error:
        return None, str(error)
    except Exception as error:  # a bug or an I/O fault must cost one row, not the batch
        logger.exception("unexpected error importing an item")
        return None, f"unexpected error: {type(error).__name__}: {error}"


def import_run(
    *, job: ImportJob, on_progress: Callable[[ImportJob], None] | None = None, workers: int = 2
) -> ImportJob:
    """Import everything the job's importer finds. Idempotent: rows already reported are skipped."""
    try:
        importer = get_importer(job.format)(Path(job.path), options=ImportOptions.from_dict(job.options))
        items = list(importer.items())
    except (ImportFormatError, OSError) as error:
        return _finish(job, ImportStatus.FAILED, error=str(error))
    except Exception as error:  # a bug in discovery: the job says so instead of staying pending
        logger.exception("unexpected error discovering import job %s", job.pk)
        return _finish(job, ImportStatus.FAILED, error=f"unexpected error: {type(error).__name__}: {error}")

    already_reported = set(job.rows.values_list("item", flat=True))
    pending = [item for item in items if item.relpath not in already_reported]
    job.total = len(items)
    job.status = ImportStatus.RUNNING
    job.started_at = job.started_at or timezone.now()
    job.save(update_fields=["total", "status", "started_at"])

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for batch in _batches(pending, BATCH_SIZE):
            _import_batch(job, batch, pool)
            if on_progress:
                on_progress(job)
    return _finish(job, ImportStatus.SUCCEEDED)


def _import_batch(job: ImportJob, batch: list[ImportItem], pool: ThreadPoolExecutor) -> None:
    rows: list[ImportRow] = []
    to_process: list[ReadItem] = []
    first_seen: dict[str, str] = {}
    reads = list(pool.map(lambda item: _attempt(read_item, item), batch))
    existing = dict(Sample.objects.filter(sha256__in=[r.sha256 for r, _ in reads if r]).values_list("sha256", "id"))
    for item, (read, problem) in zip(batch, reads, strict=True):
        if problem:
            rows.append(ImportRow(job=job, item=item.relpath, outcome=RowOutcome.REJECTED, reason=problem))
        elif read.sha256 in existing:
            rows.append(
                ImportRow(
                    job=job,
                    item=item.relpath,
                    outcome=RowOutcome.DUPLICATE,
                    reason=f"same bytes as sample {existing[read.sha256]}",
                    sample_id=existing[read.sha256],
                )
            )
        elif read.sha256 in first_seen:
            rows.append(
                ImportRow(
                    job=job,
                    item=item.relpath,
                    outcome=RowOutcome.DUPLICATE,
                    reason=f"same bytes as {first_seen[read.sha256]} in this import",
                )
            )
        else:
            first_seen[read.sha256] = item.relpath
            to_process.append(read)

    processed = []
    for read, (result, problem) in zip(
        to_process, pool.map(lambda r: _attempt(process_item, r), to_process), strict=True
    ):
        if problem:
            rows.append(ImportRow(job=job, item=read.item.relpath, outcome=RowOutcome.REJECTED, reason=problem))
        else:
            processed.append(result)

    with transaction.atomic():
        rows.extend(_create_samples(job, processed))
        ImportRow.objects.bulk_create(rows)
        outcomes = [row.outcome for row in rows]
        job.processed += len(rows)
        job.imported += outcomes.count(RowOutcome.IMPORTED)
        job.duplicates += outcomes.count(RowOutcome.DUPLICATE)
        job.rejected += outcomes.count(RowOutcome.REJECTED)
        job.save(update_fields=["processed", "imported", "duplicates", "rejected"])


def _new_sample(job: ImportJob, done: ProcessedItem) -> Sample:
    item = done.read.item
    return Sample(
        source_id=job.source_id,
        external_id=item.relpath[:500],
        original=done.original_name,
        asset=asset_name(done.read.sha256),
        thumbnail=thumbnail_name(done.read.sha256),
        sha256=done.read.sha256,
        phash=done.image.phash,
        width=done.image.width,
        height=done.image.height,
        original_format=done.image.format[:10],
        original_size=len(done.read.data),
        domain=item.domain,
        product=item.product,
        source_text=item.source_text,
        source_text_language=done.language,
        is_synthetic=job.source.kind == "synthetic",
    )


def _create_samples(job: ImportJob, processed: list[ProcessedItem]) -> list[ImportRow]:
    """Insert the batch's samples and regions; the caller holds the transaction."""
    samples = [_new_sample(job, done) for done in processed]
    try:
        with transaction.atomic():
            Sample.objects.bulk_create(samples)
    except IntegrityError:
        # Another import stored one of these images meanwhile: fall back to one insert each.
        return _create_samples_one_by_one(job, processed)
    _create_regions(samples, processed)
    return [
        ImportRow(
            job=job, item=done.read.item.relpath, outcome=RowOutcome.IMPORTED, sample=sample, warnings=done.warnings
        )
        for sample, done in zip(samples, processed, strict=True)
    ]


def _create_samples_one_by_one(job: ImportJob, processed: list[ProcessedItem]) -> list[ImportRow]:
    rows = []
    for done in processed:
        relpath = done.read.item.relpath
        sample = _new_sample(job, done)
        try:
            with transaction.atomic():
                sample.save()
        except IntegrityError:
            existing_id = Sample.objects.filter(sha256=done.read.sha256).values_list("id", flat=True).first()
            rows.append(
                ImportRow(
                    job=job,
                    item=relpath,
                    outcome=RowOutcome.DUPLICATE,
                    reason=f"same bytes as sample {existing_id}",
                    sample_id=existing_id,
                )
            )
            continue
        _create_regions([sample], [done])
        rows.append(
            ImportRow(job=job, item=relpath, outcome=RowOutcome.IMPORTED, sample=sample, warnings=done.warnings)
        )
    return rows


def _create_regions(samples: list[Sample], processed: list[ProcessedItem]) -> None:
    SourceRegion.objects.bulk_create(
        SourceRegion(sample=sample, label=r.label, mask_rle=r.mask_rle, bbox=r.bbox, area=r.area)
        for sample, done in zip(samples, processed, strict=True)
        for r in done.regions
    )


def _finish(job: ImportJob, status: str, error: str = "") -> ImportJob:
    job.status = status
    job.error = error
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "error", "finished_at"])
    return job
