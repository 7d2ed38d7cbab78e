"""The YOLO export, in the layout Ultralytics reads (and YOLOv5-style tools):

    <version>/data.yaml                     split folders, class names (zh and ja as comments)
    <version>/images/<split>/<key>.<ext>    the original images
    <version>/labels/<split>/<key>.txt      one line per instance: class x1 y1 x2 y2 ... (polygon)
    <version>/boxes/<split>/<key>.txt       one line per region: class cx cy w h (detection)

Coordinates are fractions of the image's width and height. Class ids count from 0: YOLO class
i is the manifest's class i + 1 (background has none).

Polygons come from the masks: each connected part of a region is an instance. YOLO has no holes,
so a hole is joined to its outer boundary by a zero-width cut at their nearest points, the way
Ultralytics' own COCO converter joins segments: filled, the polygon leaves the hole empty. A
region with a box but no mask is its box's four corners in `labels/`.
"""

import hashlib
import json

import cv2
import numpy as np

from catalog.rle import rle_to_mask

from .models import Export
from .read_ahead import read_ahead
from .sample_documents import SampleDocumentReader, export_items, sample_key


def _put(target, name: str, body: bytes) -> None:
    target.write(name, lambda out: (out.write(body), (hashlib.sha256(body).hexdigest(), len(body)))[1])


def _join_hole(outer: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """outer and hole: (N, 2) points. One ring that runs round the outer boundary, in along a cut
    to the hole, round the hole and back out the same way."""
    distances = ((outer[:, None, :] - hole[None, :, :]) ** 2).sum(axis=2)
    i, j = np.unravel_index(np.argmin(distances), distances.shape)
    return np.concatenate([outer[: i + 1], hole[j:], hole[: j + 1], outer[i:]])


def mask_polygons(mask: np.ndarray) -> list[np.ndarray]:
    """Args: mask: (H, W) bool. Returns one (N, 2) int array of x, y pixel points per connected
    part (N >= 3), holes joined in."""
    contours, hierarchy = cv2.findContours(mask.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return []
    polygons = []
    for index, contour in enumerate(contours):
        if hierarchy[0][index][3] != -1:
            continue  # a hole: joined into its outer boundary below
        ring = contour.reshape(-1, 2)
        child = hierarchy[0][index][2]
        while child != -1:
            ring = _join_hole(ring, contours[child].reshape(-1, 2))
            child = hierarchy[0][child][0]
        if len(ring) < 3:
            # A single pixel or a one-pixel line: its points repeated to the three YOLO needs. Like
            # every ring here it runs through pixel centres, which a filled polygon covers.
            ring = np.resize(ring, (3, 2))
        polygons.append(ring)
    return polygons


def _fraction(value: float, size: int) -> str:
    return f"{min(max(value / size, 0.0), 1.0):.6f}"


def label_lines(document: dict, classes: dict[str, int]) -> tuple[list[str], list[str]]:
    """(polygon lines, box lines) of a sample's regions that name a class."""
    width, height = document["width"], document["height"]
    polygons, boxes = [], []
    for region in document["regions"]:
        slug = region["term"]["slug"] if region["term"] else None
        if slug not in classes:
            continue  # a region whose raw label maps to no term has no class
        yolo_class = classes[slug] - 1
        if region["bbox"]:
            x, y, w, h = region["bbox"]
            boxes.append(
                f"{yolo_class} {_fraction(x + w / 2, width)} {_fraction(y + h / 2, height)} "
                f"{_fraction(w, width)} {_fraction(h, height)}"
            )
        if region["rle"]:
            parts = mask_polygons(rle_to_mask(region["rle"]))
        elif region["bbox"]:
            x, y, w, h = region["bbox"]
            parts = [np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])]
        else:
            parts = []
        for ring in parts:
            points = " ".join(f"{_fraction(px, width)} {_fraction(py, height)}" for px, py in ring)
            polygons.append(f"{yolo_class} {points}")
    return polygons, boxes


def data_yaml(export: Export, splits: list[str]) -> bytes:
    lines = [
        f"# {export.version.title} ({export.version.name}), exported as YOLO labels.",
        "# labels/: polygons (Ultralytics segment and detect); boxes/: class cx cy w h.",
        "# Class names in English; Chinese and Japanese in the comments.",
    ]
    for split in splits:
        lines.append(f"{split}: images/{split}")
    if "val" not in splits:
        # Ultralytics refuses a data.yaml without val; it validates on test then, and says so.
        stand_in = "test" if "test" in splits else "train"
        lines.append(f"# this version has no val split: val reads the {stand_in} split (Ultralytics requires a val).")
        lines.append(f"val: images/{stand_in}")
    defect_classes = [c for c in export.classes if c["index"] > 0]
    lines.append(f"nc: {len(defect_classes)}")
    lines.append("names:")
    for entry in defect_classes:
        labels = entry["labels"]
        # A JSON string is a YAML double-quoted scalar: quotes, backslashes and colons in a name
        # read back as they are. A comment ends at a line break, so none may be left in one.
        name = json.dumps(labels.get("en") or entry["slug"], ensure_ascii=False)
        zh, ja = (" ".join(labels.get(language, "").split()) for language in ("zh", "ja"))
        lines.append(f"  {entry['index'] - 1}: {name}  # zh: {zh}  ja: {ja}")
    return ("\n".join(lines) + "\n").encode()


def yolo_write(*, export: Export, target) -> None:
    folder = export.version.name
    classes = {c["slug"]: c["index"] for c in export.classes}
    reader = SampleDocumentReader(export, classes)
    splits = sorted(set(export_items(export).values_list("split", flat=True)))
    for split in splits:
        for records, images in read_ahead(reader.batches(split=split)):
            for record, image in zip(records, images, strict=True):
                key = sample_key(record.sample_id)
                polygons, boxes = label_lines(record.document, classes)
                _put(target, f"{folder}/images/{split}/{key}.{record.document['image_format']}", image)
                _put(target, f"{folder}/labels/{split}/{key}.txt", "".join(f"{line}\n" for line in polygons).encode())
                _put(target, f"{folder}/boxes/{split}/{key}.txt", "".join(f"{line}\n" for line in boxes).encode())
    _put(target, f"{folder}/data.yaml", data_yaml(export, splits))
