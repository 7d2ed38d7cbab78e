"""Writing an export's files, the work its Celery tasks (tasks.py) and the CLI's in-process run do.

A WebDataset export is written a shard at a time: the tar and its Parquet index, each committed
atomically (targets.py); their bytes depend only on the version, so a re-run skips every shard
committed with the recorded checksums and rewrites the others identically. Once every shard is
committed, the finisher writes the dataset card, croissant.json and, last, manifest.json.
The other formats are written by one task each.

This module moves the export's job state (base/jobs.py) along, and never enqueues anything:
services (exports.py) enqueue tasks, tasks call this module.
"""

import contextlib
import gc
import hashlib
import json

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from base.jobs import JobStatus, job_heartbeat

from .anomalib_layout import anomalib_write
from .dataset_card import card_files
from .export_folders import PER_SAMPLE_FORMATS, refuse_other_exports_files
from .models import Export, ExportFormat, ExportShard, ShardStatus
from .read_ahead import read_ahead
from .sample_documents import SCHEMA_VERSION, ExportDataError, SampleDocumentReader, document_json, export_items
from .shard_index import ShardIndex, index_name
from .shard_members import sample_members
from .shard_writer import ShardWriter
from .single_files import single_files_write
from .targets import ExportTargetError, target_for
from .yolo_labels import yolo_write

MANIFEST = "manifest.json"
# What fails an export with its message (a task ends; a re-run resumes): the target, the disk, or a
# sample no format can hold. Anything else is a bug, left to raise.
WRITE_ERRORS = (ExportTargetError, ExportDataError, OSError)


def export_mark_running(export: Export) -> None:
    """PENDING -> RUNNING when a worker takes up the export's first task (or its first after a
    resume). Conditional, so that a task started late never hides another's failure."""
    now = timezone.now()
    Export.objects.filter(pk=export.pk, status=JobStatus.PENDING).update(
        status=JobStatus.RUNNING, started_at=Coalesce(F("started_at"), now), heartbeat_at=now
    )


def export_fail(*, export: Export, error: str) -> None:
    Export.objects.filter(pk=export.pk).update(status=JobStatus.FAILED, error=error[:2000], finished_at=timezone.now())


def _bytes_producer(body: bytes):
    def produce(fileobj):
        fileobj.write(body)
        return hashlib.sha256(body).hexdigest(), len(body)

    return produce


# -- one shard -------------------------------------------------------------------------------


def shard_write(*, export: Export, index: int) -> ExportShard:
    """Write shard `index` and its Parquet index, unless both are committed with the recorded checksums."""
    shard = export.shards.get(index=index)
    target = target_for(export.target)
    folder = export.version.name
    location, index_location = f"{folder}/{shard.name}", f"{folder}/{index_name(shard.name)}"
    if (
        shard.status == ShardStatus.COMMITTED
        and target.committed_sha256(location) == shard.sha256
        and target.committed_sha256(index_location) == shard.index_sha256
    ):
        return shard
    _check_plan_still_holds(export, shard)
    export_mark_running(export)
    reader = SampleDocumentReader(export, {c["slug"]: c["index"] for c in export.classes})
    shard_index = ShardIndex(shard.name)

    def produce(fileobj):
        # This thread reads the database and builds the members; a pool reads the next batch's
        # images (read_ahead.py) and the writer's thread hashes and writes, both outside the GIL.
        batches = reader.batches(split=shard.split, first_sample=shard.first_sample, last_sample=shard.last_sample)
        with ShardWriter(fileobj) as writer, cyclic_gc_paused():
            for records, images in read_ahead(batches):
                job_heartbeat(export)
                for record, image in zip(records, images, strict=True):
                    members = sample_members(record, image, document_json(record.document), export.image_member)
                    offset, length = writer.add_sample(members)
                    shard_index.add(record.document, offset, length)
            return writer.close()

    sha256, size = target.write(location, produce)
    index_sha256, index_size = target.write(index_location, _bytes_producer(shard_index.parquet_bytes()))
    with transaction.atomic():
        written = {"sha256": sha256, "bytes": size, "index_sha256": index_sha256, "index_bytes": index_size}
        updated = (
            ExportShard.objects.filter(pk=shard.pk)
            .exclude(status=ShardStatus.COMMITTED)
            .update(status=ShardStatus.COMMITTED, **written)
        )
        if updated:
            Export.objects.filter(pk=export.pk).update(
                shards_done=F("shards_done") + 1, samples_written=F("samples_written") + shard.samples
            )
        else:  # committed by an earlier delivery whose bytes are now rewritten identically
            ExportShard.objects.filter(pk=shard.pk).update(**written)
    shard.refresh_from_db()
    return shard


