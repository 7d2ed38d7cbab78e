"""Turning importer items into samples: read, hash, deduplicate, decode, store, record.

An import runs as a chain of batch tasks (base/jobs.py): batch k takes items
[k * IMPORT_BATCH_SIZE, (k + 1) * IMPORT_BATCH_SIZE) of the importer's discovery, which is in a
stable order. Decoding and encoding run in a small thread pool (Pillow releases the GIL), the
database sees one transaction per ROWS_PER_TRANSACTION rows, and every item ends as exactly one
ImportRow: imported, duplicate or rejected with its reason. A batch run again (a redelivered message,
a resumed job, a worker killed mid-batch) skips the items it has already reported.
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
from django.db.models import F

from base.jobs import JobStatus, job_batch_begin, job_batch_done, job_batch_lock, job_finish, job_run_here
from vocabulary.language import detect_language

from .dedup import dedup_scope_for_writing, duplicates_for_import
from .images import ImageRejected, PreparedImage, orientation_warning, prepare_image, sha256_hex
from .importers import ImportItem, get_importer
from .importers.base import ImportFormatError, ImportOptions
from .item_regions import ProcessedRegion, RegionRejected, regions_for
from .models import (
    ImportJob,
    ImportRow,
    RowOutcome,
    Sample,
    SourceRegion,
    asset_name,
    original_name,
    thumbnail_name,
)

logger = logging.getLogger(__name__)

ROWS_PER_TRANSACTION = 32  # rows decoded in parallel and written in one transaction


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
    orientation = orientation_warning(image)
    if item.declared_size is not None and item.declared_size != (image.width, image.height):
        raise RowRejected(
            f"the annotation declares {item.declared_size[0]}x{item.declared_size[1]} "
            f"but the image is {image.width}x{image.height}" + (f"; {orientation}" if orientation else "")
        )
    try:
        found = regions_for(item, width=image.width, height=image.height)
    except RegionRejected as problem:
        # A mask drawn over the turned photo has the turned size: the orientation is then the reason.
        raise RegionRejected(f"{problem}; {orientation}" if orientation else str(problem)) from None
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
        warnings=found.warnings + ([orientation] if orientation else []),
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
    """Import everything the job's importer finds, in this process: the batches the tasks would run,
    one after the other. Idempotent: rows already reported are skipped."""
    return job_run_here(
        job,
        run_batch=lambda job_id, batch: import_batch(job_id=job_id, batch=batch, workers=workers),
        finish=import_finish,
        on_progress=on_progress,
    )


def import_batch(*, job_id: int, batch: int, workers: int = 2) -> bool | None:
    """Import batch `batch`: items [batch * IMPORT_BATCH_SIZE, (batch + 1) * IMPORT_BATCH_SIZE) of
    the importer's discovery, committed ROWS_PER_TRANSACTION rows at a time. Returns True when
    more batches follow, False after the last one, None when there was nothing to do (a redelivered
    batch, a finished job) or the job failed as a whole."""
    job = job_batch_begin(ImportJob, job_id, batch)
    if job is None:
        return None
    size = settings.IMPORT_BATCH_SIZE
    try:
        if batch == 0:
            # One pass to count; the items themselves are streamed batch by batch, never all held.
            job.total = sum(1 for _ in _discover(job))
            ImportJob.objects.filter(pk=job.pk).update(total=job.total)
        items = _discover(job)
        chunk = list(islice(items, batch * size, (batch + 1) * size))
        more = next(items, None) is not None
    except (ImportFormatError, OSError) as error:
        job_finish(job, status=JobStatus.FAILED, error=str(error))
        return None
    except Exception as error:  # an importer's bug fails the job visibly instead of leaving it running
        logger.exception("import %s: discovery failed", job.pk)
        job_finish(
            job, status=JobStatus.FAILED, error=f"the {job.format} importer failed: {type(error).__name__}: {error}"
        )
        return None

    reported = set(job.rows.filter(item__in=[item.relpath for item in chunk]).values_list("item", flat=True))
    pending = [item for item in chunk if item.relpath not in reported]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for rows_batch in _batches(pending, ROWS_PER_TRANSACTION):
            if not _import_rows(job, batch, rows_batch, pool):
                return None
    if not job_batch_done(ImportJob, job_id, batch):
        return None
    return more


def import_finish(job_id: int) -> None:
    job = ImportJob.objects.filter(pk=job_id, status=JobStatus.RUNNING).first()
    if job is not None:
        job_finish(job, status=JobStatus.SUCCEEDED)


DUPLICATE_OF_A_SAMPLE = "same bytes as a sample already in this source or a public one"


def _not_attached(item: ImportItem) -> str:
    """What a duplicate row carried that is not imported: said on the row, never dropped silently."""
    carried = [what for what, present in (("regions", item.regions), ("text", item.source_text)) if present]
    return f"; its {' and '.join(carried)} were not imported (the existing sample is kept as it is)" if carried else ""


def _discover(job: ImportJob) -> Iterator[ImportItem]:
    """The job's items in the importer's stable order, with the job's options applied."""
    importer = get_importer(job.format)(Path(job.path), options=ImportOptions.from_dict(job.options))
    return iter(importer.items())


