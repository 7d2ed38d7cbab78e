from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

# Column limits of what an item becomes (ImportRow.item, SourceRegion.label, Sample.domain/product):
# an item that would not fit is a rejected row, never a database error that aborts its batch.
ITEM_MAX_CHARS = 1000
LABEL_MAX_CHARS = 200
NAME_MAX_CHARS = 200


@dataclass
class RegionSpec:
    """One defect region of an item, as the source gives it: a mask file, a COCO segmentation or a box.

    mask_class_index: when the mask file holds class indices (0 = background), the index this
    region takes; None means a binary mask.
    threshold: for a binary mask, the lowest value that counts as foreground; None means any
    non-zero value (index-valued and 0/255 masks), a number suits anti-aliased or lossy masks.
    segmentation: a COCO polygon list or RLE dict, decoded at the image's size when the row is
    processed (one mask at a time, after the sizes are checked), never during discovery.
    origin: how the source names the region in messages ("annotation 7"); a mask is named by its file.
    """

    label: str
    mask_path: Path | None = None
    mask_class_index: int | None = None
    threshold: int | None = None
    segmentation: list | dict | None = None
    bbox: list[float] | None = None  # [x, y, w, h] in pixels, for box-only regions
    origin: str = ""


@dataclass
class ImportItem:
    relpath: str  # shown in the report; unique within one import
    image_path: Path | None
    regions: list[RegionSpec] = field(default_factory=list)
    domain: str = ""
    product: str = ""
    source_text: str = ""
    # Set when discovery already knows the row is bad (path escapes the root, file missing, ...).
    problem: str | None = None
    # (width, height) as an annotation file states it (COCO); checked against the image before decoding.
    declared_size: tuple[int, int] | None = None
    # Known at discovery and recorded on the imported row (e.g. a label missing from a side file).
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ImportOptions:
    """What the person starting an import says about the source, beyond its layout.

    product, domain: given to every item whose layout names none (free text until the vocabulary maps it).
    images: COCO only, the image folder relative to the dataset root (e.g. "train2017").
    """

    product: str = ""
    domain: str = ""
    images: str = ""

    @classmethod
    def from_dict(cls, values: dict | None) -> "ImportOptions":
        values = values or {}
        return cls(**{name: str(values.get(name) or "") for name in ("product", "domain", "images")})

    def to_dict(self) -> dict:
        return {name: value for name, value in vars(self).items() if value}


class ImportFormatError(ValueError):
    """The import as a whole cannot start (missing folder, unreadable manifest): nothing to report per row."""


class Importer:
    format_name: ClassVar[str]
    description: ClassVar[str]
    accepts_images_option: ClassVar[bool] = False

    def __init__(self, root: Path, *, options: ImportOptions | None = None):
        self.root = Path(root)
        self.options = options or ImportOptions()
        if self.options.images and not self.accepts_images_option:
            raise ImportFormatError(f"the images option applies to the coco format, not {self.format_name}")
        if not self.root.exists():
            raise ImportFormatError(f"{self.root} does not exist")
        self.root_resolved = self.root.resolve()

    def discover(self) -> Iterator[ImportItem]:
        raise NotImplementedError

    def items(self) -> Iterator[ImportItem]:
        """What discover() finds, with the import's options applied and each item made safe to record.

        An item whose relpath discovery already gave is a rejected row of its own: the report, and a
        resumed batch, know an item by its relpath, so a second one would otherwise vanish."""
        listed: dict[str, int] = {}
        for item in self.discover():
            item.product = item.product or self.options.product
            item.domain = item.domain or self.options.domain
            item = _recordable(item)
            listed[item.relpath] = listed.get(item.relpath, 0) + 1
            yield item if listed[item.relpath] == 1 else _listed_again(item, listed[item.relpath])

    def inside_root(self, path: Path) -> Path | None:
        """The resolved path if it lies under the import root (symlinks followed), else None."""
        resolved = path.resolve()
        return resolved if resolved.is_relative_to(self.root_resolved) else None

    def item(self, image_path: Path, **fields) -> ImportItem:
        """An ImportItem for a file found under the root, rejected if it (or a mask) escapes the root."""
        relpath = relative_path(image_path, self.root)
        if self.inside_root(image_path) is None:
            return ImportItem(relpath=relpath, image_path=None, problem=f"{relpath} lies outside the import root")
        for region in fields.get("regions", []):
            if region.mask_path is not None and self.inside_root(region.mask_path) is None:
                return ImportItem(
                    relpath=relpath,
                    image_path=None,
                    problem=f"mask {relative_path(region.mask_path, self.root)} lies outside the import root",
                )
        return ImportItem(relpath=relpath, image_path=image_path, **fields)


def _listed_again(item: ImportItem, count: int) -> ImportItem:
    lost = f"; this one's {len(item.regions)} region(s) are not imported" if item.regions else ""
    problem = f"{item.relpath} is listed again by the source: only the first listing is read{lost}"
    relpath = f"{item.relpath[: ITEM_MAX_CHARS - 40]} (listed again, {count})"
    return ImportItem(relpath=relpath, image_path=None, problem=problem)


def _recordable(item: ImportItem) -> ImportItem:
    """Reject an item whose texts the database would refuse (NUL bytes, over-long values)."""
    if "\x00" in item.relpath or len(item.relpath) > ITEM_MAX_CHARS:
        shown = item.relpath.replace("\x00", "\\0")
        item.relpath = shown[: ITEM_MAX_CHARS - 40] + f"... ({len(item.relpath)} characters)"
        item.problem = item.problem or "the item's name holds a NUL byte or is longer than 1000 characters"
    if item.problem:
        return item
    texts = {"product": (item.product, NAME_MAX_CHARS), "domain": (item.domain, NAME_MAX_CHARS)}
    texts["text"] = (item.source_text, None)
    texts.update({f"label {r.label[:40]!r}": (r.label, LABEL_MAX_CHARS) for r in item.regions})
    for name, (value, limit) in texts.items():
        if "\x00" in value:
            item.problem = f"{name} holds a NUL byte"
        elif limit is not None and len(value) > limit:
            item.problem = f"{name} is {len(value)} characters long (at most {limit})"
        if item.problem:
            item.image_path = None
            break
    return item


def is_existing_file(path: Path) -> bool:
    """path.is_file(), False for a name the OS refuses (too long, NUL byte) instead of an error."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def written_path(folder: Path, name: str) -> Path:
    """folder / name as a dataset file writes it; a name written on Windows ("images\\a.png") is read
    with "/" when only that file exists (on Linux a backslash is an ordinary character of a name)."""
    path = folder / name
    if "\\" in name and not is_existing_file(path):
        alternative = folder / name.replace("\\", "/")
        if is_existing_file(alternative):
            return alternative
    return path


def relative_path(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


IMPORTERS: dict[str, type[Importer]] = {}


def register(cls: type[Importer]) -> type[Importer]:
    IMPORTERS[cls.format_name] = cls
    return cls


def get_importer(format_name: str) -> type[Importer]:
    try:
        return IMPORTERS[format_name]
    except KeyError:
        known = ", ".join(sorted(IMPORTERS))
        raise ImportFormatError(f"unknown import format {format_name!r}; known formats: {known}") from None


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
LOSSY_MASK_SUFFIXES = {".jpg", ".jpeg"}


def image_files(folder: Path) -> list[Path]:
    """Image files directly in a folder, sorted so imports run in a stable order."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.is_dir())
