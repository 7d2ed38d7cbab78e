"""Exports of a dataset version: WebDataset shards (docs/webdataset-schema.md), COCO, QA, captions.

A WebDataset export is planned once (the class list and each shard's fixed range of samples), then
each shard is written by its own Celery task, and the last task to finish enqueues the finalizer,
which writes manifest.json. Shards commit atomically (see targets.py) and their bytes depend only
on the version, so a re-run after a crash skips every shard already committed with the recorded
sha256 and rewrites the others identically.
"""

import contextlib
import gc
import hashlib
import json
import logging
import posixpath

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from vocabulary.models import Term

from .mask_png import class_mask_png
from .models import (
    DatasetVersion,
    Export,
    ExportFormat,
    ExportShard,
    ExportStatus,
    ShardStatus,
    VersionStatus,
)
from .read_ahead import read_ahead
from .sample_documents import SCHEMA_VERSION, SampleDocumentReader, SampleRecord, document_json, export_items
from .selectors import versions_visible_to
from .shard_writer import ShardMember, ShardWriter
from .targets import ExportTargetError, confined_location, target_for

logger = logging.getLogger(__name__)
IMAGE_EXTENSIONS = {"jpeg": "jpg", "tiff": "tif"}  # one spelling per format in the shards
BACKGROUND = {"index": 0, "slug": "background", "labels": {"en": "background", "zh": "背景", "ja": "背景"}}


class ExportError(ValueError):
    """An export that cannot start as asked; the message names what is wrong."""


def export_create(
    *,
    version: DatasetVersion,
    format: str,
    target: str,
    include_restricted: bool = False,
    shard_max_samples: int = 10_000,
    shard_max_bytes: int = 1_000_000_000,
    created_by: User | None = None,
    allow_draft: bool = False,
) -> Export:
    """A pending export of `version`. created_by: the person asking, who must see every source of
    the version and whose target must lie under EXPORT_ROOTS / EXPORT_S3_LOCATIONS; None is an
    operator on the command line, who may write anywhere."""
    if format not in ExportFormat.values:
        raise ExportError(f"unknown format {format!r}; one of {', '.join(ExportFormat.values)}")
    if version.status != VersionStatus.PUBLISHED and not allow_draft:
        raise ExportError(f"{version.name} is not published: publish it before exporting")
    if shard_max_samples < 1 or shard_max_bytes < 1:
        raise ExportError("shard sizes must be positive")
    if created_by is not None and not versions_visible_to(created_by).filter(pk=version.pk).exists():
        raise ExportError(f"{version.name} holds samples of sources you may not see")
    try:
        if created_by is not None:
            target = confined_location(target)
        target_for(target)
    except ExportTargetError as error:
        raise ExportError(str(error)) from None
    with transaction.atomic():
        export = Export.objects.create(
            version=version,
            format=format,
            target=target,
            include_restricted=include_restricted,
            shard_max_samples=shard_max_samples,
            shard_max_bytes=shard_max_bytes,
            created_by=created_by,
        )
        export.classes = class_list(version)
        export.save(update_fields=["classes"])
        if format == ExportFormat.WEBDATASET:
            _plan_shards(export)
        else:
            export.shards_total = 1
            export.save(update_fields=["shards_total"])
    return export


def class_list(version: DatasetVersion) -> list[dict]:
    """Background, then every defect type a region of the version names, by slug."""
    slugs = set()
    revisions = version.items.values_list("revision_id", flat=True)
    for slug in Term.objects.filter(pk__in=_region_term_ids(revisions)).values_list("slug", flat=True):
        slugs.add(slug)
    terms = {t.slug: t for t in Term.objects.filter(slug__in=slugs)}
    classes = [BACKGROUND]
    for index, slug in enumerate(sorted(slugs), start=1):
        term = terms[slug]
        classes.append(
            {"index": index, "slug": slug, "labels": {"en": term.label_en, "zh": term.label_zh, "ja": term.label_ja}}
        )
    return classes


