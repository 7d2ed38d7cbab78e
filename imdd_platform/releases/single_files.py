"""The exports that are one file per split or per version: COCO instances JSON (valid for
pycocotools; RLE segmentation, categories from the vocabulary's defect types, captions as an extra
field), QA pairs as JSONL in the LLaVA conversation format, and a captions CSV."""

import csv
import hashlib
import io
import json

from django.db import transaction
from django.utils import timezone

from .exports import _shard_items, export_items, image_extension, sample_document, sample_key
from .models import Export, ExportFormat, ExportShard, ExportStatus, ShardStatus
from .targets import target_for


def single_file_write(*, export: Export) -> Export:
    classes = {c["slug"]: c["index"] for c in export.classes}
    splits = sorted(set(export_items(export).values_list("split", flat=True)))
    writers = {ExportFormat.COCO: _coco, ExportFormat.QA: _qa, ExportFormat.CAPTIONS: _captions}
    target = target_for(export.target)
    files = writers[export.format](export, classes, splits)
    for name, body in files.items():
        target.write(
            f"{export.version.name}/{name}",
            lambda out, body=body: (out.write(body), (hashlib.sha256(body).hexdigest(), len(body)))[1],
        )
    with transaction.atomic():
        Export.objects.filter(pk=export.pk).update(
            status=ExportStatus.SUCCEEDED,
            shards_done=1,
            samples_written=export_items(export).count(),
            finished_at=timezone.now(),
        )
    export.refresh_from_db()
    return export


def _documents(export: Export, classes: dict, split: str):
    """(item, json document) for every item of a split, streamed in batches."""
    items = export_items(export).filter(split=split)
    span = items.order_by("sample_id").values_list("sample_id", flat=True)
    first, last = span.first(), span.last()
    if first is None:
        return
    window = ExportShard(
        export=export, split=split, first_sample=first, last_sample=last, samples=0, status=ShardStatus.PENDING
    )
    for item, revision in _shard_items(export, window):
        yield item, sample_document(item, revision, classes)[0]


def _coco(export: Export, classes: dict, splits: list[str]) -> dict[str, bytes]:
    categories = [
        {
            "id": c["index"],
            "name": c["labels"]["en"],
            "slug": c["slug"],
            "supercategory": "defect",
            "name_zh": c["labels"]["zh"],
            "name_ja": c["labels"]["ja"],
        }
        for c in export.classes
        if c["index"] > 0
    ]
    files = {}
    for split in splits:
        images, annotations = [], []
        for item, document in _documents(export, classes, split):
            images.append(
                {
                    "id": item.sample_id,
                    "file_name": f"{sample_key(item.sample_id)}.{image_extension(item.sample)}",
                    "width": document["width"],
                    "height": document["height"],
                    "captions": document["captions"],
                    "license": document["source"]["license"],
                }
            )
            for region in document["regions"]:
                slug = region["term"]["slug"] if region["term"] else None
                if slug not in classes:
                    continue  # an unmapped raw label has no category
                x, y, w, h = region["bbox"]
                annotation = {
                    "id": len(annotations) + 1,
                    "image_id": item.sample_id,
                    "category_id": classes[slug],
                    "bbox": [x, y, w, h],
                    "area": float(w * h),
                    "iscrowd": 0,
                }
                if region["rle"]:
                    annotation["segmentation"] = region["rle"]
                    annotation["area"] = float(sum(region["rle"]["counts"][1::2]))
                annotations.append(annotation)
        document = {
            "info": {
                "description": export.version.title,
                "version": export.version.name,
                "date_created": export.version.created_at.isoformat(),
            },
            "images": images,
            "annotations": annotations,
            "categories": categories,
        }
        files[f"coco-{split}.json"] = json.dumps(document, ensure_ascii=False).encode()
    return files


def _qa(export: Export, classes: dict, splits: list[str]) -> dict[str, bytes]:
    files = {}
    for split in splits:
        lines = []
        for item, document in _documents(export, classes, split):
            for number, pair in enumerate(document["qa"]):
                lines.append(
                    json.dumps(
                        {
                            "id": f"{item.sample_id}-{number}",
                            "image": f"{sample_key(item.sample_id)}.{image_extension(item.sample)}",
                            "language": pair["language"],
                            "conversations": [
                                {"from": "human", "value": f"<image>\n{pair['question']}"},
                                {"from": "gpt", "value": pair["answer"]},
                            ],
                            "regions": [
                                {
                                    "bbox": document["regions"][i]["bbox"],
                                    "rle": document["regions"][i]["rle"],
                                    "term": document["regions"][i]["term"],
                                }
                                for i in pair["regions"]
                            ],
                        },
                        ensure_ascii=False,
                    )
                )
        files[f"qa-{split}.jsonl"] = ("\n".join(lines) + ("\n" if lines else "")).encode()
    return files


def _captions(export: Export, classes: dict, splits: list[str]) -> dict[str, bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["sample_id", "split", "file", "en", "zh", "ja"])
    for split in splits:
        for item, document in _documents(export, classes, split):
            captions = document["captions"]
            writer.writerow(
                [
                    item.sample_id,
                    split,
                    f"{sample_key(item.sample_id)}.{image_extension(item.sample)}",
                    captions.get("en", ""),
                    captions.get("zh", ""),
                    captions.get("ja", ""),
                ]
            )
    return {"captions.csv": buffer.getvalue().encode("utf-8")}
