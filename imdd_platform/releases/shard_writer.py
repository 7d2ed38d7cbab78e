"""Writing WebDataset shards (docs/webdataset-schema.md) byte for byte reproducibly.

Every tar header is fixed (mtime, owner, mode), members are written in a fixed order, and nothing
depends on the clock, so the same samples always give the same bytes and the same sha256: a re-run
of an export can tell a committed shard from a stale one by its checksum.
"""

import hashlib
import io
import tarfile
from dataclasses import dataclass

# 2000-01-01: any fixed time; tar readers warn about 0.
FIXED_MTIME = 946684800


@dataclass
class ShardMember:
    name: str  # e.g. "0000012345.json"
    data: bytes


class HashingWriter(io.RawIOBase):
    """A write-only file that hashes and counts what passes through to the real file."""

    def __init__(self, target):
        self.target = target
        self.sha256 = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.sha256.update(data)
        self.size += len(data)
        self.target.write(data)
        return len(data)


class ShardWriter:
    """Append samples to one tar; close() returns (sha256 hex, bytes written)."""

    def __init__(self, fileobj):
        self._out = HashingWriter(fileobj)
        self._tar = tarfile.open(fileobj=self._out, mode="w|", format=tarfile.USTAR_FORMAT)
        self.samples = 0

    def add_sample(self, members: list[ShardMember]) -> None:
        for member in members:
            info = tarfile.TarInfo(member.name)
            info.size = len(member.data)
            info.mtime = FIXED_MTIME
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            self._tar.addfile(info, io.BytesIO(member.data))
        self.samples += 1

    def close(self) -> tuple[str, int]:
        self._tar.close()
        return self._out.sha256.hexdigest(), self._out.size
