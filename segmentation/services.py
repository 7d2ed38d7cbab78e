"""Click-assisted segmentation of a sample's stored image: check the request, run a backend.

The views call `check_*` to turn request values into typed ones (raising SegmentationError that
names the field) and then `segment_sample`. Coordinates and masks are in the pixel grid of the
sample's stored asset (the 512x512 image the work page shows), not of the original upload.
"""

import io
import time
from dataclasses import dataclass

import numpy as np
from PIL import Image

from base.api_errors import ApiError
from catalog.models import Sample
from catalog.rle import decode_compressed_counts, rle_to_mask

from .backends import Box, Click, SegmentationBackend, UnknownBackend, get_backend, known_backends

DEFAULT_BACKEND = "grabcut"
MAX_CLICKS = 100  # an annotator refines with a handful; more is a client stuck in a loop


class SegmentationError(ApiError):
    """A request the endpoint refuses: `detail` says what is wrong, `field` where."""

    def __init__(self, detail: str, *, field: str | None = None, status: int = 400):
        code = "invalid" if status == 400 else "unreadable_image"
        super().__init__(code, status, detail, errors={field: [detail]} if field else {})
        self.field = field


@dataclass(frozen=True)
class SegmentationResult:
    mask: np.ndarray  # (H, W) bool, possibly empty
    backend: str
    elapsed_ms: float  # reading the image and running the backend


def check_backend(value) -> SegmentationBackend:
    if value is None:
        value = DEFAULT_BACKEND
    if not isinstance(value, str):
        raise SegmentationError(f"a backend name (one of {', '.join(sorted(known_backends()))})", field="backend")
    try:
        return get_backend(value)
    except UnknownBackend as error:
        raise SegmentationError(str(error), field="backend") from None


def check_box(value, *, width: int, height: int) -> Box | None:
    """[x, y, w, h] (the responses' bbox form), inside a width x height image, at least 1x1; or None."""
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == 4 and all(_is_int(n) for n in value)):
        raise SegmentationError("box must be [x, y, width, height] in image pixels (integers)", field="box")
    x, y, box_width, box_height = value
    if box_width < 1 or box_height < 1:
        raise SegmentationError(f"box {value} is empty: width and height must be at least 1", field="box")
    if x < 0 or y < 0 or x + box_width > width or y + box_height > height:
        raise SegmentationError(f"box {value} reaches outside the {width}x{height} image", field="box")
    return Box(x=x, y=y, width=box_width, height=box_height)


def check_clicks(value, *, width: int, height: int, allow_none: bool = False) -> list[Click]:
    """[{"x": int, "y": int, "positive": bool}, ...] inside a width x height image, the first positive.
    allow_none: an empty list is accepted (a box prompt stands in for the first click)."""
    if allow_none and value == []:
        return []
    if not isinstance(value, list) or not value:
        raise SegmentationError(
            'give at least one click: [{"x": int, "y": int, "positive": bool}, ...]', field="clicks"
        )
    if len(value) > MAX_CLICKS:
        raise SegmentationError(f"{len(value)} clicks; at most {MAX_CLICKS} are accepted", field="clicks")
    clicks = []
    for index, item in enumerate(value):
        where = f"clicks[{index}]"
        if not isinstance(item, dict):
            raise SegmentationError(
                f'{where} must be an object {{"x": int, "y": int, "positive": bool}}', field="clicks"
            )
        missing = {"x", "y", "positive"} - set(item)
        unknown = set(item) - {"x", "y", "positive"}
        if missing or unknown:
            problems = [f"missing {', '.join(sorted(missing))}"] if missing else []
            problems += [f"unknown {', '.join(sorted(unknown))}"] if unknown else []
            raise SegmentationError(f"{where}: {'; '.join(problems)}", field="clicks")
        x, y, positive = item["x"], item["y"], item["positive"]
        if not (_is_int(x) and _is_int(y)):
            raise SegmentationError(f"{where}: x and y must be integers (pixels), got {x!r}, {y!r}", field="clicks")
        if not isinstance(positive, bool):
            raise SegmentationError(f"{where}: positive must be true or false, got {positive!r}", field="clicks")
        if not (0 <= x < width and 0 <= y < height):
            raise SegmentationError(
                f"{where} at ({x}, {y}) lies outside the {width}x{height} image "
                f"(x from 0 to {width - 1}, y from 0 to {height - 1})",
                field="clicks",
            )
        clicks.append(Click(x=x, y=y, positive=positive))
    if not clicks[0].positive:
        raise SegmentationError("the first click must be positive (on the defect)", field="clicks")
    return clicks