def _check_plan_still_holds(export: Export, shard: ExportShard) -> None:
    """ExportDataError unless the shard's planned samples may all still be written: a source
    restricted since the export was planned leaves its samples out of an export not marked for
    them (sample_documents.export_items), and a manifest must not count samples its shards lack."""
    items = export_items(export).filter(
        split=shard.split, sample_id__gte=shard.first_sample, sample_id__lte=shard.last_sample
    )
    if (count := items.count()) != shard.samples:
        raise ExportDataError(
            f"shard {shard.name}: {shard.samples} samples were planned, {count} may be written now (a source was "
            "restricted since the export was planned); start a new export"
        )


@contextlib.contextmanager
def cyclic_gc_paused():
    """Pause Python's cyclic garbage collector while writing a shard.

    A shard's documents are tens of thousands of small dicts and lists, freed by reference
    counting (they hold no cycles); their sheer number made the collector walk the worker's whole
    heap again and again, 15% of the CPU time of a shard of small samples. Cycles made meanwhile
    are collected once it runs again."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# -- finishing -------------------------------------------------------------------------------


def export_shard_done(*, export: Export) -> bool:
    """Called after each shard: True when every shard is committed (time to write the manifest)."""
    export.refresh_from_db()
    return export.shards.exclude(status=ShardStatus.COMMITTED).count() == 0


def manifest_name(export: Export) -> str:
    """Where the manifest lies within the export's target."""
    return f"{export.version.name}/{MANIFEST}"


def manifest_document(export: Export, card: dict[str, bytes]) -> dict:
    version = export.version
    shards = list(export.shards.order_by("index"))
    splits: dict[str, int] = {}
    for shard in shards:
        splits[shard.split] = splits.get(shard.split, 0) + shard.samples
    return {
        "schema_version": SCHEMA_VERSION,
        "dataset_version": {
            "name": version.name,
            "number": version.number,
            "title": version.title,
            "created_at": version.created_at.isoformat(),
        },
        "vocabulary_version": version.vocabulary_version.number if version.vocabulary_version else None,
        "classes": export.classes,
        "image_member": export.image_member,
        "splits": splits,
        "shards": [
            {
                "name": s.name,
                "split": s.split,
                "samples": s.samples,
                "bytes": s.bytes,
                "sha256": s.sha256,
                "index": {"name": index_name(s.name), "bytes": s.index_bytes, "sha256": s.index_sha256},
            }
            for s in shards
        ],
        "card": {name: {"bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()} for name, body in card.items()},
    }


def export_finalize(*, export: Export) -> Export:
    """Once every shard is committed: the dataset card and croissant.json, then manifest.json last."""
    if not export_shard_done(export=export):
        return export
    target = target_for(export.target)
    folder = export.version.name
    card = card_files(export)
    for name, body in card.items():
        target.write(f"{folder}/{name}", _bytes_producer(body))
    body = json.dumps(manifest_document(export, card), ensure_ascii=False, indent=1, sort_keys=True).encode()
    sha256, _ = target.write(manifest_name(export), _bytes_producer(body))
    Export.objects.filter(pk=export.pk).update(
        status=JobStatus.SUCCEEDED, manifest_sha256=sha256, finished_at=timezone.now(), error=""
    )
    export.refresh_from_db()
    return export


# -- the formats written by one task ------------------------------------------------------------

FILE_WRITERS = {
    ExportFormat.COCO: single_files_write,
    ExportFormat.QA: single_files_write,
    ExportFormat.CAPTIONS: single_files_write,
    ExportFormat.ANOMALIB: anomalib_write,
    ExportFormat.YOLO: yolo_write,
}


def export_files_write(*, export: Export) -> Export:
    """Write a COCO, QA, captions, anomalib or YOLO export in one go."""
    export_mark_running(export)
    target = target_for(export.target)
    if export.format in PER_SAMPLE_FORMATS:
        refuse_other_exports_files(export, target, export_items(export))
    FILE_WRITERS[export.format](export=export, target=target)
    Export.objects.filter(pk=export.pk).update(
        status=JobStatus.SUCCEEDED,
        shards_done=1,
        samples_written=export_items(export).count(),
        finished_at=timezone.now(),
        error="",
    )
    export.refresh_from_db()
    return export
