"""Reading a split's samples in any order: where each sample lies in its shard, from the export's
Parquet index (schema 2: `offset` and `length` of its tar members; docs/webdataset-schema.md).

Why: an export writes its samples in sample-id order, which is import order, so a shard holds one
source's classes one after another (the real subsets: MVTec's bottles, then Magnetic Tile class by
class, then NEU-DET class by class). Streamed through a shuffle buffer, a training batch then comes
from a window of a few neighbouring classes, not from the split: on the real subsets (batches of 8,
buffer 64), 19% of an image's batch-mates had its caption's terms and a batch held 4.6 distinct term
sets; read by location, 7% and 6.4, as drawn at random. Every epoch is a permutation of the split.

Only local shards are read this way (a seek is free there; on S3 it would be a request a sample).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from webdataset.tariterators import group_by_keys, tar_file_expander

from modeling.core.errors import ShardError
from modeling.core.shard_index import index_tables
from modeling.core.shards import ShardSource, is_local, open_url


@dataclass
class SampleLocations:
    """Where each sample of a source lies: row i is key[i], at offset[i] for length[i] bytes in
    urls[shard[i]]. Columns, not objects: a million samples take about 30 MB."""

    urls: list[str]
    shard: np.ndarray  # int32
    offset: np.ndarray  # int64
    length: np.ndarray  # int64
    key: pa.Array

    def __len__(self) -> int:
        return len(self.offset)

    def only(self, keys: set[str]) -> SampleLocations:
        """The rows of these keys (few-shot selection, held-out classes)."""
        keep = np.array([key in keys for key in self.key.to_pylist()], dtype=bool)
        return SampleLocations(self.urls, self.shard[keep], self.offset[keep], self.length[keep], self.key.filter(keep))

    def read(self, rows: Iterable[int]) -> Iterator[dict[str, Any]]:
        """The raw samples of these rows, in this order, as iterate_raw_samples gives them."""
        files: dict[int, Any] = {}
        try:
            for row in rows:
                shard = int(self.shard[row])
                if shard not in files:
                    files[shard] = open_url(self.urls[shard])
                stream = files[shard]
                stream.seek(int(self.offset[row]))
                members = io.BytesIO(stream.read(int(self.length[row])))
                samples = list(group_by_keys(tar_file_expander([{"url": self.urls[shard], "stream": members}])))
                expected = self.key[row].as_py()
                if len(samples) != 1 or samples[0]["__key__"] != expected:
                    found = ", ".join(sample["__key__"] for sample in samples) or "nothing"
                    raise ShardError(
                        f"{self.urls[shard]}: its index places sample {expected} at byte {int(self.offset[row])}, "
                        f"where the shard holds {found}; the index does not belong to this shard"
                    )
                yield samples[0]
        finally:
            for stream in files.values():
                stream.close()


def sample_locations(source: ShardSource) -> SampleLocations | None:
    """Where the source's samples lie, or None where they can only be streamed: shards not on a
    local disk, or an export without a Parquet index (schema 1)."""
    if not source.urls or not all(map(is_local, source.urls)):
        return None
    try:
        indexes = index_tables(source, columns=["key", "offset", "length"])
    except ShardError:  # a shard without an index: streamed
        return None
    table = pa.concat_tables(
        index.append_column("shard", pa.array(np.full(index.num_rows, number, dtype=np.int32)))
        for number, index in enumerate(indexes)
    )
    return SampleLocations(
        urls=list(source.urls),
        shard=table["shard"].to_numpy(),
        offset=table["offset"].to_numpy(),
        length=table["length"].to_numpy(),
        key=table["key"].combine_chunks(),
    )
