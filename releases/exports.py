"""Exports of a dataset version (docs/webdataset-schema.md, docs/exports.md): the services that
create, start and resume them.

A WebDataset export is planned once (the class list, the image member and each shard's fixed range
of samples), then each shard is written by its own Celery task, and the last task to finish
enqueues the finisher, which writes the card and manifest.json. Other formats are one task.
Services enqueue tasks (tasks.py); tasks call the writing module (export_writing.py), which never
imports either.
"""

import logging

from django.db import transaction

from accounts.models import User
from base.jobs import JobStatus
from vocabulary.models import Term

from . import tasks
from .export_folders import PER_SAMPLE_FORMATS, refuse_other_exports_files
from .export_writing import WRITE_ERRORS, export_fail, export_files_write, export_finalize, manifest_name, shard_write
from .mask_png import MAX_CLASS_INDEX
from .models import DatasetVersion, Export, ExportFormat, ExportShard, ShardStatus, VersionStatus
from .sample_documents import IMAGE_FORMATS, export_items, image_format
from .selectors import versions_visible_to
from .shard_members import image_member_for
from .targets import ExportTargetError, confined_location, target_for

logger = logging.getLogger(__name__)
BACKGROUND = {"index": 0, "slug": "background", "labels": {"en": "background", "zh": "背景", "ja": "背景"}}


class ExportError(ValueError):
    """An export that cannot start as asked; the message names what is wrong, and `field` the input
    it is about ("format", "target", ...) when it is about one."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


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
        raise ExportError(f"unknown format {format!r}; one of {', '.join(ExportFormat.values)}", field="format")
    if version.status != VersionStatus.PUBLISHED and not allow_draft:
        raise ExportError(f"{version.name} is not published: publish it before exporting")
    if shard_max_samples < 1 or shard_max_bytes < 1:
        raise ExportError(
            "shard sizes must be positive", field="shard_max_samples" if shard_max_samples < 1 else "shard_max_bytes"
        )
    if created_by is not None and not versions_visible_to(created_by).filter(pk=version.pk).exists():
        raise ExportError(f"{version.name} holds samples of sources you may not see")
    try:
        if created_by is not None:
            target = confined_location(target)
        target_for(target)
    except ExportTargetError as error:
        raise ExportError(str(error), field="target") from None
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
        export.classes = class_list(export)
        export.save(update_fields=["classes"])
        _check_contents(export)
        if format == ExportFormat.WEBDATASET:
            _plan_shards(export)
        else:
            export.shards_total = 1
            export.save(update_fields=["shards_total"])
        if format not in PER_SAMPLE_FORMATS:  # those are checked by their writer (export_folders.py)
            try:
                refuse_other_exports_files(export, target_for(export.target), export_items(export))
            except ExportTargetError as error:
                raise ExportError(str(error), field="target") from None
    return export


def _check_contents(export: Export) -> None:
    """ExportError where what the export would write cannot be written as asked: checked here, not
    found while writing."""
    version = export.version
    if not export_items(export).exists():  # its requester sees every source of the version (export_create)
        raise ExportError(
            f"this export of {version.name} would write no sample: all {version.items.count()} are of "
            "restricted sources, which only an export marked include_restricted writes",
            field="include_restricted",
        )
    defect_classes = len(export.classes) - 1
    if export.format == ExportFormat.WEBDATASET and defect_classes > MAX_CLASS_INDEX:  # an 8-bit mask.png
        raise ExportError(
            f"{version.name} has {defect_classes} defect classes, but a shard's mask.png holds 8-bit "
            f"class indices: at most {MAX_CLASS_INDEX}. Select fewer defect types, or export COCO or YOLO",
            field="format",
        )


def class_list(export: Export) -> list[dict]:
    """Background, then every defect type a region of the export's samples names, by slug. Of the
    export's samples only: a defect type that only a partner's samples show is not named by an
    export that leaves them out (nor does it take a class index there)."""
    slugs = set()
    revisions = export_items(export).values_list("revision_id", flat=True)
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


def _image_member(export: Export) -> str:
    """One image member name for the export's shards, from the formats of its originals."""
    items = export_items(export).order_by()
    formats = set()
    for original_format in items.values_list("sample__original_format", flat=True).distinct():
        if original_format.upper() in IMAGE_FORMATS:
            formats.add(IMAGE_FORMATS[original_format.upper()])
        else:  # a format the exports have no spelling for: go by the files' names, as image_format does
            names = items.filter(sample__original_format=original_format).values_list("sample__original", flat=True)
            formats.update(image_format(original_format, name) for name in names.iterator())
    return image_member_for(formats)


def _plan_shards(export: Export) -> None:
    """Cut the items, split by split, into shards of at most shard_max_samples and ~shard_max_bytes."""
    export.image_member = _image_member(export)
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
    export.save(update_fields=["shards_total", "image_member"])


def export_start(*, export: Export) -> None:
    """Enqueue the work: a task per shard not yet committed (the last one to finish writes the
    manifest), or the one task of a single-task format. Also how an export is resumed: safe while
    its shards are being written, since only killed writers' temporary files are cleared."""
    if export.status == JobStatus.SUCCEEDED:
        raise ExportError(f"export #{export.pk} has succeeded: there is nothing to resume")
    if export.format == ExportFormat.WEBDATASET and not export.image_member:
        _replan_as_schema_2(export)
    Export.objects.filter(pk=export.pk).update(status=JobStatus.PENDING, error="", finished_at=None)
    target_for(export.target).remove_partials(export.version.name)
    export_id = export.pk
    if export.format != ExportFormat.WEBDATASET:
        transaction.on_commit(lambda: tasks.export_single_file_task.delay(export_id))
        return
    # Committed shards are sent too: each checks its checksums and returns at once, and a shard
    # whose file was lost since is written again.
    indexes = list(export.shards.values_list("index", flat=True))
    if not indexes:
        transaction.on_commit(lambda: tasks.export_finalize_task.delay(export_id))
    for index in indexes:
        transaction.on_commit(lambda index=index: tasks.export_shard_task.delay(export_id, index))


def _replan_as_schema_2(export: Export) -> None:
    """An export planned before schema 2 (no image member) is written again whole: one manifest
    never lists shards of two schemas."""
    export.image_member = _image_member(export)
    with transaction.atomic():
        Export.objects.filter(pk=export.pk).update(image_member=export.image_member, shards_done=0, samples_written=0)
        ExportShard.objects.filter(export=export).update(status=ShardStatus.PENDING, sha256="", bytes=0)


def export_manifest_url(export: Export) -> str:
    """The manifest as the torch core reads it: a local path or an s3:// URL."""
    return target_for(export.target).url(manifest_name(export))


def export_run_here(*, export: Export, on_progress=None) -> Export:
    """Run a whole export in this process (the CLI without --enqueue): the same steps as the tasks."""
    if export.format == ExportFormat.WEBDATASET and not export.image_member:
        _replan_as_schema_2(export)
    Export.objects.filter(pk=export.pk).update(status=JobStatus.PENDING, error="", finished_at=None)
    export.refresh_from_db()
    try:
        target_for(export.target).remove_partials(export.version.name)
        if export.format != ExportFormat.WEBDATASET:
            export_files_write(export=export)
        else:
            for index in export.shards.order_by("index").values_list("index", flat=True):
                shard_write(export=export, index=index)
                if on_progress:
                    export.refresh_from_db()
                    on_progress(export)
            export_finalize(export=export)
    except WRITE_ERRORS as error:
        export_fail(export=export, error=str(error))
    export.refresh_from_db()
    return export
