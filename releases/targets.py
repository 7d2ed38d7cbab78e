"""Where exports go: a local directory or an S3 bucket (any S3-compatible endpoint), with atomic
commits, so a reader never sees a partial shard.

Local: a shard is written under a temporary name in the same directory and renamed into place
(os.replace is atomic) once complete. The writer holds an exclusive lock (flock) on its temporary
file while it writes, so a resume, which clears what killed writers left behind, passes over the
files of writers that are still alive (the kernel drops a dead process's locks). S3: a shard is written to a local spool file, then uploaded
as a multipart upload, which S3 keeps invisible until CompleteMultipartUpload (its commit); the
object carries its sha256 as metadata. Either way, `committed_sha256` tells a re-run which shards
are already done.
"""

import contextlib
import fcntl
import hashlib
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

CHUNK = 1024 * 1024


class ExportTargetError(ValueError):
    """The target cannot be used; the message says why."""


class LocalTarget:
    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ExportTargetError(f"cannot create {self.directory}: {error.strerror}") from None

    def __str__(self) -> str:
        return str(self.directory)

    def write(self, name: str, produce: Callable) -> tuple[str, int]:
        """produce(fileobj) writes the content and returns (sha256, size); committed atomically."""
        final = self.directory / name
        final.parent.mkdir(parents=True, exist_ok=True)
        out, temporary = self._locked_partial(final)
        try:
            with out:
                sha256, size = produce(out)
                out.flush()
                os.fsync(out.fileno())
                os.replace(temporary, final)  # still holding the lock: nobody clears it meanwhile
        finally:
            temporary.unlink(missing_ok=True)
        return sha256, size

    @staticmethod
    def _locked_partial(final: Path):
        """A new temporary file beside `final`, open and locked by this writer.

        remove_partials may delete a file between its creation and our lock (it locks it first);
        then the name no longer leads to our file and we start over with another name."""
        while True:
            temporary = final.parent / f".{final.name}.{uuid.uuid4().hex}.partial"
            out = open(temporary, "xb")  # noqa: SIM115  (closed by write())
            fcntl.flock(out.fileno(), fcntl.LOCK_EX)
            try:
                if os.stat(temporary).st_ino == os.fstat(out.fileno()).st_ino:
                    return out, temporary
            except FileNotFoundError:
                pass
            out.close()

    def remove_partials(self, folder: str) -> int:
        """Delete temporary files that killed writers left behind (never visible under a shard's
        name), in the folder and below it (the YOLO and anomalib exports write into subfolders);
        a file whose writer is alive is locked, and kept."""
        removed = 0
        for partial in (self.directory / folder).rglob(".*.partial"):
            try:
                stale = open(partial, "rb")  # noqa: SIM115
            except FileNotFoundError:
                continue  # committed or cleared meanwhile
            with stale:
                try:
                    fcntl.flock(stale.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live writer's
                with contextlib.suppress(FileNotFoundError):
                    partial.unlink()
                    removed += 1
        return removed

    def names(self, folder: str, *, recursive: bool = True) -> Iterator[str]:
        """The committed files under `folder` (or, not recursive, in it), as names relative to the
        target (temporary files of writers left out)."""
        root = self.directory / folder
        if not root.is_dir():
            return
        for path in root.rglob("*") if recursive else root.iterdir():
            if path.is_file() and not path.name.endswith(".partial"):
                yield path.relative_to(self.directory).as_posix()

    def committed_sha256(self, name: str) -> str | None:
        path = self.directory / name
        if not path.is_file():
            return None
        digest = hashlib.sha256()
        with open(path, "rb") as stored:
            while chunk := stored.read(CHUNK):
                digest.update(chunk)
        return digest.hexdigest()

    def read(self, name: str) -> bytes:
        return (self.directory / name).read_bytes()

    def url(self, name: str) -> str:
        return str(self.directory / name)


class S3Target:
    def __init__(self, bucket: str, prefix: str, *, client=None):
        import boto3
        from django.conf import settings

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client or boto3.client(
            "s3",
            endpoint_url=getattr(settings, "AWS_S3_ENDPOINT_URL", None) or os.environ.get("AWS_S3_ENDPOINT_URL"),
            region_name=getattr(settings, "AWS_S3_REGION_NAME", None) or "us-east-1",
            aws_access_key_id=getattr(settings, "AWS_ACCESS_KEY_ID", None) or os.environ.get("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=getattr(settings, "AWS_SECRET_ACCESS_KEY", None)
            or os.environ.get("AWS_SECRET_ACCESS_KEY"),
        )

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def write(self, name: str, produce: Callable) -> tuple[str, int]:
        from boto3.s3.transfer import TransferConfig

        with tempfile.TemporaryFile(prefix="imdd-shard-") as spool:
            sha256, size = produce(spool)
            spool.seek(0)
            self.client.upload_fileobj(
                spool,
                self.bucket,
                self._key(name),
                ExtraArgs={"Metadata": {"sha256": sha256}},
                Config=TransferConfig(multipart_threshold=64 * CHUNK, multipart_chunksize=64 * CHUNK),
            )
        return sha256, size

    def names(self, folder: str, *, recursive: bool = True) -> Iterator[str]:
        """The objects under `folder` (or, not recursive, in it), as names relative to the target's
        prefix (a multipart upload is not an object until it completes)."""
        start = len(self._key("")) if self.prefix else 0
        listing = {"Bucket": self.bucket, "Prefix": self._key(folder.strip("/") + "/")}
        if not recursive:
            listing["Delimiter"] = "/"
        pages = self.client.get_paginator("list_objects_v2").paginate(**listing)
        for page in pages:
            for entry in page.get("Contents", []):
                yield entry["Key"][start:]

    def committed_sha256(self, name: str) -> str | None:
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(name))
        except ClientError:
            return None
        return head.get("Metadata", {}).get("sha256")

    def remove_partials(self, folder: str) -> int:
        """Abort multipart uploads a killed writer left open (their parts are never an object).

        S3 cannot tell a live upload from a dead one, so only uploads begun more than
        EXPORT_UPLOAD_STALE_SECONDS ago are aborted: an upload still running is left alone."""
        from django.conf import settings

        oldest = datetime.now(UTC) - timedelta(seconds=settings.EXPORT_UPLOAD_STALE_SECONDS)
        prefix = self._key(folder)
        uploads = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=prefix).get("Uploads", [])
        stale = [upload for upload in uploads if upload["Initiated"] < oldest]
        for upload in stale:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        return len(stale)

    def read(self, name: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._key(name))["Body"].read()

    def url(self, name: str) -> str:
        return f"s3://{self.bucket}/{self._key(name)}"


