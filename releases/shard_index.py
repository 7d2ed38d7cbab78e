"""The Parquet index of a shard: one row per sample, written beside the tar and listed in the
manifest, so statistics over a million samples read a few megabytes of columns instead of the
tars (`python -m modeling.core.shard_index stats EXPORT`). Columns: docs/webdataset-schema.md.

The file's bytes depend only on the rows (no timestamps; pyarrow writes its version in the footer),
so an export written twice with one pyarrow gives the same index files.
"""

import io

import pyarrow as pa
import pyarrow.parquet as pq

from .sample_documents import document_defect_types, sample_key

INDEX_SCHEMA = pa.schema(
    [
        ("key", pa.string()),  # the sample's key in the tar
        ("sample_id", pa.int64()),
        ("shard", pa.string()),  # the tar's name
        ("offset", pa.int64()),  # where the sample's first tar header starts in the shard
        ("length", pa.int64()),  # bytes of its members, headers and padding included
        ("split", pa.string()),
        ("source", pa.string()),
        ("source_kind", pa.string()),
        ("license", pa.string()),
        ("domain", pa.string()),
        ("product", pa.string()),  # slug of the first product term
        ("defect_types", pa.list_(pa.string())),  # sample_documents.document_defect_types, sorted
        ("regions", pa.int32()),
        ("masked_regions", pa.int32()),  # regions painted into mask.png
        ("caption_en_words", pa.int32()),  # null where the caption is absent
        ("caption_zh_chars", pa.int32()),
        ("caption_ja_chars", pa.int32()),
        ("sha256", pa.string()),  # of the original image
        ("image_format", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("is_synthetic", pa.bool_()),
    ]
)


def index_name(shard_name: str) -> str:
    """v3-train-000000.tar -> v3-train-000000.parquet"""
    return shard_name.removesuffix(".tar") + ".parquet"


class ShardIndex:
    """Gathers a shard's rows column by column while the shard is written."""

    def __init__(self, shard_name: str):
        self.shard_name = shard_name
        self.columns: dict[str, list] = {name: [] for name in INDEX_SCHEMA.names}

    def add(self, document: dict, offset: int, length: int) -> None:
        columns = self.columns
        source = document["source"]
        terms = document["terms"]
        captions = document["captions"]
        defect_types = document_defect_types(document)
        products = terms.get("product", [])
        english, chinese, japanese = captions.get("en"), captions.get("zh"), captions.get("ja")
        row = (
            sample_key(document["sample_id"]),
            document["sample_id"],
            self.shard_name,
            offset,
            length,
            document["split"],
            source["name"],
            source["kind"],
            source["license"],
            document["domain"],
            products[0]["slug"] if products else None,
            sorted(defect_types),
            len(document["regions"]),
            sum(1 for region in document["regions"] if region["class_index"]),
            None if english is None else len(english.split()),
            None if chinese is None else len(chinese),
            None if japanese is None else len(japanese),
            document["sha256"],
            document["image_format"],
            document["width"],
            document["height"],
            document["is_synthetic"],
        )
        for values, value in zip(columns.values(), row, strict=True):
            values.append(value)

    def parquet_bytes(self) -> bytes:
        table = pa.table(self.columns, schema=INDEX_SCHEMA)
        out = io.BytesIO()
        pq.write_table(table, out, compression="zstd", row_group_size=64 * 1024)
        return out.getvalue()
