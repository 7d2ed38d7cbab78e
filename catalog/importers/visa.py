import csv
from pathlib import Path

from .base import (
    Importer,
    ImportFormatError,
    ImportItem,
    ImportOptions,
    RegionSpec,
    image_files,
    is_existing_file,
    register,
    relative_path,
    written_path,
)

SPLIT_COLUMNS = ("object", "split", "label", "image", "mask")
ANNOTATION_COLUMNS = ("image", "label")
NORMAL = "normal"
ANOMALY = "anomaly"


@register
class VisAImporter(Importer):
    """VisA in its own layout (not the MVTec-style conversion, which `mvtec` reads):

        <root>/split_csv/1cls.csv                  object,split,label,image,mask (paths from <root>)
        <root>/<object>/Data/Images/Normal/*.JPG
        <root>/<object>/Data/Images/Anomaly/*.JPG
        <root>/<object>/Data/Masks/Anomaly/*.png   non-zero pixels are the defect (values 1, 2, ... or 255)
        <root>/<object>/image_anno.csv             image,label[,mask]: the defect names, comma-separated

    split_csv/1cls.csv lists the images when it is there; without it, the Data/Images folders are
    walked and masks are matched by stem. Each anomalous image gets one region whose label is
    image_anno.csv's label string as written ("chunk of wax missing,different colour spot"): VisA's
    masks do not say which pixels belong to which of several names, so the string is kept whole
    for the vocabulary to map. An anomalous image that image_anno.csv does not name is labelled
    "anomaly", with a warning on its row. The product is the object's folder name.
    """

    format_name = "visa"
    description = "VisA: split_csv/1cls.csv + <object>/Data/{Images,Masks} + <object>/image_anno.csv"

    def __init__(self, root: Path, *, options: ImportOptions | None = None):
        super().__init__(root, options=options)
        self.split_csv = self.root / "split_csv" / "1cls.csv"
        self._labels: dict[str, dict[Path, str]] = {}  # object -> resolved image path -> label string

    def discover(self):
        if self.split_csv.is_file():
            yield from self._discover_from_split_csv()
        else:
            yield from self._discover_from_folders()

    def _discover_from_split_csv(self):
        rows = _read_csv(self.split_csv, SPLIT_COLUMNS, self.root)
        seen: set[str] = set()
        for line_number, row in rows:
            where = f"split_csv/1cls.csv:{line_number}"
            image_name = row["image"].strip()
            if not image_name:
                yield ImportItem(relpath=where, image_path=None, problem=f"{where} has no image")
                continue
            if image_name in seen:
                yield ImportItem(relpath=where, image_path=None, problem=f"{where} lists {image_name} again")
                continue
            seen.add(image_name)
            label = row["label"].strip().lower()
            if label not in (NORMAL, ANOMALY):
                problem = f"{where}: label is {row['label']!r}, not 'normal' or 'anomaly'"
                yield ImportItem(relpath=image_name, image_path=None, problem=problem)
                continue
            mask_name = row["mask"].strip()
            mask_path = written_path(self.root, mask_name) if mask_name else None
            yield self._item(row["object"].strip(), written_path(self.root, image_name), label == ANOMALY, mask_path)

    def _discover_from_folders(self):
        objects = sorted(p for p in self.root.iterdir() if (p / "Data" / "Images").is_dir())
        if not objects:
            raise ImportFormatError(f"{self.root} has neither split_csv/1cls.csv nor <object>/Data/Images folders")
        for object_dir in objects:
            images = object_dir / "Data" / "Images"
            masks = object_dir / "Data" / "Masks" / "Anomaly"
            for image_path in image_files(images / "Normal"):
                yield self._item(object_dir.name, image_path, False, None)
            for image_path in image_files(images / "Anomaly"):
                yield self._item(object_dir.name, image_path, True, masks / f"{image_path.stem}.png")

    def _item(self, object_name: str, image_path: Path, anomalous: bool, mask_path: Path | None) -> ImportItem:
        relpath = relative_path(image_path, self.root)
        if not object_name:
            return ImportItem(relpath=relpath, image_path=None, problem="the row names no object")
        if not is_existing_file(image_path):
            return ImportItem(relpath=relpath, image_path=None, problem=f"image {relpath} is missing")
        if not anomalous:
            return self.item(image_path, product=object_name)
        if mask_path is None:
            return ImportItem(relpath=relpath, image_path=None, problem="an anomalous image needs a mask")
        if not is_existing_file(mask_path):
            problem = f"mask {relative_path(mask_path, self.root)} is missing"
            return ImportItem(relpath=relpath, image_path=None, problem=problem)
        label = self._defect_labels(object_name).get(image_path.resolve())
        warnings = []
        if label is None or label.strip().lower() in ("", NORMAL):
            annotations = f"{object_name}/image_anno.csv"
            warnings.append(
                f"{annotations} names no defect for this anomalous image"
                + (f" (it says {label!r})" if label else "")
                + "; its region is labelled 'anomaly'"
            )
            label = ANOMALY
        region = RegionSpec(label=label.strip(), mask_path=mask_path)  # any non-zero pixel is the defect
        item = self.item(image_path, product=object_name, regions=[region])
        item.warnings.extend(warnings)
        return item

    def _defect_labels(self, object_name: str) -> dict[Path, str]:
        """image_anno.csv of one object, read once: resolved image path -> label string."""
        if object_name not in self._labels:
            labels = {}
            object_dir = self.root / object_name
            path = object_dir / "image_anno.csv"
            if path.is_file() and self.inside_root(path) is not None:
                for _, row in _read_csv(path, ANNOTATION_COLUMNS, self.root):
                    image = row["image"].strip()
                    if image:
                        # Paths are written from the dataset root; accept them from the object folder too.
                        for base in (self.root, object_dir):
                            labels[(base / image).resolve()] = row["label"]
            self._labels[object_name] = labels
        return self._labels[object_name]


def _read_csv(path: Path, columns: tuple[str, ...], root: Path) -> list[tuple[int, dict[str, str]]]:
    shown = relative_path(path, root)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise ImportFormatError(f"cannot read {shown} ({error})") from None
    reader = csv.DictReader(text.splitlines())
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [name for name in columns if name not in header]
    if missing:
        raise ImportFormatError(f"{shown} lacks column(s) {', '.join(missing)} (it has {', '.join(header) or 'none'})")
    rows = []
    for line_number, row in enumerate(reader, start=2):
        cells = {(key or "").strip().lower(): (value or "") for key, value in row.items() if isinstance(value, str)}
        rows.append((line_number, {name: cells.get(name, "") for name in columns + ("mask",)}))
    return rows
