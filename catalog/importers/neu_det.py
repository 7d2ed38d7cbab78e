import xml.etree.ElementTree as ET
from pathlib import Path

from .base import (
    IMAGE_SUFFIXES,
    Importer,
    ImportFormatError,
    ImportItem,
    RegionSpec,
    image_files,
    register,
    relative_path,
)


@register
class NEUDetImporter(Importer):
    """NEU-DET: IMAGES/*.jpg and ANNOTATIONS/*.xml (Pascal VOC boxes).

    The XML's <filename> sometimes lacks the extension, so images are matched by stem.
    VOC coordinates are 1-based and inclusive; boxes are stored 0-based as [x, y, w, h]:
    x = xmin - 1, w = xmax - xmin + 1.
    """

    format_name = "neu-det"
    description = "NEU-DET: IMAGES/*.jpg + ANNOTATIONS/*.xml (Pascal VOC boxes)"

    def _folder(self, name: str) -> Path:
        for candidate in (self.root / name, self.root / name.lower(), self.root / "NEU-DET" / name):
            if candidate.is_dir():
                return candidate
        raise ImportFormatError(f"{self.root} has no {name}/ folder")

    def discover(self):
        images_dir = self._folder("IMAGES")
        annotations_dir = self._folder("ANNOTATIONS")
        images_by_stem = {p.stem: p for p in image_files(images_dir)}
        annotated: set[str] = set()
        xml_paths = sorted(p for p in annotations_dir.iterdir() if p.suffix.lower() == ".xml" and p.is_file())
        for xml_path in xml_paths:
            item = self._item_from_xml(xml_path, images_by_stem)
            # An image whose XML is refused is not imported on its own: it would look defect-free,
            # and once the XML is fixed the image would only be a duplicate of that sample.
            annotated.add(xml_path.stem)
            if item.image_path is not None:
                annotated.add(item.image_path.stem)
            yield item
        # Images without an annotation file are imported without regions, and say so.
        for stem, image_path in sorted(images_by_stem.items()):
            if stem not in annotated:
                item = self.item(image_path, product="hot-rolled steel strip", domain="steel strip")
                shown = relative_path(annotations_dir / f"{stem}.xml", self.root)
                item.warnings.append(f"no {shown}: imported without regions")
                yield item

    def _item_from_xml(self, xml_path: Path, images_by_stem: dict[str, Path]) -> ImportItem:
        relpath = str(xml_path.relative_to(self.root))
        try:
            tree = ET.parse(xml_path)
        except ET.ParseError as error:
            return ImportItem(relpath=relpath, image_path=None, problem=f"annotation XML is malformed ({error})")
        root = tree.getroot()
        filename = (root.findtext("filename") or xml_path.stem).strip()
        stem = Path(filename).stem if Path(filename).suffix.lower() in IMAGE_SUFFIXES else filename
        image_path = images_by_stem.get(stem) or images_by_stem.get(xml_path.stem)
        if image_path is None:
            return ImportItem(
                relpath=relpath, image_path=None, problem=f"image {filename!r} named by the XML is missing"
            )
        regions = []
        for number, obj in enumerate(root.iter("object"), start=1):
            label = (obj.findtext("name") or "").strip()
            box = obj.find("bndbox")
            try:
                xmin, ymin, xmax, ymax = (float(box.findtext(tag)) for tag in ("xmin", "ymin", "xmax", "ymax"))
            except (AttributeError, TypeError, ValueError):
                return ImportItem(relpath=relpath, image_path=None, problem=f"object {number} has no valid bndbox")
            if not label:
                return ImportItem(relpath=relpath, image_path=None, problem=f"object {number} has no name")
            if xmax < xmin or ymax < ymin:
                return ImportItem(
                    relpath=relpath,
                    image_path=None,
                    problem=f"object {number} ({label}) has xmax < xmin or ymax < ymin",
                )
            regions.append(RegionSpec(label=label, bbox=[xmin - 1, ymin - 1, xmax - xmin + 1, ymax - ymin + 1]))
        item = self.item(image_path, product="hot-rolled steel strip", domain="steel strip", regions=regions)
        item.relpath = str(image_path.relative_to(self.root))
        if not regions:
            item.warnings.append(f"{relpath} names no object: imported without regions")
        return item
