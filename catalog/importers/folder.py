import csv
import json
from pathlib import Path

from .base import Importer, ImportFormatError, ImportItem, RegionSpec, register

MANIFEST_NAMES = ("manifest.jsonl", "manifest.csv")


@register
class FolderImporter(Importer):
    """Images plus a manifest (JSONL or CSV), one row per image. Fields:

    image     path of the image, relative to the manifest's folder (required)
    mask      a mask PNG; with `mask_classes` it holds class indices, else any non-zero pixel is `label`
    mask_classes  {"1": "scratch", "2": "crack"}: class index -> label
    label     the defect label of a binary mask
    boxes     [{"bbox": [x, y, w, h], "label": "scratch"}, ...]
    text      surrounding text (web-mined), any language; its language is detected on import
    domain, product   free text until the vocabulary maps them

    In CSV, `mask_classes` and `boxes` are JSON strings.
    """

    format_name = "folder"
    description = "images + manifest.jsonl/manifest.csv (mask, labels, boxes, text per image)"

    def __init__(self, root: Path):
        root = Path(root)
        if root.is_file():
            self.manifest_path = root
            super().__init__(root.parent)
        else:
            super().__init__(root)
            found = [root / name for name in MANIFEST_NAMES if (root / name).is_file()]
            if not found:
                raise ImportFormatError(f"{root} has no manifest.jsonl or manifest.csv")
            self.manifest_path = found[0]

    def discover(self):
        for line_number, row in self._rows():
            yield self._item(line_number, row)

    def _rows(self):
        name = self.manifest_path.name
        try:
            text = self.manifest_path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            raise ImportFormatError(f"cannot read manifest {name} ({error})") from None
        if self.manifest_path.suffix.lower() == ".csv":
            for line_number, row in enumerate(csv.DictReader(text.splitlines()), start=2):
                yield line_number, row
            return
        for line_number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                yield line_number, {"_error": f"line {line_number} is not valid JSON ({error.msg})"}
                continue
            yield line_number, row if isinstance(row, dict) else {"_error": f"line {line_number} is not an object"}

    def _item(self, line_number: int, row: dict) -> ImportItem:
        where = f"{self.manifest_path.name}:{line_number}"
        if "_error" in row:
            return ImportItem(relpath=where, image_path=None, problem=row["_error"])
        image_name = (row.get("image") or "").strip()
        if not image_name:
            return ImportItem(relpath=where, image_path=None, problem=f"{where} has no 'image'")
        try:
            regions = self._regions(row)
        except (ValueError, TypeError) as error:
            return ImportItem(relpath=image_name, image_path=None, problem=f"{where}: {error}")
        image_path = self.root / image_name
        item = self.item(
            image_path,
            regions=regions,
            domain=str(row.get("domain") or ""),
            product=str(row.get("product") or ""),
            source_text=str(row.get("text") or ""),
        )
        item.relpath = image_name
        if item.problem is None and not image_path.is_file():
            item.problem = f"image {image_name} is missing"
            item.image_path = None
        return item

    def _regions(self, row: dict) -> list[RegionSpec]:
        regions = []
        mask_name = (row.get("mask") or "").strip()
        if mask_name:
            mask_path = self.root / mask_name
            if not mask_path.is_file():
                raise ValueError(f"mask {mask_name} is missing")
            mask_classes = _json_field(row.get("mask_classes"), "mask_classes") or {}
            if mask_classes:
                for index, label in sorted(mask_classes.items(), key=lambda kv: int(kv[0])):
                    if int(index) <= 0:
                        raise ValueError("mask_classes indices start at 1 (0 is background)")
                    regions.append(RegionSpec(label=str(label), mask_path=mask_path, mask_class_index=int(index)))
            else:
                label = str(row.get("label") or "").strip()
                if not label:
                    raise ValueError("a binary mask needs a 'label' (or give 'mask_classes')")
                regions.append(RegionSpec(label=label, mask_path=mask_path))
        for number, box in enumerate(_json_field(row.get("boxes"), "boxes") or [], start=1):
            bbox = box.get("bbox") if isinstance(box, dict) else None
            label = str(box.get("label") or "").strip() if isinstance(box, dict) else ""
            if not (isinstance(bbox, list) and len(bbox) == 4 and label):
                raise ValueError(f"box {number} needs 'bbox': [x, y, w, h] and a 'label'")
            regions.append(RegionSpec(label=label, bbox=[float(v) for v in bbox]))
        return regions


def _json_field(value, name: str):
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(f"'{name}' is not valid JSON") from None
    return value