def _region_term_ids(revision_ids):
    from annotation.models import Region

    return Region.objects.filter(revisions__in=revision_ids, defect_type__isnull=False).values("defect_type_id")


def _plan_shards(export: Export) -> None:
    """Cut the items, split by split, into shards of at most shard_max_samples and ~shard_max_bytes."""
    shards = []
    current: dict | None = None
    rows = export_items(export).values_list("split", "sample_id", "sample__original_size")
    for split, sample_id, size in rows.iterator(chunk_size=5000):
        full = current and (
            current["samples"] >= export.shard_max_samples
            or (current["bytes"] + size > export.shard_max_bytes and current["samples"] > 0)
        )
        if current is None or current["split"] != split or full:
            if current:
                shards.append(current)
            current = {"split": split, "first": sample_id, "last": sample_id, "samples": 0, "bytes": 0}
        current["last"] = sample_id
        current["samples"] += 1
        current["bytes"] += size
    if current:
        shards.append(current)
    per_split: dict[str, int] = {}
    rows = []
    for index, shard in enumerate(shards):
        number = per_split.get(shard["split"], 0)
        per_split[shard["split"]] = number + 1
        rows.append(
            ExportShard(
                export=export,
                index=index,
                split=shard["split"],
                name=f"{export.version.name}-{shard['split']}-{number:06d}.tar",
                first_sample=shard["first"],
                last_sample=shard["last"],
                samples=shard["samples"],
            )
        )
    ExportShard.objects.bulk_create(rows)
    export.shards_total = len(rows)
    export.save(update_fields=["shards_total"])


def export_start(*, export: Export) -> None:
    """Enqueue the work: a task per pending shard (the last one to finish writes the manifest)."""
    from .tasks import export_finalize_task, export_shard_task, export_single_file_task

    Export.objects.filter(pk=export.pk).update(status=ExportStatus.RUNNING, error="")
    target_for(export.target).remove_partials(export.version.name)
    if export.format != ExportFormat.WEBDATASET:
        transaction.on_commit(lambda: export_single_file_task.delay(export.pk))
        return
    # A re-run sends every shard again: a committed one checks its checksum and returns at once.
    indexes = list(export.shards.values_list("index", flat=True))
    if not indexes:
        transaction.on_commit(lambda: export_finalize_task.delay(export.pk))
    for index in indexes:
        transaction.on_commit(lambda index=index: export_shard_task.delay(export.pk, index))


# -- one shard -------------------------------------------------------------------------------


def shard_write(*, export: Export, index: int) -> ExportShard:
    """Write shard `index` unless it is committed already with the recorded checksum."""
    shard = export.shards.get(index=index)
    target = target_for(export.target)
    location = f"{export.version.name}/{shard.name}"
    if shard.status == ShardStatus.COMMITTED and target.committed_sha256(location) == shard.sha256:
        return shard
    reader = SampleDocumentReader(export, {c["slug"]: c["index"] for c in export.classes})

    def produce(fileobj):
        # This thread reads the database and builds the members; a pool reads the next batch's
        # images (read_ahead.py) and the writer's thread hashes and writes, both outside the GIL.
        batches = reader.batches(split=shard.split, first_sample=shard.first_sample, last_sample=shard.last_sample)
        with ShardWriter(fileobj) as writer, cyclic_gc_paused():
            for records, images in read_ahead(batches):
                for record, image in zip(records, images, strict=True):
                    writer.add_sample(sample_members(record, image, document_json(record.document)))
            return writer.close()

    sha256, size = target.write(location, produce)
    with transaction.atomic():
        updated = (
            ExportShard.objects.filter(pk=shard.pk)
            .exclude(status=ShardStatus.COMMITTED)
            .update(status=ShardStatus.COMMITTED, sha256=sha256, bytes=size)
        )
        if updated:
            Export.objects.filter(pk=export.pk).update(
                shards_done=F("shards_done") + 1, samples_written=F("samples_written") + shard.samples
            )
        else:  # committed by an earlier delivery whose bytes are now rewritten identically
            ExportShard.objects.filter(pk=shard.pk).update(sha256=sha256, bytes=size)
    shard.refresh_from_db()
    return shard


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


