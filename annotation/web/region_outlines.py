"""Region outlines for thumbnails: each mask traced at thumbnail resolution (OpenCV contours of
the mask shrunk to at most OUTLINE_GRID pixels on its long side) and returned as SVG polygon
points in original pixels, so the browser draws them over the thumbnail with a viewBox of the
image's size. A box-only region is its rectangle. Colours follow frontend_static/review/classes.js:
one colour per defect type on every page."""

from dataclasses import dataclass

import cv2
import numpy as np

from catalog.models import Sample, SourceRegion
from catalog.rle import rle_to_mask

from ..models import Annotation, AnnotationRevision

OUTLINE_GRID = 128
# classes.js's PALETTE, in the same order: a term's colour is PALETTE[term id % 12].
PALETTE = (
    (230, 25, 75), (60, 180, 75), (255, 160, 20), (0, 130, 200), (145, 30, 180), (70, 220, 220),
    (240, 50, 230), (170, 220, 40), (250, 120, 120), (0, 128, 128), (170, 110, 40), (128, 0, 0),
)  # fmt: skip
UNTYPED = (150, 150, 150)


@dataclass
class Outline:
    polygons: list[str]  # SVG "x,y x,y ..." in original pixels
    color: str  # rgb(...)
    label: str  # the defect type's English label, or the raw class name


def class_color(term_id: int | None) -> str:
    r, g, b = PALETTE[term_id % len(PALETTE)] if term_id is not None else UNTYPED
    return f"rgb({r}, {g}, {b})"


def mask_polygons(rle: dict, *, grid: int = OUTLINE_GRID) -> list[str]:
    """The outer contours of a COCO RLE mask, traced on a grid of at most `grid` pixels."""
    mask = rle_to_mask(rle).astype(np.uint8)
    height, width = mask.shape
    scale = min(1.0, grid / max(height, width))
    if scale < 1.0:
        small_w, small_h = max(1, round(width * scale)), max(1, round(height * scale))
        # INTER_AREA averages: any covered pixel stays > 0, so a one-pixel scratch survives.
        mask = (cv2.resize(mask * 255, (small_w, small_h), interpolation=cv2.INTER_AREA) > 0).astype(np.uint8)
    contours, _hierarchy = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    sx, sy = width / mask.shape[1], height / mask.shape[0]
    polygons = []
    for contour in contours:
        points = contour.reshape(-1, 2)
        # Pixel centres of the shrunk grid, back in original pixels.
        polygons.append(" ".join(f"{(x + 0.5) * sx:.1f},{(y + 0.5) * sy:.1f}" for x, y in points))
    return polygons


def box_polygon(bbox: list) -> str:
    x, y, w, h = bbox
    return f"{x},{y} {x + w},{y} {x + w},{y + h} {x},{y + h}"


def _outline(mask_rle, bbox, term, raw_label) -> Outline:
    polygons = mask_polygons(mask_rle) if mask_rle else [box_polygon(bbox)]
    return Outline(
        polygons=polygons,
        color=class_color(term.pk if term else None),
        label=term.label_en if term else raw_label,
    )


def outlines_of(samples: list[Sample], annotations: dict[int, Annotation]) -> dict[int, list[Outline]]:
    """Per sample id: the outlines of its current revision's regions, or of the regions its
    source delivered while it is not enqueued."""
    outlines: dict[int, list[Outline]] = {}
    revision_of = {a.current_revision_id: a.pk for a in annotations.values() if a.current_revision_id}
    links = (
        AnnotationRevision.regions.through.objects.filter(annotationrevision_id__in=list(revision_of))
        .select_related("region__defect_type")
        .order_by("region_id")
    )
    for link in links:
        region = link.region
        outline = _outline(region.mask_rle, region.bbox, region.defect_type, region.raw_label)
        outlines.setdefault(revision_of[link.annotationrevision_id], []).append(outline)
    loose = [s.pk for s in samples if s.pk not in annotations]
    for region in SourceRegion.objects.filter(sample_id__in=loose).order_by("id"):
        outlines.setdefault(region.sample_id, []).append(_outline(region.mask_rle, region.bbox, None, region.label))
    return outlines
