"""Which files of an export's folder (`<target>/<version>/`) are another export's.

Readers take in whole folders: Ultralytics every image under `images/<split>`, anomalib every file
of a product's folders, a glob over `v3-train-*.tar`. An export into a folder that already holds
another export's files of the same format (the same version exported with other shard sizes, or
marked include_restricted, or before a source was restricted) would leave them there to be read
with its own: a partner's images in a public YOLO dataset. Such a folder is refused, naming the
files. Files this export writes again (a re-run, the same export once more) are not in the way;
within one version a sample's files always have the same names, so a file is another export's
when its sample is not this export's, or its shard is not in this export's plan.
"""

import posixpath

from .models import Export, ExportFormat
from .shard_index import index_name

# the folders of the YOLO export (yolo_labels.py); the anomalib export's are its product folders
YOLO_FOLDERS = ("images", "labels", "boxes")
# a per-split file of a single-file format: prefix, suffix
SPLIT_FILES = {ExportFormat.COCO: ("coco-", ".json"), ExportFormat.QA: ("qa-", ".jsonl")}
KEY_DIGITS = 10  # sample_documents.sample_key


def _sample_id(file_name: str) -> int | None:
    """The sample a per-sample file is named for (`0000000042.png`, `0000000042_mask.png`), else None."""
    key, rest = file_name[:KEY_DIGITS], file_name[KEY_DIGITS:]
    return int(key) if key.isdigit() and rest[:1] in (".", "_") else None


def _is_formats_file(export: Export, relative: str) -> bool:
    """Whether a file (relative to the version's folder) is of a name the export's format writes."""
    parts = relative.split("/")
    if export.format == ExportFormat.WEBDATASET:
        return (
            len(parts) == 1
            and parts[0].startswith(f"{export.version.name}-")
            and parts[0].endswith((".tar", ".parquet"))
        )
    if export.format in SPLIT_FILES:
        prefix, suffix = SPLIT_FILES[export.format]
        return len(parts) == 1 and parts[0].startswith(prefix) and parts[0].endswith(suffix)
    if export.format == ExportFormat.YOLO:
        return len(parts) > 1 and parts[0] in YOLO_FOLDERS and _sample_id(parts[-1]) is not None
    if export.format == ExportFormat.ANOMALIB:
        return len(parts) > 1 and parts[0] not in YOLO_FOLDERS and _sample_id(parts[-1]) is not None
    return False  # captions.csv: one file, always the export's own name


def _is_own(export: Export, relative: str, own: dict) -> bool:
    """own: the export's shard files, splits and sample ids (other_exports_files)."""
    if export.format == ExportFormat.WEBDATASET:
        return relative in own["shard_files"]
    if export.format in SPLIT_FILES:
        prefix, suffix = SPLIT_FILES[export.format]
        return relative.removeprefix(prefix).removesuffix(suffix) in own["splits"]
    return _sample_id(posixpath.basename(relative)) in own["sample_ids"]


def other_exports_files(export: Export, target, items) -> list[str]:
    """The files, relative to the target, of the export's format in its folder that it would not
    write. `items`: the export's version items (sample_documents.export_items)."""
    folder = export.version.name
    candidates = [name for name in target.names(folder) if _is_formats_file(export, name.removeprefix(f"{folder}/"))]
    if not candidates:
        return []
    own = {
        "shard_files": {name for shard in export.shards.all() for name in (shard.name, index_name(shard.name))},
        "splits": set(items.values_list("split", flat=True).distinct()),
        "sample_ids": set(items.values_list("sample_id", flat=True)),
    }
    return sorted(name for name in candidates if not _is_own(export, name.removeprefix(f"{folder}/"), own))
