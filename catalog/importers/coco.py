import json
from collections import defaultdict
from pathlib import Path

from ..coco_geometry import segmentation_problem
from .base import (
    ITEM_MAX_CHARS,
    Importer,
    ImportFormatError,
    ImportItem,
    ImportOptions,
    RegionSpec,
    is_existing_file,
    register,
    written_path,
)


@register
class COCOImporter(Importer):
    """COCO instances: polygons, RLE (compressed or not) or boxes only.

    PATH is a dataset folder in COCO's own layout, or one annotation JSON:

        <root>/annotations/instances_train2017.json   (every annotations/instances_*.json is read)
        <root>/train2017/000000000009.jpg              (the folder named after the JSON's split)
        <root>/images/...                              (or images/, images/train2017/)

    A JSON given on its own looks for images beside itself and in images/ beside it (or beside
    annotations/ when it lies in one). The `images` option names the image folder, relative to the
    dataset root, when it is called something else. Sizes an image entry declares are checked
    against the image file before any mask is decoded; masks are decoded when the row is processed.
    """

    format_name = "coco"
    description = "COCO instances: annotations/instances_*.json + images/ or <split>/ folders (or one JSON)"
    accepts_images_option = True

    def __init__(self, root: Path, *, options: ImportOptions | None = None):
        path = Path(root)
        if path.is_dir():
            annotations = path / "annotations"
            found = sorted(annotations.glob("instances_*.json")) or sorted(annotations.glob("*.json"))
            if not found:
                raise ImportFormatError(f"{path} has no annotations/instances_*.json (COCO's layout)")
            self.json_paths, dataset_root = found, path
        elif path.suffix.lower() == ".json" or path.is_file():
            self.json_paths = [path]
            dataset_root = path.parent.parent if path.parent.name == "annotations" else path.parent
        else:
            raise ImportFormatError(f"{path} does not exist")
        super().__init__(dataset_root, options=options)
        for json_path in self.json_paths:
            if not json_path.is_file():
                raise ImportFormatError(f"{json_path} does not exist")
        self.images_folder = None
        if self.options.images:
            self.images_folder = self.root / self.options.images
            if self.inside_root(self.images_folder) is None:
                raise ImportFormatError(f"images folder {self.options.images} lies outside {self.root}")
            if not self.images_folder.is_dir():
                raise ImportFormatError(f"images folder {self.images_folder} does not exist")

    def discover(self):
        several = len(self.json_paths) > 1
        for json_path in self.json_paths:
            split = json_path.stem.removeprefix("instances_")
            yield from self._discover_file(json_path, prefix=f"{split}/" if several else "")

    def _discover_file(self, json_path: Path, prefix: str):
        document = _load(json_path)
        categories = _category_names(document.get("categories") or [])
        images = document["images"]
        image_ids = {image.get("id") for image in images if isinstance(image, dict) and _is_id(image.get("id"))}
        annotations_by_image = defaultdict(list)
        for index, annotation in enumerate(document.get("annotations") or []):
            where = f"{prefix}{json_path.name}: annotations[{index}]"
            image_id = annotation.get("image_id") if isinstance(annotation, dict) else None
            if not isinstance(annotation, dict):
                yield ImportItem(relpath=where, image_path=None, problem=f"{where} is not an object")
            elif not _is_id(image_id) or image_id not in image_ids:
                yield ImportItem(
                    relpath=where, image_path=None, problem=f"{where} names image_id {image_id!r}, not in images"
                )
            else:
                annotations_by_image[image_id].append(annotation)

        entries_by_id = _entries_by_id(images)
        seen: dict[str, int | str] = {}  # relpath -> the image id it was first listed with
        for index, image in enumerate(images):
            where = f"{prefix}{json_path.name}: images[{index}]"
            if not isinstance(image, dict):
                yield ImportItem(relpath=where, image_path=None, problem=f"{where} is not an object")
                continue
            file_name = image.get("file_name")
            if not isinstance(file_name, str) or not file_name.strip() or not _is_id(image.get("id")):
                yield ImportItem(relpath=where, image_path=None, problem=f"{where} needs an 'id' and a 'file_name'")
                continue
            relpath = f"{prefix}{file_name}"
            if "\x00" in file_name or len(file_name) > ITEM_MAX_CHARS:
                problem = f"{where}: file_name holds a NUL byte or is longer than {ITEM_MAX_CHARS} characters"
                yield ImportItem(relpath=relpath, image_path=None, problem=problem)
                continue
            annotations = annotations_by_image[image["id"]]
            if relpath in seen:
                problem = f"{where} repeats file_name {file_name!r}"
                if seen[relpath] != image["id"] and annotations:
                    problem += f"; its {len(annotations)} annotation(s) are not imported"
                yield ImportItem(relpath=where, image_path=None, problem=problem)
                continue
            seen[relpath] = image["id"]
            # Concatenated exports that each number their images from 1: an annotation's image_id
            # then names two files, and attaching it to either would be a guess.
            others = [(i, name) for i, name in entries_by_id[image["id"]] if name != file_name]
            if others:
                other_index, other_name = others[0]
                problem = (
                    f"{where} has id {image['id']!r}, as images[{other_index}] ({other_name}) has: "
                    "which image its annotations belong to cannot be told"
                )
                yield ImportItem(relpath=relpath, image_path=None, problem=problem)
                continue
            yield self._item(relpath, file_name, image, annotations, categories, json_path)

    def _item(self, relpath, file_name, image, annotations, categories, json_path) -> ImportItem:
        declared, problem = _declared_size(image)
        if problem is None:
            regions = []
            for annotation in annotations:
                region = _region(annotation, categories)
                if isinstance(region, str):
                    problem = region
                    break
                regions.append(region)
        if problem is not None:
            return ImportItem(relpath=relpath, image_path=None, problem=problem)
        folders = self._image_folders(json_path)
        paths = (written_path(folder, file_name) for folder in folders)
        image_path = next((path for path in paths if is_existing_file(path)), None)
        if image_path is None:
            looked = ", ".join(_shown(folder, self.root) for folder in folders)
            return ImportItem(
                relpath=relpath, image_path=None, problem=f"image file {file_name!r} is missing (looked in {looked})"
            )
        item = self.item(image_path, regions=regions, declared_size=declared)
        item.relpath = relpath
        return item

    def _image_folders(self, json_path: Path) -> list[Path]:
        if self.images_folder is not None:
            return [self.images_folder]
        split = json_path.stem.removeprefix("instances_")
        candidates = [
            self.root / split,
            self.root / "images" / split,
            self.root / "images",
            json_path.parent,
            json_path.parent / "images",
            self.root,
        ]
        folders = []
        for folder in candidates:
            if folder not in folders and folder.is_dir():
                folders.append(folder)
        return folders


