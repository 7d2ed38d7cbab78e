import csv
import json
import logging
from pathlib import Path

from .base import (
    LOSSY_MASK_SUFFIXES,
    Importer,
    ImportFormatError,
    ImportItem,
    ImportOptions,
    RegionSpec,
    is_existing_file,
    register,
    written_path,
)

logger = logging.getLogger(__name__)

MANIFEST_NAMES = ("manifest.jsonl", "manifest.csv")
MANIFEST_FIELDS = ("image", "mask", "label", "mask_classes", "mask_threshold", "boxes", "text", "domain", "product")
TEXT_FIELDS = ("image", "mask", "label", "text", "domain", "product")
LOSSY_MASK_THRESHOLD = 128


class RowProblem(ValueError):
    """This manifest row cannot be imported; the message says why."""


@register
class FolderImporter(Importer):
    """Images plus a manifest (JSONL or CSV), one row per image. Fields:

    image     path of the image, relative to the manifest's folder (required)
    mask      a mask image; any non-zero pixel is `label`, or with `mask_classes` each value is its class
    mask_classes  {"1": "scratch", "2": "crack"}: class index -> label; values not listed are warned about
    mask_threshold  the lowest foreground value of a binary mask (anti-aliased masks); JPEG masks default to 128
    label     the defect label of a binary mask
    boxes     [{"bbox": [x, y, w, h], "label": "scratch"}, ...]
    text      surrounding text (web-mined), any language; its language is detected on import
    domain, product   free text until the vocabulary maps them

    In CSV, `mask_classes` and `boxes` are JSON strings. A row whose fields have the wrong type is
    rejected with the field named; the other rows go on.
    """

    format_name = "folder"
    description = "images + manifest.jsonl/manifest.csv (mask, labels, boxes, text per image)"

    def __init__(self, root: Path, *, options: ImportOptions | None = None):
        root = Path(root)
        if root.is_file():
            self.manifest_path = root
            super().__init__(root.parent, options=options)
        else:
            super().__init__(root, options=options)
            found = [root / name for name in MANIFEST_NAMES if (root / name).is_file()]
            if not found:
                raise ImportFormatError(f"{root} has no manifest.jsonl or manifest.csv")
            self.manifest_path = found[0]

    def discover(self):
        self._first_lines: dict[str, int] = {}  # image -> the manifest line that first named it
        for line_number, row in self._rows():
            where = f"{self.manifest_path.name}:{line_number}"
            try:
                yield self._item(where, line_number, row)
            except RowProblem as problem:
                yield ImportItem(relpath=_row_name(where, row), image_path=None, problem=f"{where}: {problem}")
            except Exception as error:  # a bug must cost one row, not the import
                logger.exception("unexpected error reading manifest row %s", where)
                problem = f"{where}: unexpected error: {type(error).__name__}: {error}"
                yield ImportItem(relpath=_row_name(where, row), image_path=None, problem=problem)

    def _rows(self):
        name = self.manifest_path.name
        try:
            text = self.manifest_path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            raise ImportFormatError(f"cannot read manifest {name} ({error})") from None
        if self.manifest_path.suffix.lower() == ".csv":
            reader = csv.DictReader(text.splitlines())
            # Spreadsheets write headers as "Image, Mask": the column names are read without case or spaces.
            columns = [(column or "").strip().lower() for column in reader.fieldnames or []]
            if "image" not in columns:
                shown = ", ".join(column for column in columns if column) or "none"
                raise ImportFormatError(f"{name} has no 'image' column (its columns: {shown})")
            reader.fieldnames = columns
            for line_number, row in enumerate(reader, start=2):
                # A line with more cells than the header puts the rest under the key None.
                yield line_number, {key: value for key, value in row.items() if key is not None}
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

    def _item(self, where: str, line_number: int, row: dict) -> ImportItem:
        if "_error" in row:
            return ImportItem(relpath=where, image_path=None, problem=row["_error"])
        for name in TEXT_FIELDS:
            if row.get(name) is not None and not isinstance(row[name], str):
                raise RowProblem(f"'{name}' must be a string, not {_type_name(row[name])}")
        image_name = (row.get("image") or "").strip()
        if not image_name:
            fields = ", ".join(str(name) for name in row) or "none"
            return ImportItem(relpath=where, image_path=None, problem=f"{where} has no 'image' (its fields: {fields})")
        first_line = self._first_lines.setdefault(image_name, line_number)
        if first_line != line_number:
            # One line per box is a common way to write a manifest; merging lines would be a guess at intent.
            carried = [name for name in ("mask", "boxes", "text") if row.get(name) not in (None, "", [])]
            problem = f"{where} lists {image_name} again (first on line {first_line}): give all of an image's regions on one line"
            if carried:
                problem += f"; its {', '.join(carried)} are not imported"
            return ImportItem(relpath=where, image_path=None, problem=problem)
        try:
            regions = self._regions(row)
        except RowProblem as problem:
            return ImportItem(relpath=image_name, image_path=None, problem=f"{where}: {problem}")
        image_path = written_path(self.root, image_name)
        item = self.item(
            image_path,
            regions=regions,
            domain=(row.get("domain") or "").strip(),
            product=(row.get("product") or "").strip(),
            source_text=row.get("text") or "",
        )
        item.relpath = image_name
        if item.problem is None and not is_existing_file(image_path):
            item.problem = f"image {image_name} is missing"
            item.image_path = None
        item.warnings.extend(_unused_fields(row))
        return item

    def _regions(self, row: dict) -> list[RegionSpec]:
        regions = []
        mask_name = (row.get("mask") or "").strip()
        if mask_name:
            regions.extend(self._mask_regions(row, written_path(self.root, mask_name), mask_name))
        boxes = _json_field(row.get("boxes"), "boxes")
        if boxes is not None and not isinstance(boxes, list):
            raise RowProblem(f"'boxes' must be a list of {{bbox, label}}, not {_type_name(boxes)}")
        for number, box in enumerate(boxes or [], start=1):
            bbox = box.get("bbox") if isinstance(box, dict) else None
            label = box.get("label") if isinstance(box, dict) else None
            if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_number(v) for v in bbox)):
                raise RowProblem(f"box {number} needs 'bbox': [x, y, w, h] (four numbers) and a 'label'")
            if not (isinstance(label, str) and label.strip()):
                raise RowProblem(f"box {number} needs a 'label' (a non-empty string)")
            regions.append(RegionSpec(label=label.strip(), bbox=[float(v) for v in bbox]))
        return regions

    def _mask_regions(self, row: dict, mask_path: Path, mask_name: str) -> list[RegionSpec]:
        if not is_existing_file(mask_path):
            raise RowProblem(f"mask {mask_name} is missing")
        lossy = mask_path.suffix.lower() in LOSSY_MASK_SUFFIXES
        mask_classes = _json_field(row.get("mask_classes"), "mask_classes")
        if mask_classes:
            if not isinstance(mask_classes, dict):
                raise RowProblem(f"'mask_classes' must be an object {{index: label}}, not {_type_name(mask_classes)}")
            if lossy:
                raise RowProblem(f"mask {mask_name} is a JPEG: lossy compression changes class indices; use PNG")
            regions = []
            for key, label in mask_classes.items():
                index = _class_index(key)
                if any(region.mask_class_index == index for region in regions):
                    raise RowProblem(f"mask_classes lists index {index} twice")
                if not (isinstance(label, str) and label.strip()):
                    raise RowProblem(f"mask_classes[{key!r}] must be a label (a non-empty string)")
                regions.append(RegionSpec(label=label.strip(), mask_path=mask_path, mask_class_index=index))
            return sorted(regions, key=lambda region: region.mask_class_index)
        label = row.get("label")
        if not (isinstance(label, str) and label.strip()):
            raise RowProblem("a binary mask needs a 'label' (or give 'mask_classes')")
        threshold = _threshold(row.get("mask_threshold"), default=LOSSY_MASK_THRESHOLD if lossy else None)
        return [RegionSpec(label=label.strip(), mask_path=mask_path, threshold=threshold)]