def check_previous_mask(value, *, width: int, height: int) -> np.ndarray | None:
    """A COCO RLE like the regions' (uncompressed counts or the compressed string) -> (H, W) bool.
    Unlike a region's mask, it may be empty: the previous answer can be."""
    if value is None:
        return None
    field = "previous_mask"
    if not isinstance(value, dict) or "size" not in value or "counts" not in value:
        raise SegmentationError('a COCO RLE object {"size": [height, width], "counts": [...]}', field=field)
    size = value["size"]
    if not (isinstance(size, list) and len(size) == 2 and all(_is_int(n) for n in size)):
        raise SegmentationError("size must be [height, width]", field=field)
    if size != [height, width]:
        raise SegmentationError(
            f"mask size {size[0]}x{size[1]} does not match the image ({height}x{width}, height x width)", field=field
        )
    counts = value["counts"]
    if isinstance(counts, str):
        try:
            counts = decode_compressed_counts(counts)
        except (IndexError, ValueError):
            raise SegmentationError("counts is not a valid compressed RLE string", field=field) from None
    if not (isinstance(counts, list) and all(_is_int(n) and n >= 0 for n in counts)):
        raise SegmentationError(
            "counts must be a list of non-negative integers (or a COCO compressed string)", field=field
        )
    if sum(counts) != height * width:
        raise SegmentationError(
            f"counts sum to {sum(counts)}, but a {height}x{width} mask has {height * width} pixels", field=field
        )
    return rle_to_mask({"size": size, "counts": counts})


def sample_asset_pixels(sample: Sample) -> np.ndarray:
    """(H, W, 3) uint8 RGB of the sample's stored asset."""
    try:
        with sample.asset.open("rb") as file:
            data = file.read()
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, ValueError) as error:
        raise SegmentationError(
            f"the stored image of sample {sample.pk} cannot be read ({error})", status=409
        ) from None


def segment_clicks(
    *,
    image: np.ndarray,
    backend: SegmentationBackend,
    clicks: list[Click],
    previous_mask: np.ndarray | None,
    box: Box | None = None,
) -> np.ndarray:
    if box is None:
        mask = backend.segment(image, clicks, previous_mask)
    else:
        mask = backend.segment(image, clicks, previous_mask, box=box)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != image.shape[:2]:
        raise RuntimeError(f"backend {backend.name} returned a {mask.shape} mask for a {image.shape[:2]} image")
    return mask


def segment_sample(*, sample: Sample, backend_name, clicks, previous_mask=None, box=None) -> SegmentationResult:
    """Check the request values against the sample's stored image and segment it. A box is for
    the backends that take one (`accepts_box`); with a box the clicks may be an empty list.

    Raises SegmentationError (400, naming the field) for bad input; `sample` must already have
    passed access_sample."""
    started = time.perf_counter()
    backend = check_backend(backend_name)
    image = sample_asset_pixels(sample)
    height, width = image.shape[:2]
    if box is not None and not getattr(backend, "accepts_box", False):
        boxed = sorted(name for name, b in known_backends().items() if getattr(b, "accepts_box", False))
        raise SegmentationError(
            f"backend {backend.name} takes no box; backends that do: {', '.join(boxed) or 'none registered'}",
            field="box",
        )
    checked_box = check_box(box, width=width, height=height)
    checked_clicks = check_clicks(clicks, width=width, height=height, allow_none=checked_box is not None)
    checked_mask = check_previous_mask(previous_mask, width=width, height=height)
    mask = segment_clicks(
        image=image, backend=backend, clicks=checked_clicks, previous_mask=checked_mask, box=checked_box
    )
    return SegmentationResult(mask=mask, backend=backend.name, elapsed_ms=(time.perf_counter() - started) * 1000)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