def _category_names(categories: list) -> dict[int | str, list[str]]:
    """Category id -> its names: one, or several where merged files gave one id two names."""
    names = defaultdict(list)
    for category in categories:
        if isinstance(category, dict) and _is_id(category.get("id")) and isinstance(category.get("name"), str):
            if category["name"] not in names[category["id"]]:
                names[category["id"]].append(category["name"])
    return names


def _entries_by_id(images: list) -> dict[int | str, list[tuple[int, str]]]:
    """Image id -> (index, file_name) of every entry listed with it."""
    entries = defaultdict(list)
    for index, image in enumerate(images):
        if isinstance(image, dict) and _is_id(image.get("id")) and isinstance(image.get("file_name"), str):
            entries[image["id"]].append((index, image["file_name"]))
    return entries


def _load(json_path: Path) -> dict:
    try:
        document = json.loads(json_path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ImportFormatError(f"{json_path.name} is not a COCO instances file ({error})") from None
    if not isinstance(document, dict) or not isinstance(document.get("images"), list):
        raise ImportFormatError(f"{json_path.name} is not a COCO instances file (no 'images' list)")
    for key in ("annotations", "categories"):
        if not isinstance(document.get(key) or [], list):
            raise ImportFormatError(f"{json_path.name} is not a COCO instances file ('{key}' is not a list)")
    return document


def _declared_size(image: dict) -> tuple[tuple[int, int] | None, str | None]:
    width, height = image.get("width"), image.get("height")
    if width is None and height is None:
        return None, None
    if not (_is_count(width) and _is_count(height)):
        return None, f"image {image['id']}: width and height must be positive whole numbers"
    return (int(width), int(height)), None


def _region(annotation: dict, categories: dict) -> RegionSpec | str:
    """The annotation's region, or the reason it cannot be one."""
    where = f"annotation {annotation.get('id')!r}"
    category = annotation.get("category_id")
    if not _is_id(category):
        return f"{where}: category_id must be an integer or a string, not {type(category).__name__}"
    names = categories.get(category)
    if not names:
        return f"{where} names unknown category {category!r}"
    if len(names) > 1:
        shown = ", ".join(repr(name) for name in names)
        return f"{where} names category {category!r}, which categories lists under more than one name ({shown})"
    label = names[0]
    segmentation = annotation.get("segmentation")
    if segmentation not in (None, []):
        problem = segmentation_problem(segmentation)
        if problem:
            return f"{where}: {problem}"
        return RegionSpec(label=label, segmentation=segmentation, origin=where)
    bbox = annotation.get("bbox")
    if bbox is None:
        return f"{where} has neither segmentation nor bbox"
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_coordinate(v) for v in bbox)):
        return f"{where}: bbox must be [x, y, width, height]"
    return RegionSpec(label=label, bbox=[float(v) for v in bbox])


def _shown(folder: Path, root: Path) -> str:
    relative = folder.relative_to(root) if folder.is_relative_to(root) else folder
    return "./" if str(relative) == "." else f"{relative}/"


def _is_id(value) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, str)


def _is_count(value) -> bool:
    # 64.0 is a count too: converters that go through numpy or pandas write sizes as floats.
    if isinstance(value, float):
        return value.is_integer() and 0 < value < 2**31
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _is_coordinate(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and abs(value) < 2**53