def _import_rows(job: ImportJob, batch: int, items: list[ImportItem], pool: ThreadPoolExecutor) -> bool:
    """Read, process and record up to ROWS_PER_TRANSACTION items. False when the batch is no
    longer this worker's to write (the job was cancelled or failed, another worker took it over)."""
    rows: list[ImportRow] = []
    to_process: list[ReadItem] = []
    first_seen: dict[str, str] = {}
    reads = list(pool.map(lambda item: _attempt(read_item, item), items))
    existing = duplicates_for_import(source_id=job.source_id, sha256s=[r.sha256 for r, _ in reads if r])
    for item, (read, problem) in zip(items, reads, strict=True):
        if problem:
            rows.append(ImportRow(job=job, item=item.relpath, outcome=RowOutcome.REJECTED, reason=problem))
        elif read.sha256 in existing:
            # Only a sample of this source or a public one (catalog/dedup.py), never another partner's.
            # Still no id in the text: the row's `sample` is shown by the one visibility rule
            # (selectors.with_visible_sample), the text is not.
            rows.append(
                ImportRow(
                    job=job,
                    item=item.relpath,
                    outcome=RowOutcome.DUPLICATE,
                    reason=DUPLICATE_OF_A_SAMPLE + _not_attached(item),
                    sample_id=existing[read.sha256],
                )
            )
        elif read.sha256 in first_seen:
            rows.append(
                ImportRow(
                    job=job,
                    item=item.relpath,
                    outcome=RowOutcome.DUPLICATE,
                    reason=f"same bytes as {first_seen[read.sha256]} in this import" + _not_attached(item),
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

    with job_batch_lock(ImportJob, job.pk, batch) as current:
        if not current:
            return False
        # Another worker on the same batch (the sweep requeued a slow one) may have written some.
        written = set(job.rows.filter(item__in=[item.relpath for item in items]).values_list("item", flat=True))
        rows = [row for row in rows if row.item not in written]
        processed = [done for done in processed if done.read.item.relpath not in written]
        rows.extend(_create_samples(job, processed))
        ImportRow.objects.bulk_create(rows)
        outcomes = [row.outcome for row in rows]
        ImportJob.objects.filter(pk=job.pk).update(
            processed=F("processed") + len(rows),
            imported=F("imported") + outcomes.count(RowOutcome.IMPORTED),
            duplicates=F("duplicates") + outcomes.count(RowOutcome.DUPLICATE),
            rejected=F("rejected") + outcomes.count(RowOutcome.REJECTED),
        )
    return True


def _new_sample(job: ImportJob, done: ProcessedItem, dedup_scope: int | None) -> Sample:
    item = done.read.item
    return Sample(
        source_id=job.source_id,
        dedup_scope_id=dedup_scope,
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
    if not processed:
        return []  # nothing to store: no need to lock the source
    dedup_scope = dedup_scope_for_writing(job.source_id)
    samples = [_new_sample(job, done, dedup_scope) for done in processed]
    try:
        with transaction.atomic():
            Sample.objects.bulk_create(samples)
    except IntegrityError:
        # Another import stored one of these images in the same scope meanwhile: one insert each.
        return _create_samples_one_by_one(job, processed, dedup_scope)
    _create_regions(samples, processed)
    return [
        ImportRow(
            job=job, item=done.read.item.relpath, outcome=RowOutcome.IMPORTED, sample=sample, warnings=done.warnings
        )
        for sample, done in zip(samples, processed, strict=True)
    ]


def _create_samples_one_by_one(
    job: ImportJob, processed: list[ProcessedItem], dedup_scope: int | None
) -> list[ImportRow]:
    rows = []
    for done in processed:
        relpath = done.read.item.relpath
        sample = _new_sample(job, done, dedup_scope)
        try:
            with transaction.atomic():
                sample.save()
        except IntegrityError:
            sha256 = done.read.sha256
            existing_id = duplicates_for_import(source_id=job.source_id, sha256s=[sha256]).get(sha256)
            rows.append(
                ImportRow(
                    job=job,
                    item=relpath,
                    outcome=RowOutcome.DUPLICATE,
                    reason=DUPLICATE_OF_A_SAMPLE + _not_attached(done.read.item),
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
