"""Finding and opening the shards of an export (docs/webdataset-schema.md), on disk or on S3.

A shard spec is one of:
  - a manifest: ``/data/v3/manifest.json`` or ``s3://bucket/exports/v3/manifest.json``;
  - an export folder: ``/data/v3`` or ``s3://bucket/exports/v3/`` (its manifest.json is read);
  - shard URLs, comma-separated, with brace ranges: ``/data/v3/v3-train-{000000..000003}.tar``.
    Their folder's manifest.json must list them: a shard not in the manifest does not exist for readers.

S3 is read through boto3 (endpoint from ``AWS_S3_ENDPOINT_URL`` or ``AWS_ENDPOINT_URL``, as the
platform's storage settings name it); other schemes (``pipe:``, ``http:``) go to webdataset's gopen.
"""

from __future__ import annotations

import json
import os
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

from webdataset import gopen
from webdataset.shardlists import expand_urls

from modeling.core.errors import ShardError

SCHEMA_VERSIONS = (1, 2)  # 2: every sample has the same members (docs/webdataset-schema.md)
MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class ClassInfo:
    """One entry of the manifest's class list; ``index`` is its pixel value in mask.png."""

    index: int
    slug: str
    labels: dict[str, str]

    @property
    def name(self) -> str:
        """The English label, which prompts use (the slug where no English label exists)."""
        return self.labels.get("en") or self.slug


@dataclass
class ShardSource:
    """The shards to read, in manifest order, and the manifest's class list (index 0 = background)."""

    manifest_url: str
    urls: list[str]
    classes: list[ClassInfo]
    num_samples: int
    split: str | None = None
    manifest: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def defect_classes(self) -> list[ClassInfo]:
        """The classes a model predicts: every class but background."""
        return self.classes[1:]


def _s3_client():
    import boto3

    endpoint = os.environ.get("AWS_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL") or None
    region = os.environ.get("AWS_S3_REGION_NAME") or None
    return boto3.client("s3", endpoint_url=endpoint, region_name=region)


def _s3_bucket_key(url: str) -> tuple[str, str]:
    parsed = urlparse(url)
    return parsed.netloc, parsed.path.lstrip("/")


def _local_path(url: str) -> Path | None:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return Path(parsed.path)
    if parsed.scheme == "":
        return Path(url)
    return None


def open_url(url: str) -> IO[bytes]:
    """A binary stream for a local path, file://, s3:// or any scheme webdataset's gopen knows."""
    local = _local_path(url)
    try:
        if local is not None:
            return open(local, "rb")
        if url.startswith("s3://"):
            bucket, key = _s3_bucket_key(url)
            return _s3_client().get_object(Bucket=bucket, Key=key)["Body"]
        return gopen.gopen(url, "rb")
    except Exception as exc:  # every opener has its own error types; the caller needs the URL and reason
        raise ShardError(f"cannot open {url}: {_reason(exc)}") from exc


def check_reachable(url: str) -> None:
    """Raise ShardError unless the URL can be opened (a HEAD request on S3, a stat on disk)."""
    local = _local_path(url)
    if local is not None:
        if not local.is_file():
            raise ShardError(f"shard unreachable: {url} (no such file)")
        return
    if url.startswith("s3://"):
        bucket, key = _s3_bucket_key(url)
        try:
            _s3_client().head_object(Bucket=bucket, Key=key)
        except Exception as exc:
            raise ShardError(f"shard unreachable: {url} ({_reason(exc)})") from exc
        return
    stream = open_url(url)
    try:
        stream.read(1)
    finally:
        stream.close()


def _reason(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        error = response["Error"]
        return f"{error.get('Code', '')} {error.get('Message', '')}".strip()
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    return str(exc) or type(exc).__name__


def _join(base: str, name: str) -> str:
    if _local_path(base) is not None:
        return str(Path(base) / name)
    return posixpath.join(base.rstrip("/") + "/", name)


def _parent(url: str) -> str:
    if _local_path(url) is not None:
        return str(Path(url).parent)
    return url.rsplit("/", 1)[0]


def is_local(url: str) -> bool:
    """Whether the URL is a file on this machine (a path or file://), where seeking is free."""
    return _local_path(url) is not None


def beside(url: str, name: str) -> str:
    """The URL of the file `name` in the folder of `url` (a shard's index beside the manifest)."""
    return _join(_parent(url), name)


def read_manifest(url: str) -> dict[str, Any]:
    stream = open_url(url)
    try:
        manifest = json.loads(stream.read().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ShardError(f"manifest {url} is not valid JSON: {exc}") from None
    finally:
        stream.close()
    if not isinstance(manifest, dict):
        raise ShardError(f"manifest {url} is not a JSON object")
    if manifest.get("schema_version") not in SCHEMA_VERSIONS:
        raise ShardError(
            f"manifest {url} has schema_version {manifest.get('schema_version')!r}; "
            f"this reader knows {', '.join(map(str, SCHEMA_VERSIONS))}"
        )
    for key in ("classes", "shards"):
        if not isinstance(manifest.get(key), list):
            raise ShardError(f"manifest {url} has no {key!r} list")
    return manifest


def manifest_classes(manifest: dict[str, Any]) -> list[ClassInfo]:
    classes = sorted(manifest["classes"], key=lambda entry: entry["index"])
    if [entry["index"] for entry in classes] != list(range(len(classes))):
        raise ShardError("manifest classes must be indexed 0..N-1 without gaps")
    if not classes or classes[0]["slug"] != "background":
        raise ShardError("manifest class 0 must be 'background'")
    return [ClassInfo(index=e["index"], slug=e["slug"], labels=dict(e.get("labels") or {})) for e in classes]


def resolve_shards(spec: str | list[str], split: str | None = None) -> ShardSource:
    """Turn a shard spec (module docstring) into the shard URLs of one split and the class list.

    Args:
        spec: manifest URL, export folder, or shard URLs (a comma-separated string or a list).
        split: keep the shards of this split ("train", "val", "test"); None keeps all.
    """
    items = spec if isinstance(spec, list) else [part.strip() for part in spec.split(",") if part.strip()]
    if not items:
        raise ShardError("no shards given")
    explicit: list[str] = []
    for item in items:
        explicit.extend(expand_urls(item))
    first = explicit[0]
    if first.endswith(".json"):
        manifest_url, wanted = first, None
    elif first.endswith(".tar"):
        manifest_url, wanted = _join(_parent(first), MANIFEST_NAME), explicit
    else:  # an export folder
        manifest_url, wanted = _join(first, MANIFEST_NAME), None
    manifest = read_manifest(manifest_url)
    listed = {entry["name"]: entry for entry in manifest["shards"]}
    base = _parent(manifest_url)
    if wanted is None:
        entries = list(manifest["shards"])
    else:
        entries = []
        for url in wanted:
            name = url.rsplit("/", 1)[-1]
            if name not in listed or _parent(url) != base:
                raise ShardError(
                    f"shard {url} is not listed in {manifest_url}; a shard not in the manifest does not exist"
                )
            entries.append(listed[name])
    if split is not None:
        available = sorted({entry.get("split", "?") for entry in entries})
        entries = [entry for entry in entries if entry.get("split") == split]
        if not entries:
            raise ShardError(f"no shards of split {split!r} in {manifest_url}; splits there: {', '.join(available)}")
    return ShardSource(
        manifest_url=manifest_url,
        urls=[_join(base, entry["name"]) for entry in entries],
        classes=manifest_classes(manifest),
        num_samples=sum(int(entry.get("samples", 0)) for entry in entries),
        split=split,
        manifest=manifest,
    )