def _unused_fields(row: dict) -> list[str]:
    """What a row gives that its import does not keep: said on the row, never dropped silently."""
    warnings = []
    unknown = [repr(name) for name, value in row.items() if name not in MANIFEST_FIELDS and value not in (None, "")]
    if unknown:
        fields = ", ".join(MANIFEST_FIELDS)
        warnings.append(f"field(s) {', '.join(unknown)} are not manifest fields ({fields}): not imported")
    has_mask = bool((row.get("mask") or "").strip())
    try:
        has_classes = has_mask and bool(_json_field(row.get("mask_classes"), "mask_classes"))
    except RowProblem:
        has_classes = has_mask
    label = (row.get("label") or "").strip()
    if label and not has_mask:
        warnings.append(
            f"'label' {label!r} is not imported: it names the defect of a binary 'mask', and this row has none"
        )
    elif label and has_classes:
        warnings.append(f"'label' {label!r} is not imported: with 'mask_classes' each mask value names its own class")
    if row.get("mask_threshold") not in (None, "") and (has_classes or not has_mask):
        given = "gives 'mask_classes'" if has_classes else "has no 'mask'"
        warnings.append(f"'mask_threshold' is not used: it applies to a binary mask, and this row {given}")
    if row.get("mask_classes") not in (None, "") and not has_mask:
        warnings.append("'mask_classes' is not used: this row has no 'mask'")
    return warnings


def _class_index(key) -> int:
    text = str(key).strip()
    if not text.isdigit() or not text.isascii():
        raise RowProblem(f"mask_classes keys are class indices (whole numbers), not {key!r}")
    index = int(text)
    if index == 0:
        raise RowProblem("mask_classes indices start at 1 (0 is background)")
    return index


def _threshold(value, *, default: int | None) -> int | None:
    if value in (None, ""):
        return default
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535):
        raise RowProblem(f"'mask_threshold' must be a whole number from 1 to 65535, not {value!r}")
    return value


def _json_field(value, name: str):
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise RowProblem(f"'{name}' is not valid JSON") from None
    return value


def _row_name(where: str, row: dict) -> str:
    image = row.get("image") if isinstance(row, dict) else None
    return image.strip() if isinstance(image, str) and image.strip() else where


def _type_name(value) -> str:
    return {dict: "an object", list: "a list", bool: "true/false", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and abs(value) < 2**53
