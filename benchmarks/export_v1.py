"""The WebDataset export as schema 1 wrote it, for the export benchmark's baseline.

Schema 1's writer was replaced in 445053e ("Exports: WebDataset schema 2 ..."); this is that
commit's parent's `exports.shard_write`, `sample_members` and `export_finalize`, on today's
primitives: the same document reader and read-ahead pool, the same ShardWriter (hashing and writing
on its own thread), the same target (fsync, atomic rename) and the same per-shard database commit.
What schema 1 wrote and schema 2 no longer does:

* members: the image under its own extension, `mask.png` only where a region has a mask, the
  caption files only for the languages present (schema 2: every member in every sample);
* the json: `schema_version` 1, no `image_format`, `captions` holding only the languages present
  (the reader builds schema 2's document; the copy without those keys costs about a microsecond);
* no Parquet index beside each shard, and no README.md or croissant.json: the finisher writes
  manifest.json alone.
"""

import hashlib
import json
import posixpath

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from base.jobs import JobStatus
from releases.export_writing import cyclic_gc_paused, manifest_name
from releases.mask_png import class_mask_png
from releases.models import Export, ExportShard, ShardStatus
from releases.read_ahead import read_ahead
from releases.sample_documents import SampleDocumentReader, document_json, sample_key
from releases.shard_writer import ShardMember, ShardWriter
from releases.targets import target_for

IMAGE_EXTENSIONS = {"jpeg": "jpg", "tiff": "tif"}


def image_extension(original: str) -> str:
    suffix = posixpath.splitext(original)[1].lower().lstrip(".")
    return IMAGE_EXTENSIONS.get(suffix, suffix or "png")


def v1_document(document: dict) -> dict:
    v1 = {key: value for key, value in document.items() if key != "image_format"}
    v1["schema_version"] = 1
    v1["captions"] = {language: text for language, text in document["captions"].items() if text is not None}
    return v1


def v1_sample_members(original: str, image: bytes, document: dict) -> list[ShardMember]:
    key = sample_key(document["sample_id"])
    members = [ShardMember(f"{key}.{image_extension(original)}", image)]
    masked = [(r["rle"], r["class_index"]) for r in document["regions"] if r["rle"] and r["class_index"]]
    if masked:
        members.append(ShardMember(f"{key}.mask.png", class_mask_png(masked, document["width"], document["height"])))
    members.append(ShardMember(f"{key}.json", document_json(document)))
    captions = document["captions"]
    for language, suffix in (("en", "txt"), ("zh", "zh.txt"), ("ja", "ja.txt")):
        if language in captions:
            members.append(ShardMember(f"{key}.{suffix}", captions[language].encode()))
    return members


def v1_shard_write(*, export: Export, index: int) -> ExportShard:
    shard = export.shards.get(index=index)
    target = target_for(export.target)
    reader = SampleDocumentReader(export, {c["slug"]: c["index"] for c in export.classes})

    def produce(fileobj):
        batches = reader.batches(split=shard.split, first_sample=shard.first_sample, last_sample=shard.last_sample)
        with ShardWriter(fileobj) as writer, cyclic_gc_paused():
            for records, images in read_ahead(batches):
                for record, image in zip(records, images, strict=True):
                    writer.add_sample(v1_sample_members(record.original, image, v1_document(record.document)))
            return writer.close()

    sha256, size = target.write(f"{export.version.name}/{shard.name}", produce)
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
    shard.refresh_from_db()
    return shard


def v1_finalize(*, export: Export) -> Export:
    """manifest.json as schema 1 wrote it: no image member, no index files, no card."""
    version = export.version
    shards = list(export.shards.order_by("index"))
    if any(shard.status != ShardStatus.COMMITTED for shard in shards):
        raise RuntimeError(f"export {export.pk}: a schema-1 shard is not committed")
    splits: dict[str, int] = {}
    for shard in shards:
        splits[shard.split] = splits.get(shard.split, 0) + shard.samples
    document = {
        "schema_version": 1,
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
    body = json.dumps(document, ensure_ascii=False, indent=1, sort_keys=True).encode()

    def produce(fileobj):
        fileobj.write(body)
        return hashlib.sha256(body).hexdigest(), len(body)

    sha256, _ = target_for(export.target).write(manifest_name(export), produce)
    Export.objects.filter(pk=export.pk).update(
        status=JobStatus.SUCCEEDED, manifest_sha256=sha256, finished_at=timezone.now(), error=""
    )
    export.refresh_from_db()
    return export