def sample_key(sample_id: int) -> str:
    return f"{sample_id:010d}"


def image_extension(original: str) -> str:
    """The member extension of an original image, from its storage name ("png" when it has none)."""
    suffix = posixpath.splitext(original)[1].lower().lstrip(".")
    return IMAGE_EXTENSIONS.get(suffix, suffix or "png")


def sample_members(record: SampleRecord, image: bytes, document_json: bytes) -> list[ShardMember]:
    """A sample's members in their fixed order: image, mask (when a region has one), json, captions."""
    key = sample_key(record.sample_id)
    document = record.document
    members = [ShardMember(f"{key}.{image_extension(record.original)}", image)]
    masked = [(r["rle"], r["class_index"]) for r in document["regions"] if r["rle"] and r["class_index"]]
    if masked:
        members.append(ShardMember(f"{key}.mask.png", class_mask_png(masked, document["width"], document["height"])))
    members.append(ShardMember(f"{key}.json", document_json))
    captions = document["captions"]
    for language, suffix in (("en", "txt"), ("zh", "zh.txt"), ("ja", "ja.txt")):
        if language in captions:
            members.append(ShardMember(f"{key}.{suffix}", captions[language].encode()))
    return members


# -- finishing -------------------------------------------------------------------------------


def export_shard_done(*, export: Export) -> bool:
    """Called after each shard: True when every shard is committed (time to write the manifest)."""
    export.refresh_from_db()
    return export.shards.exclude(status=ShardStatus.COMMITTED).count() == 0


def manifest_document(export: Export) -> dict:
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
        "splits": splits,
        "shards": [
            {"name": s.name, "split": s.split, "samples": s.samples, "bytes": s.bytes, "sha256": s.sha256}
            for s in shards
        ],
    }


def manifest_name(export: Export) -> str:
    """Where the manifest lies within the export's target."""
    return f"{export.version.name}/manifest.json"


def export_manifest_url(export: Export) -> str:
    """The manifest as the torch core reads it: a local path or an s3:// URL."""
    return target_for(export.target).url(manifest_name(export))


def export_finalize(*, export: Export) -> Export:
    """Write manifest.json last, once every shard is committed."""
    if not export_shard_done(export=export):
        return export
    target = target_for(export.target)
    body = json.dumps(manifest_document(export), ensure_ascii=False, indent=1, sort_keys=True).encode()

    def produce(fileobj):
        fileobj.write(body)
        return hashlib.sha256(body).hexdigest(), len(body)

    sha256, _ = target.write(manifest_name(export), produce)
    Export.objects.filter(pk=export.pk).update(
        status=ExportStatus.SUCCEEDED, manifest_sha256=sha256, finished_at=timezone.now()
    )
    export.refresh_from_db()
    return export


def export_fail(*, export: Export, error: str) -> None:
    Export.objects.filter(pk=export.pk).update(status=ExportStatus.FAILED, error=error[:2000])


def export_run_here(*, export: Export, on_progress=None) -> Export:
    """Run a whole export in this process (the CLI without --enqueue): the same steps as the tasks."""
    from .single_files import single_file_write

    Export.objects.filter(pk=export.pk).update(status=ExportStatus.RUNNING, error="")
    try:
        target_for(export.target).remove_partials(export.version.name)
        if export.format != ExportFormat.WEBDATASET:
            single_file_write(export=export)
        else:
            for index in export.shards.order_by("index").values_list("index", flat=True):
                shard_write(export=export, index=index)
                if on_progress:
                    export.refresh_from_db()
                    on_progress(export)
            export_finalize(export=export)
    except (ExportTargetError, OSError) as error:
        export_fail(export=export, error=str(error))
    export.refresh_from_db()
    return export
