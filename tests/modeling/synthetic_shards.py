"""Write a small export in the exact shard schema (docs/webdataset-schema.md) with separable data.

Each defect class is a colour; a sample is a grey, slightly noisy plate with one or more filled
squares or discs of its class's colour. mask.png holds the class indices, the JSON the regions
(bbox and uncompressed column-major RLE), the captions name the class. The platform's exporter
writes the same format; this helper only exists so the torch core can be tested without it.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import webdataset as wds
from PIL import Image


@dataclass(frozen=True)
class SyntheticClass:
    slug: str
    en: str
    colour: tuple[int, int, int]


CLASSES = (
    SyntheticClass("def-red-scratch", "red scratch", (220, 30, 30)),
    SyntheticClass("def-green-dent", "green dent", (30, 200, 40)),
    SyntheticClass("def-blue-crack", "blue crack", (40, 60, 230)),
    SyntheticClass("def-yellow-stain", "yellow stain", (230, 210, 30)),
)


def rle_encode(binary: np.ndarray) -> dict:
    """COCO uncompressed RLE: run lengths over the column-major flattening, starting with zeros."""
    flat = binary.flatten(order="F").astype(np.uint8)
    counts, current, run = [], 0, 0
    for value in flat:
        if value != current:
            counts.append(run)
            current, run = value, 0
        run += 1
    counts.append(run)
    return {"size": [int(binary.shape[0]), int(binary.shape[1])], "counts": counts}


def _term(cls: SyntheticClass) -> dict:
    return {"slug": cls.slug, "labels": {"en": cls.en, "zh": cls.en + " (zh)", "ja": cls.en + " (ja)"}}


def make_sample(
    sample_id: int, classes: list[int], rng: np.random.Generator, size: int, split: str, image_format: str = "png"
) -> dict:
    """One sample's tar members. classes: manifest indices (>= 1) of the shapes to draw, one shape each;
    image_format: "png" or "jpg" (quality 92, as the platform's 512 px assets)."""
    image = rng.normal(128, 6, (size, size, 3))
    mask = np.zeros((size, size), dtype=np.uint8)
    regions = []
    yy, xx = np.mgrid[0:size, 0:size]
    for index in classes:
        cls = CLASSES[index - 1]
        side = int(rng.integers(size // 5, size // 3))
        x0, y0 = (int(v) for v in rng.integers(0, size - side, 2))
        if rng.random() < 0.5:
            shape = (xx >= x0) & (xx < x0 + side) & (yy >= y0) & (yy < y0 + side)
        else:
            r = side / 2
            shape = (xx - x0 - r + 0.5) ** 2 + (yy - y0 - r + 0.5) ** 2 <= r * r
        image[shape] = np.array(cls.colour) + rng.normal(0, 6, (int(shape.sum()), 3))
        mask[shape] = index
    for index in classes:  # regions as the mask finally shows them (later shapes cover earlier ones)
        cls = CLASSES[index - 1]
        visible = mask == index
        if not visible.any():
            continue
        ys, xs = np.nonzero(visible)
        bbox = [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]
        regions.append({"class_index": index, "term": _term(cls), "bbox": bbox, "rle": rle_encode(visible)})
    names = " and a ".join(CLASSES[i - 1].en for i in classes)
    caption = f"a {names} on a grey steel plate"
    encoded = io.BytesIO()
    pil_image = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))
    if image_format == "jpg":
        pil_image.save(encoded, format="JPEG", quality=92)
    else:
        pil_image.save(encoded, format="PNG")
    mask_png = io.BytesIO()
    Image.fromarray(mask, mode="L").save(mask_png, format="PNG")
    image_bytes = encoded.getvalue()
    annotation = {
        "schema_version": 1,
        "sample_id": sample_id,
        "annotation_revision": 1,
        "sha256": hashlib.sha256(image_bytes).hexdigest(),
        "width": size,
        "height": size,
        "split": split,
        "source": {"name": "synthetic", "kind": "synthetic", "license": "CC0"},
        "is_synthetic": True,
        "terms": {
            "product": [{"slug": "prod-steel-plate", "labels": {"en": "steel plate"}}],
            "defect_type": [_term(CLASSES[classes[0] - 1])],
        },
        "regions": regions,
        "captions": {"en": caption, "zh": caption + " (zh)", "ja": caption + " (ja)"},
        "qa": [],
    }
    return {
        "__key__": f"{sample_id:010d}",
        image_format: image_bytes,
        "mask.png": mask_png.getvalue(),
        "json": json.dumps(annotation).encode(),
        "txt": caption.encode(),
        "zh.txt": annotation["captions"]["zh"].encode(),
        "ja.txt": annotation["captions"]["ja"].encode(),
    }


def write_export(
    root: Path,
    *,
    version: str = "v1",
    splits: dict[str, int] | None = None,
    split_classes: dict[str, list[int]] | None = None,
    shard_size: int = 16,
    image_size: int = 72,
    max_shapes: int = 1,
    image_format: str = "png",
    seed: int = 0,
    with_index: bool = False,
) -> Path:
    """Write ``root/version/{version}-{split}-{i:06d}.tar`` shards and the manifest; return the manifest path.

    Args:
        splits: samples per split (default: 32 train, 12 test, 8 open).
        split_classes: the manifest indices each split draws from (default: 1-3 for train and test,
            4, the held-out "yellow stain", for the open split).
        with_index: write each shard's Parquet index of sample locations (key, offset, length), as
            schema-2 exports have it.
    """
    splits = splits or {"train": 32, "test": 12, "open": 8}
    split_classes = split_classes or {"train": [1, 2, 3], "test": [1, 2, 3], "open": [4]}
    folder = Path(root) / version
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    shards, sample_id = [], 0
    for split, count in splits.items():
        pool = split_classes.get(split, [1, 2, 3])
        for shard_index, start in enumerate(range(0, count, shard_size)):
            name = f"{version}-{split}-{shard_index:06d}.tar"
            samples = min(shard_size, count - start)
            with wds.TarWriter(str(folder / name)) as writer:
                for _ in range(samples):
                    sample_id += 1
                    shapes = int(rng.integers(1, max_shapes + 1))
                    classes = [int(c) for c in rng.choice(pool, size=shapes, replace=shapes > len(pool))]
                    writer.write(make_sample(sample_id, classes, rng, image_size, split, image_format))
            data = (folder / name).read_bytes()
            entry = {"name": name, "split": split, "samples": samples, "bytes": len(data)}
            entry["sha256"] = hashlib.sha256(data).hexdigest()
            if with_index:
                entry["index"] = {"name": write_location_index(folder / name)}
            shards.append(entry)
    manifest = {
        "schema_version": 1,
        "dataset_version": {"name": version, "number": int(version.lstrip("v") or 1), "title": "synthetic"},
        "vocabulary_version": 1,
        "classes": [{"index": 0, "slug": "background", "labels": {"en": "background"}}]
        + [{"index": i + 1, "slug": c.slug, "labels": _term(c)["labels"]} for i, c in enumerate(CLASSES)],
        "splits": dict(splits),
        "shards": shards,
    }
    manifest_path = folder / "manifest.json"
    manifest_path.write_text(json.dumps(manifest, indent=2))
    return manifest_path


def write_location_index(shard: Path) -> str:
    """Write the shard's Parquet index of where each sample's members lie (the first header's
    offset and the bytes up to the end of its last member's padded data); returns its file name."""
    import tarfile

    import pyarrow as pa
    import pyarrow.parquet as pq

    rows: dict[str, list[int]] = {}  # key -> [offset, end]
    with tarfile.open(shard) as tar:
        for member in tar:
            key = member.name.split(".", 1)[0]
            end = member.offset_data + -(-member.size // 512) * 512
            rows.setdefault(key, [member.offset, end])[1] = end
    table = pa.table(
        {
            "key": list(rows),
            "offset": [offset for offset, _ in rows.values()],
            "length": [end - offset for offset, end in rows.values()],
        }
    )
    name = shard.with_suffix(".parquet").name
    pq.write_table(table, shard.with_name(name))
    return name
