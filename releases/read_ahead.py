"""Reading a shard's original images ahead of the code that writes them.

While the caller builds and writes one batch, a small pool reads the next batch's images: on
object storage a read is a request of tens of milliseconds, so several run at once. The database
is read in the caller's thread: a loader thread of its own was measured to gain nothing, because a
query gives up the GIL for every row it steps and then waits for the busy writing thread to hand
it back (CPython's GIL passes between two busy threads only every switch interval, 5 ms).
"""

from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from django.core.files.storage import FileSystemStorage

from catalog.models import Sample

from .sample_documents import SampleRecord

IMAGE_READ_THREADS = 4


def read_ahead(batches: Iterable[list[SampleRecord]]) -> Iterator[tuple[list[SampleRecord], list[bytes]]]:
    """Each batch of records with their original images' bytes, in order; the next batch's
    images are being read while the caller handles this one."""
    storage = Sample._meta.get_field("original").storage
    with ThreadPoolExecutor(max_workers=IMAGE_READ_THREADS, thread_name_prefix="export-read") as pool:
        pending = None
        for records in batches:
            reading = _submit_reads(pool, storage, records)
            if pending is not None:
                yield pending[0], _gathered(*pending)
            pending = (records, reading)
        if pending is not None:
            yield pending[0], _gathered(*pending)


def _submit_reads(pool: ThreadPoolExecutor, storage, records: list[SampleRecord]) -> list[Future]:
    """The names split round-robin over the pool's threads: one task per thread, not per file."""
    names = [record.original for record in records]
    return [pool.submit(_read_files, storage, names[i::IMAGE_READ_THREADS]) for i in range(IMAGE_READ_THREADS)]


def _gathered(records: list[SampleRecord], reading: list[Future]) -> list[bytes]:
    images: list[bytes] = [b""] * len(records)
    for part, future in enumerate(reading):
        images[part :: len(reading)] = future.result()
    return images


def _read_files(storage, names: list[str]) -> list[bytes]:
    if isinstance(storage, FileSystemStorage):
        # Plain files, without a storage File object around each: a third of the CPU time.
        return [_read_file(storage.path(name)) for name in names]
    contents = []
    for name in names:
        with storage.open(name, "rb") as stored:
            contents.append(stored.read())
    return contents


def _read_file(path: str) -> bytes:
    with open(path, "rb") as stored:
        return stored.read()
