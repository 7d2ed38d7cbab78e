"""The exports that are one file per split or per version: COCO instances JSON (valid for
pycocotools; RLE segmentation, categories from the vocabulary's defect types, captions as an extra
field), QA pairs as JSONL in the LLaVA conversation format, and a captions CSV."""

import csv
import hashlib
import io
import json

from .models import Export, ExportFormat
from .sample_documents import SampleDocumentReader, export_items, sample_key


def single_files_write(*, export: Export, target) -> None:
    classes = {c["slug"]: c["index"] for c in export.classes}
    splits = sorted(set(export_items(export).values_list("split", flat=True)))
    writers = {ExportFormat.COCO: _coco, ExportFormat.QA: _qa, ExportFormat.CAPTIONS: _captions}
    files = writers[export.format](export, classes, splits)
    for name, body in files.items():
        target.write(
            f"{export.version.name}/{name}",
            lambda out, body=body: (out.write(body), (hashlib.sha256(body).hexdigest(), len(body)))[1],
        )


def image_file_name(record) -> str:
    """The image's file name in the exports that name images: its key and the format's extension."""
    return f"{sample_key(record.sample_id)}.{record.document['image_format']}"


def _documents(export: Export, classes: dict, split: str):
    """A SampleRecord (sample id, original's name, json document) for every item of a split,
    streamed in batches."""
    reader = SampleDocumentReader(export, classes)
    for records in reader.batches(split=split):
        yield from records


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
        licenses: dict[str, int] = {}  # license text -> its id in the file's "licenses", as COCO numbers them
        for record in _documents(export, classes, split):
            license_text = record.document["source"]["license"]
            images.append(
                {
                    "id": record.sample_id,
                    "file_name": image_file_name(record),
                    "width": record.document["width"],
                    "height": record.document["height"],
                    "captions": {k: v for k, v in record.document["captions"].items() if v is not None},
                    "license": licenses.setdefault(license_text, len(licenses) + 1),
                }
            )
            for region in record.document["regions"]:
                slug = region["term"]["slug"] if region["term"] else None
                if slug not in classes:
                    continue  # an unmapped raw label has no category
                x, y, w, h = region["bbox"]
                annotation = {
                    "id": len(annotations) + 1,
                    "image_id": record.sample_id,
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
            "licenses": [{"id": number, "name": text, "url": ""} for text, number in licenses.items()],
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
        for record in _documents(export, classes, split):
            for number, pair in enumerate(record.document["qa"]):
                lines.append(
                    json.dumps(
                        {
                            "id": f"{record.sample_id}-{number}",
                            "image": image_file_name(record),
                            "language": pair["language"],
                            "conversations": [
                                {"from": "human", "value": f"<image>\n{pair['question']}"},
                                {"from": "gpt", "value": pair["answer"]},
                            ],
                            "regions": [
                                {
                                    "bbox": record.document["regions"][i]["bbox"],
                                    "rle": record.document["regions"][i]["rle"],
                                    "term": record.document["regions"][i]["term"],
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
        for record in _documents(export, classes, split):
            captions = record.document["captions"]
            writer.writerow(
                [
                    record.sample_id,
                    split,
                    image_file_name(record),
                    captions.get("en") or "",
                    captions.get("zh") or "",
                    captions.get("ja") or "",
                ]
            )
    return {"captions.csv": buffer.getvalue().encode("utf-8")}
