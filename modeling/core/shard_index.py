"""Statistics of an export from its Parquet index files alone (schema 2; docs/webdataset-schema.md):
a million-sample export is summarised from a few megabytes of columns, without opening a tar.

    python -m modeling.core.shard_index stats /data/v3            # or .../manifest.json, or s3://...
    python -m modeling.core.shard_index stats /data/v3 --json     # the same figures as JSON
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from modeling.core.errors import ShardError
from modeling.core.shards import ShardSource, beside, open_url, resolve_shards

TOP = 20


def read_index(spec: str) -> pa.Table:
    """Every row of the export's Parquet index files, in manifest order."""
    source = resolve_shards(spec)
    tables = index_tables(source)
    if not tables:
        raise ShardError(f"{source.manifest_url} lists no shards")
    return pa.concat_tables(tables)


def index_tables(source: ShardSource, columns: list[str] | None = None) -> list[pa.Table]:
    """The Parquet index of each of the source's shards, in the source's order (these columns, or
    all). ShardError naming a shard the manifest lists no index for (schema 1 exports have none)."""
    entries = {entry["name"]: entry for entry in source.manifest["shards"]}
    tables = []
    for url in source.urls:
        name = url.rsplit("/", 1)[-1]
        index = entries[name].get("index")
        if not index:
            raise ShardError(f"{source.manifest_url} lists no Parquet index for {name} (schema 1 exports have none)")
        with open_url(beside(source.manifest_url, index["name"])) as stream:
            tables.append(pq.read_table(pa.BufferReader(stream.read()), columns=columns))
    return tables


def _counts(column: pa.ChunkedArray, top: int | None = TOP) -> dict[str, int]:
    counted = pc.value_counts(column.fill_null("(none)")).to_pylist()
    ordered = sorted(((row["values"], row["counts"]) for row in counted), key=lambda item: (-item[1], str(item[0])))
    return {str(value): count for value, count in ordered[:top]}


def _length_summary(column: pa.ChunkedArray) -> dict[str, Any]:
    present = pc.drop_null(column)
    if len(present) == 0:
        return {"captions": 0}
    quantiles = pc.quantile(present, q=[0.5, 0.9], interpolation="nearest").to_pylist()
    return {
        "captions": len(present),
        "mean": round(pc.mean(present).as_py(), 2),
        "median": quantiles[0],
        "p90": quantiles[1],
        "max": pc.max(present).as_py(),
    }


def index_statistics(table: pa.Table) -> dict[str, Any]:
    samples = table.num_rows
    defect_types = Counter(pc.list_flatten(table["defect_types"]).to_pylist())
    defect_free = samples - pc.sum(pc.greater(pc.list_value_length(table["defect_types"]), 0)).as_py()
    regions = Counter(min(count, 5) for count in table["regions"].to_pylist())
    synthetic = pc.sum(table["is_synthetic"]).as_py() or 0
    return {
        "samples": samples,
        "shards": len(pc.unique(table["shard"])),
        "per_split": _counts(table["split"], None),
        "per_source": _counts(table["source"], None),
        "per_license": _counts(table["license"], None),
        "per_domain": _counts(table["domain"]),
        "per_product": _counts(table["product"]),
        "per_defect_type": dict(sorted(defect_types.items(), key=lambda item: (-item[1], item[0]))[:TOP]),
        "defect_free": defect_free,
        "regions_per_sample": {(f"{k}+" if k == 5 else str(k)): v for k, v in sorted(regions.items())},
        "caption_en_words": _length_summary(table["caption_en_words"]),
        "caption_zh_chars": _length_summary(table["caption_zh_chars"]),
        "caption_ja_chars": _length_summary(table["caption_ja_chars"]),
        "image_formats": _counts(table["image_format"], None),
        "synthetic": synthetic,
        "synthetic_share": round(synthetic / samples, 4) if samples else 0.0,
    }


def _print(statistics: dict[str, Any], out) -> None:
    for key, value in statistics.items():
        if isinstance(value, dict):
            out.write(f"{key}:\n")
            for name, figure in value.items():
                out.write(f"  {name}: {figure}\n")
        else:
            out.write(f"{key}: {value}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modeling.core.shard_index", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    stats = commands.add_parser("stats", help="summarise an export from its Parquet index files")
    stats.add_argument("export", help="export folder, manifest.json, or its s3:// URL")
    stats.add_argument("--json", action="store_true", help="print JSON")
    arguments = parser.parse_args(argv)
    try:
        statistics = index_statistics(read_index(arguments.export))
    except ShardError as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    if arguments.json:
        sys.stdout.write(json.dumps(statistics, ensure_ascii=False, indent=1) + "\n")
    else:
        _print(statistics, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
