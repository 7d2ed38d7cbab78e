"""An item's regions at its image's size: mask files, COCO segmentations and boxes.

Masks are decoded one at a time, after their size is checked against the image; what a mask
holds but no region takes (a value mask_classes does not list) becomes a warning on the row, and so
does a defect the source gives whose mask or segmentation holds no pixel.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .coco_geometry import SegmentationRejected, segmentation_mask
from .importers import ImportItem, RegionSpec
from .mask_files import MaskRejected, MaskValues, read_mask_values, unlisted_values_warning, value_counts
from .rle import mask_bbox, mask_to_rle


class RegionRejected(ValueError):
    """A region of the item cannot be imported, so neither can the item; the message says why."""


@dataclass
class ProcessedRegion:
    label: str
    mask_rle: dict | None
    bbox: list[float]
    area: int


@dataclass
class RowRegions:
    regions: list[ProcessedRegion]
    warnings: list[str]  # recorded on the imported row: what was found but not imported, and why


def regions_for(item: ImportItem, *, width: int, height: int) -> RowRegions:
    """The item's regions at the image's size, decoding one mask at a time. Raises RegionRejected."""
    masks: dict[Path, MaskValues] = {}  # one decode per mask file, however many classes it holds
    regions, empty = [], []
    for spec in item.regions:
        region = _region(spec, width, height, masks)
        if region is not None:
            regions.append(region)
        elif spec.mask_class_index is None:
            # A class absent from an index mask is normal; a defect the source names with no pixel is lost.
            empty.append(_empty_region_warning(spec, width, height))
    warnings = list(item.warnings) + empty + _unlisted_class_warnings(item, masks)
    return RowRegions(regions=regions, warnings=warnings)


def _empty_region_warning(spec: RegionSpec, width: int, height: int) -> str:
    if spec.mask_path is None:
        origin = spec.origin or "a segmentation"
        return f"{origin} of '{spec.label}' covers no pixel of the {width}x{height} image: no region for it"
    if spec.threshold is None:
        return f"{spec.mask_path.name} of '{spec.label}' has no non-zero pixel: no region for '{spec.label}'"
    return (
        f"{spec.mask_path.name} of '{spec.label}' has no pixel at or above {spec.threshold}: "
        f"no region for '{spec.label}'"
    )


def _region(spec: RegionSpec, width: int, height: int, masks: dict) -> ProcessedRegion | None:
    if spec.segmentation is not None:
        try:
            mask = segmentation_mask(spec.segmentation, width=width, height=height)
        except SegmentationRejected as problem:
            raise RegionRejected(f"'{spec.label}': {problem}") from None
    elif spec.mask_path is not None:
        if spec.mask_path not in masks:
            shown = f"{spec.mask_path.name} of '{spec.label}'"
            try:
                masks[spec.mask_path] = read_mask_values(spec.mask_path, width=width, height=height, shown=shown)
            except MaskRejected as problem:
                raise RegionRejected(str(problem)) from None
        mask = _foreground(masks[spec.mask_path], spec)
    else:
        return _box_region(spec, width, height)
    bbox = mask_bbox(mask)
    if bbox is None:  # an empty mask is no region; the caller says whether that is a finding
        return None
    return ProcessedRegion(label=spec.label, mask_rle=mask_to_rle(mask), bbox=bbox, area=int(mask.sum()))


def _foreground(mask: MaskValues, spec: RegionSpec) -> np.ndarray:
    if spec.mask_class_index is not None:
        if not mask.indexed:
            raise RegionRejected(
                f"{spec.mask_path.name} is a colour mask: its pixels hold no class index "
                "(save class indices as a grey or palette image, or give a binary 'label')"
            )
        return mask.values == spec.mask_class_index
    if spec.threshold is not None:
        return mask.values >= spec.threshold
    return mask.values != 0


def _unlisted_class_warnings(item: ImportItem, masks: dict[Path, MaskValues]) -> list[str]:
    listed: dict[Path, set[int]] = {}
    for spec in item.regions:
        if spec.mask_path is not None and spec.mask_class_index is not None:
            listed.setdefault(spec.mask_path, set()).add(spec.mask_class_index)
    found = []
    for path, indices in listed.items():
        warning = unlisted_values_warning(path.name, value_counts(masks[path].values), indices)
        if warning:
            found.append(warning)
    return found


def _box_region(spec: RegionSpec, width: int, height: int) -> ProcessedRegion:
    x, y, w, h = spec.bbox
    tolerance = 0.5  # boxes drawn to the last pixel's far edge
    if w <= 0 or h <= 0 or x < -tolerance or y < -tolerance or x + w > width + tolerance or y + h > height + tolerance:
        raise RegionRejected(f"box {spec.bbox} of '{spec.label}' lies outside the {width}x{height} image")
    return ProcessedRegion(label=spec.label, mask_rle=None, bbox=[x, y, w, h], area=round(w * h))