def confined_location(location: str) -> str:
    """The export location a person may ask for, normalised, or ExportTargetError naming the roots.

    Local: a folder under one of EXPORT_ROOTS (a relative path is taken under the first root;
    `..` and symlinks are resolved before the check, so neither escapes). S3: a bucket and prefix
    under one of EXPORT_S3_LOCATIONS. Nothing is created by the check: the web process must not
    make folders anywhere a request names."""
    from django.conf import settings

    if location.startswith("s3://"):
        parsed = urlparse(location)
        key = parsed.path.strip("/")
        if not parsed.netloc or any(part in ("..", ".") for part in key.split("/")):
            raise ExportTargetError(f"{location} is not a plain s3://bucket/prefix")
        for allowed in settings.EXPORT_S3_LOCATIONS:
            allowed_parsed = urlparse(allowed)
            allowed_key = allowed_parsed.path.strip("/")
            if parsed.netloc == allowed_parsed.netloc and (
                not allowed_key or key == allowed_key or key.startswith(allowed_key + "/")
            ):
                return f"s3://{parsed.netloc}/{key}"
        allowed_list = ", ".join(settings.EXPORT_S3_LOCATIONS) or "none configured (EXPORT_S3_LOCATIONS)"
        raise ExportTargetError(f"{location} is not under an allowed S3 location ({allowed_list})")
    if "://" in location:
        raise ExportTargetError(f"unsupported export target {location}: use a directory or s3://bucket/prefix")
    roots = [Path(root).resolve() for root in settings.EXPORT_ROOTS]
    if not roots:
        raise ExportTargetError("no export root is configured (EXPORT_ROOTS)")
    path = Path(location).expanduser()
    resolved = (path if path.is_absolute() else roots[0] / path).resolve()
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        raise ExportTargetError(f"{location} is not under an export root ({', '.join(map(str, roots))})")
    return str(resolved)


def target_for(location: str):
    """A target from a local path or an s3://bucket/prefix URL."""
    if location.startswith("s3://"):
        parsed = urlparse(location)
        if not parsed.netloc:
            raise ExportTargetError(f"{location} names no bucket (use s3://bucket/prefix)")
        return S3Target(parsed.netloc, parsed.path)
    if "://" in location:
        raise ExportTargetError(f"unsupported export target {location}: use a directory or s3://bucket/prefix")
    return LocalTarget(location)
