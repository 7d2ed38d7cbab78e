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
from .targets import ExportTargetError

# the folders of the YOLO export (yolo_labels.py); the anomalib export's are its product folders
YOLO_FOLDERS = ("images", "labels", "boxes")
# a per-split file of a single-file format: prefix, suffix
SPLIT_FILES = {ExportFormat.COCO: ("coco-", ".json"), ExportFormat.QA: ("qa-", ".jsonl")}
KEY_DIGITS = 10  # sample_documents.sample_key
# the formats that write files per sample, in subfolders; the others write files beside the manifest
PER_SAMPLE_FORMATS = (ExportFormat.YOLO, ExportFormat.ANOMALIB)


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


def refuse_other_exports_files(export: Export, target, items) -> None:
    """ExportTargetError naming the files of the export's format in its folder that another export
    wrote and this one would not. `items`: the export's version items (sample_documents.export_items).

    The formats of a file per sample are checked by their writer, on a worker: listing a million
    files (or S3 objects) has no place in the web request that asks for an export."""
    found = _other_exports_files(export, target, items)
    if found:
        shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
        raise ExportTargetError(
            f"{target} already holds {len(found)} file(s) of another {export.format} export of "
            f"{export.version.name} that this export would not write: {shown}. Remove them, or export to "
            "another folder"
        )


def _other_exports_files(export: Export, target, items) -> list[str]:
    folder = export.version.name
    names = target.names(folder, recursive=export.format in PER_SAMPLE_FORMATS)
    candidates = [name for name in names if _is_formats_file(export, name.removeprefix(f"{folder}/"))]
    if not candidates:
        return []
    own = {
        "shard_files": {name for shard in export.shards.all() for name in (shard.name, index_name(shard.name))},
        "splits": set(items.values_list("split", flat=True).distinct()),
        "sample_ids": set(items.values_list("sample_id", flat=True)),
    }
    return sorted(name for name in candidates if not _is_own(export, name.removeprefix(f"{folder}/"), own))
