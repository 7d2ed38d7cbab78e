"""A sample's members in a WebDataset shard, schema version 2 (docs/webdataset-schema.md).

Every sample carries the same members, in the same order, so readers that infer their columns
from the first samples (Hugging Face `datasets`) read every row: the image under one member name
for the whole export, `mask.png` (all zeros where no region has a mask), `json`, and the three
caption files (empty where the json's caption is null).
"""

from functools import lru_cache

import numpy as np

from .mask_png import class_mask_png, png_grayscale
from .sample_documents import SampleRecord, sample_key
from .shard_writer import ShardMember

# The image member's name when an export's originals come in several formats: one name keeps one
# column; the original bytes are never re-encoded, and the json's image_format names each one's.
MIXED_IMAGE_MEMBER = "image"
CAPTION_MEMBERS = (("en", "txt"), ("zh", "zh.txt"), ("ja", "ja.txt"))


def image_member_for(formats: set[str]) -> str:
    """The image member of an export whose originals have these formats (extensions)."""
    if not formats:
        return "png"  # an export without samples: any name; no member is written
    return next(iter(formats)) if len(formats) == 1 else MIXED_IMAGE_MEMBER


@lru_cache(maxsize=32)
def empty_mask_png(width: int, height: int) -> bytes:
    """The all-background mask of an image of this size (the same bytes for every such sample)."""
    return png_grayscale(np.zeros((height, width + 1), dtype=np.uint8))


def sample_members(record: SampleRecord, image: bytes, document_json: bytes, image_member: str) -> list[ShardMember]:
    """The members of one sample in their fixed order: image, mask.png, json, txt, zh.txt, ja.txt."""
    key = sample_key(record.sample_id)
    document = record.document
    width, height = document["width"], document["height"]
    masked = [(r["rle"], r["class_index"]) for r in document["regions"] if r["rle"] and r["class_index"]]
    mask = class_mask_png(masked, width, height) if masked else empty_mask_png(width, height)
    members = [
        ShardMember(f"{key}.{image_member}", image),
        ShardMember(f"{key}.mask.png", mask),
        ShardMember(f"{key}.json", document_json),
    ]
    captions = document["captions"]
    for language, suffix in CAPTION_MEMBERS:
        members.append(ShardMember(f"{key}.{suffix}", (captions.get(language) or "").encode()))
    return members
