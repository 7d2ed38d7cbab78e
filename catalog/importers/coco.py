import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..rle import rle_to_mask
from .base import Importer, ImportFormatError, ImportItem, RegionSpec, register


@register
class COCOImporter(Importer):
    """A COCO instances JSON: polygons, RLE (compressed or not) or boxes only.

    PATH is the JSON file; `file_name`s are looked up beside it, then in an `images/` folder beside it.
    """

    format_name = "coco"
    description = "COCO instances JSON (polygon or RLE segmentation, or boxes only)"

    def __init__(self, root: Path):
        root = Path(root)
        if root.is_dir():
            raise ImportFormatError(f"{root} is a folder: give the COCO JSON file itself")
        self.json_path = root
        super().__init__(root.parent)
        if not self.json_path.is_file():
            raise ImportFormatError(f"{self.json_path} does not exist")

    def discover(self):
        try:
            document = json.loads(self.json_path.read_text(encoding="utf-8"))
            images = document["images"]
            categories = {c["id"]: c["name"] for c in document.get("categories", [])}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as error:
            raise ImportFormatError(f"{self.json_path.name} is not a COCO instances file ({error})") from None
        annotations_by_image = defaultdict(list)
        for annotation in document.get("annotations", []):
            annotations_by_image[annotation.get("image_id")].append(annotation)

        for image in images:
            file_name = str(image.get("file_name", ""))
            image_path = self._locate(file_name)
            try:
                regions = [
                    self._region(a, categories, image.get("height"), image.get("width"))
                    for a in annotations_by_image[image.get("id")]
                ]
            except ValueError as error:
                yield ImportItem(relpath=file_name, image_path=None, problem=str(error))
                continue
            if image_path is None:
                yield ImportItem(relpath=file_name, image_path=None, problem=f"image file {file_name!r} is missing")
                continue
            item = self.item(image_path, regions=regions)
            item.relpath = file_name
            yield item

    def _locate(self, file_name: str) -> Path | None:
        for folder in (self.root, self.root / "images"):
            candidate = folder / file_name
            if candidate.is_file():
                return candidate
        return None

    def _region(self, annotation: dict, categories: dict, height, width) -> RegionSpec:
        label = categories.get(annotation.get("category_id"))
        if label is None:
            raise ValueError(
                f"annotation {annotation.get('id')} names unknown category {annotation.get('category_id')}"
            )
        segmentation = annotation.get("segmentation")
        bbox = annotation.get("bbox")
        if isinstance(segmentation, dict):
            return RegionSpec(label=label, mask=rle_to_mask(segmentation))
        if isinstance(segmentation, list) and segmentation:
            if not height or not width:
                raise ValueError(f"annotation {annotation.get('id')}: polygons need the image's height and width")
            return RegionSpec(label=label, mask=_polygons_to_mask(segmentation, int(height), int(width)))
        if bbox and len(bbox) == 4:
            return RegionSpec(label=label, bbox=[float(v) for v in bbox])
        raise ValueError(f"annotation {annotation.get('id')} has neither segmentation nor bbox")


def _polygons_to_mask(polygons: list, height: int, width: int) -> np.ndarray:
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for polygon in polygons:
        if len(polygon) < 6:
            raise ValueError("a polygon needs at least 3 points")
        draw.polygon([(float(polygon[i]), float(polygon[i + 1])) for i in range(0, len(polygon) - 1, 2)], fill=1)
    return np.asarray(canvas, dtype=bool)
