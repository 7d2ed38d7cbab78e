"""The anomalib export: a version in the MVTec AD folder layout, one folder per product, which
anomalib's `MVTecAD` and `Folder` datamodules (and most anomaly-detection code) read as it is:

    <version>/<product>/train/good/<key>.<ext>              defect-free samples of the train split
    <version>/<product>/test/good/<key>.<ext>               defect-free samples of val and test
    <version>/<product>/test/<defect type>/<key>.<ext>      every sample showing a defect, any split
    <version>/<product>/ground_truth/<defect type>/<key>_mask.png   0 = normal, 255 = defect
    <version>/anomalib.json                                 what went where, and the rules below

Anomaly detection trains on normal images only, so defective samples of every split are test
images. A sample showing several defect types goes under `combined` (as in MVTec AD). A region
with a box but no mask is painted as its box; a sample whose defect has no region at all gets an
empty mask, and anomalib.json counts both, and names the products without a normal image in
train/good (NEU-DET's, say, or a product whose normal images all fell in val and test), which
anomalib cannot train on. anomalib's MVTecAD reader globs PNG files only;
products of JPEG originals (kept as they are) read with its Folder datamodule. The product is the slug of the sample's product term
(`unspecified-product` without one).
"""

import hashlib
import json

import numpy as np

from catalog.rle import rle_to_mask

from .mask_png import png_grayscale
from .models import Export
from .read_ahead import read_ahead
from .sample_documents import SampleDocumentReader, document_defect_types, export_items, sample_key

NO_PRODUCT = "unspecified-product"
SEVERAL_DEFECTS = "combined"


def _put(target, name: str, body: bytes) -> None:
    target.write(name, lambda out: (out.write(body), (hashlib.sha256(body).hexdigest(), len(body)))[1])


def defect_types_of(document: dict) -> set[str]:
    """The defect types a sample shows; none for a good one, whose defect type field is empty or
    says "defect-free" (the term an annotator picks for a good sample)."""
    found = document_defect_types(document)
    if document["regions"] and not found:
        found.add("unlabelled-defect")  # a region whose raw label maps to no term is still a defect
    return found


def binary_mask_png(document: dict) -> tuple[bytes, str]:
    """The 0/255 mask of every region (box-only regions as their box), and how it was made:
    "masks", "boxes" (some region had only a box) or "empty" (no region at all)."""
    width, height = document["width"], document["height"]
    rows = np.zeros((height, width + 1), dtype=np.uint8)
    pixels = rows[:, 1:]
    made = "empty"
    for region in document["regions"]:
        if region["rle"]:
            pixels[rle_to_mask(region["rle"])] = 255
            made = "masks" if made == "empty" else made
        elif region["bbox"]:
            x, y, w, h = (round(v) for v in region["bbox"])
            pixels[max(y, 0) : y + h, max(x, 0) : x + w] = 255
            made = "boxes"
    return png_grayscale(rows), made


def anomalib_write(*, export: Export, target) -> None:
    folder = export.version.name
    reader = SampleDocumentReader(export, {c["slug"]: c["index"] for c in export.classes})
    counts: dict[str, dict[str, int]] = {}
    masks = {"masks": 0, "boxes": 0, "empty": 0}
    splits = sorted(set(export_items(export).values_list("split", flat=True)))
    for split in splits:
        for records, images in read_ahead(reader.batches(split=split)):
            for record, image in zip(records, images, strict=True):
                document = record.document
                products = document["terms"].get("product", [])
                product = products[0]["slug"] if products else NO_PRODUCT
                defects = defect_types_of(document)
                file_name = f"{sample_key(record.sample_id)}.{document['image_format']}"
                if not defects:
                    place = "train/good" if split == "train" else "test/good"
                else:
                    defect = next(iter(defects)) if len(defects) == 1 else SEVERAL_DEFECTS
                    place = f"test/{defect}"
                    mask, made = binary_mask_png(document)
                    masks[made] += 1
                    _put(
                        target,
                        f"{folder}/{product}/ground_truth/{defect}/{sample_key(record.sample_id)}_mask.png",
                        mask,
                    )
                _put(target, f"{folder}/{product}/{place}/{file_name}", image)
                per_product = counts.setdefault(product, {})
                per_product[place] = per_product.get(place, 0) + 1
    summary = {
        "layout": "MVTec AD",
        "dataset_version": folder,
        "rules": {
            "train/good": "defect-free samples of the train split",
            "test/good": "defect-free samples of the val and test splits",
            "test/<defect type>": "samples showing a defect, of every split",
            SEVERAL_DEFECTS: "samples showing several defect types",
            NO_PRODUCT: "samples without a product term",
        },
        "images": {product: dict(sorted(places.items())) for product, places in sorted(counts.items())},
        # anomaly detection trains on the normal images of train/good: these products have none
        # there (their normal images, if any, are all of val and test), so anomalib cannot train on them
        "products_without_normal_images": sorted(
            product for product, places in counts.items() if "train/good" not in places
        ),
        "defect_masks": {
            "from_masks": masks["masks"],
            "with_boxes_painted": masks["boxes"],
            "empty_no_region": masks["empty"],
        },
    }
    _put(target, f"{folder}/anomalib.json", json.dumps(summary, indent=1, sort_keys=True).encode())
