"""Writing WebDataset shards (docs/webdataset-schema.md) byte for byte reproducibly.

Every tar header is fixed (mtime, owner, mode), members are written in a fixed order, and nothing
depends on the clock, so the same samples always give the same bytes and the same sha256: a re-run
of an export can tell a committed shard from a stale one by its checksum.

The headers are the USTAR headers Python's tarfile writes for such members (the tests hold the
bytes to a digest taken from tarfile), built here directly: tarfile spends about 20 µs a member
on a general TarInfo, which was the largest single cost of writing a shard of small samples.
Hashing and writing the finished bytes happen on a background thread, where they overlap with
building the next samples (hashlib and file writes release the GIL).
"""

import hashlib
import queue
import threading
from dataclasses import dataclass

# 2000-01-01: any fixed time; tar readers warn about 0.
FIXED_MTIME = 946684800
BLOCK = 512
RECORD = 20 * BLOCK  # tar files end on a whole record, as tarfile writes them
FLUSH_BYTES = 1 << 20  # bytes gathered before they go to the writer thread
PENDING_CHUNKS = 8  # at most this many chunks wait for the writer thread (bounded memory)

# The header fields after name and size, as tarfile writes them for a regular file (USTAR).
_MODE_OWNER = b"0000644\x00" + b"0000000\x00" + b"0000000\x00"  # mode 0o644, uid 0, gid 0
_MTIME = b"%011o\x00" % FIXED_MTIME
_CHECKSUM_PLACEHOLDER = b" " * 8
_AFTER_CHECKSUM = (
    b"0"  # regular file
    + b"\x00" * 100  # link name
    + b"ustar\x0000"  # magic and version
    + b"\x00" * 32  # owner name
    + b"\x00" * 32  # group name
    + b"\x00" * 16  # device numbers (unused for a regular file)
    + b"\x00" * 155  # name prefix
    + b"\x00" * 12  # padding to 512
)
# A header's checksum is the sum of its bytes with the checksum field read as spaces.
_FIXED_SUM = sum(_MODE_OWNER) + sum(_MTIME) + sum(_CHECKSUM_PLACEHOLDER) + sum(_AFTER_CHECKSUM)
_MAX_SIZE = 8**11 - 1  # what 11 octal digits hold: 8 GiB, far beyond any member


@dataclass
class ShardMember:
    name: str  # e.g. "0000012345.json"
    data: bytes


def member_header(name: str, size: int) -> bytes:
    """The 512-byte USTAR header of a regular file `name` of `size` bytes."""
    encoded = name.encode()
    if len(encoded) > 100:
        raise ValueError(f"tar member name longer than 100 bytes: {name!r}")
    if size > _MAX_SIZE:
        raise ValueError(f"tar member {name!r} is too large ({size} bytes)")
    size_field = b"%011o\x00" % size
    checksum = _FIXED_SUM + sum(encoded) + sum(size_field)
    return b"".join(
        (
            encoded.ljust(100, b"\x00"),
            _MODE_OWNER,
            size_field,
            _MTIME,
            b"%06o\x00 " % checksum,
            _AFTER_CHECKSUM,
        )
    )


class _HashingWriterThread:
    """Hashes and writes chunks to `target` on its own thread; close() returns (sha256, size).

    An error in the thread (a full disk) is raised in the caller on its next put() or close()."""

    def __init__(self, target):
        self._target = target
        self._sha256 = hashlib.sha256()
        self._size = 0
        self._error: BaseException | None = None
        self._chunks: queue.Queue = queue.Queue(maxsize=PENDING_CHUNKS)
        self._thread = threading.Thread(target=self._run, name="shard-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self._chunks.get()) is not None:
            if self._error is not None:
                continue  # drain, so that put() never blocks on a dead writer
            try:
                self._sha256.update(chunk)
                self._target.write(chunk)
                self._size += len(chunk)
            except BaseException as error:  # noqa: BLE001  (handed to the caller's thread)
                self._error = error

    def put(self, chunk: bytes | bytearray) -> None:
        self._raise_if_failed()
        self._chunks.put(chunk)

    def close(self) -> tuple[str, int]:
        self._chunks.put(None)
        self._thread.join()
        self._raise_if_failed()
        return self._sha256.hexdigest(), self._size

    def abandon(self) -> None:
        """Stop the thread after a failure elsewhere; what was written stays partial."""
        self._chunks.put(None)
        self._thread.join()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error


class ShardWriter:
    """Append samples to one tar; close() returns (sha256 hex, bytes written).

    Use it as a context manager, or call close() (or abandon() after an error) exactly once:
    a writer thread runs until then."""

    def __init__(self, fileobj):
        self._out = _HashingWriterThread(fileobj)
        self._buffer = bytearray()
        self._offset = 0
        self.samples = 0

    def add_sample(self, members: list[ShardMember]) -> tuple[int, int]:
        """Append a sample's members; returns (offset, length): where in the tar its first
        header starts and how many bytes its members take, headers and padding included."""
        buffer = self._buffer
        start = len(buffer)
        offset = self._offset + start
        for member in members:
            size = len(member.data)
            buffer += member_header(member.name, size)
            buffer += member.data
            if size % BLOCK:
                buffer += bytes(BLOCK - size % BLOCK)
        self.samples += 1
        length = len(buffer) - start
        if len(buffer) >= FLUSH_BYTES:
            self._flush()
        return offset, length

    def _flush(self) -> None:
        self._offset += len(self._buffer)
        self._out.put(self._buffer)  # handed over, not copied: a new buffer takes its place
        self._buffer = bytearray()

    def close(self) -> tuple[str, int]:
        # The end of the archive: two zero blocks, then zeros up to a whole record (as tarfile).
        end = len(self._buffer) + self._offset + 2 * BLOCK
        self._buffer += bytes(2 * BLOCK + (-end) % RECORD)
        self._flush()
        return self._out.close()

    def abandon(self) -> None:
        self._out.abandon()

    def __enter__(self):
        return self

    def __exit__(self, error_type, error, traceback):
        if error_type is not None:
            self.abandon()
