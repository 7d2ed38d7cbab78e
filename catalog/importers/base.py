from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np


@dataclass
class RegionSpec:
    """One defect region of an item, as the source gives it: a mask file, a decoded mask or a box.

    mask_class_index: when the mask file holds class indices (0 = background), the index this
    region takes; None means any non-zero pixel (after `threshold` for anti-aliased masks).
    """

    label: str
    mask_path: Path | None = None
    mask_class_index: int | None = None
    threshold: int = 128
    mask: np.ndarray | None = None  # (H, W) bool, for formats that carry masks inline (COCO)
    bbox: list[float] | None = None  # [x, y, w, h] in pixels, for box-only regions


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


class ImportFormatError(ValueError):
    """The import as a whole cannot start (missing folder, unreadable manifest): nothing to report per row."""


class Importer:
    format_name: ClassVar[str]
    description: ClassVar[str]

    def __init__(self, root: Path):
        self.root = Path(root)
        if not self.root.exists():
            raise ImportFormatError(f"{self.root} does not exist")
        self.root_resolved = self.root.resolve()

    def discover(self) -> Iterator[ImportItem]:
        raise NotImplementedError

    def inside_root(self, path: Path) -> Path | None:
        """The resolved path if it lies under the import root (symlinks followed), else None."""
        resolved = path.resolve()
        return resolved if resolved.is_relative_to(self.root_resolved) else None

    def item(self, image_path: Path, **fields) -> ImportItem:
        """An ImportItem for a file found under the root, rejected if it (or a mask) escapes the root."""
        relpath = _relative(image_path, self.root)
        if self.inside_root(image_path) is None:
            return ImportItem(relpath=relpath, image_path=None, problem=f"{relpath} lies outside the import root")
        for region in fields.get("regions", []):
            if region.mask_path is not None and self.inside_root(region.mask_path) is None:
                return ImportItem(
                    relpath=relpath,
                    image_path=None,
                    problem=f"mask {_relative(region.mask_path, self.root)} lies outside the import root",
                )
        return ImportItem(relpath=relpath, image_path=image_path, **fields)


def _relative(path: Path, root: Path) -> str:
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


def image_files(folder: Path) -> list[Path]:
    """Image files directly in a folder, sorted so imports run in a stable order."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.is_dir())
