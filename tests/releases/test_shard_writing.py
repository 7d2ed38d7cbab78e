"""The pieces a shard is written with: tar members, class masks, the writer thread."""

import gc
import hashlib
import io
import tarfile

import numpy as np
import pytest
from PIL import Image

from catalog.rle import mask_to_rle
from releases.export_writing import cyclic_gc_paused
from releases.mask_png import class_mask_png
from releases.shard_writer import ShardMember, ShardWriter

SAMPLES = [
    [
        ShardMember("0000000001.png", b"\x89PNG fake image"),
        ShardMember("0000000001.json", '{"caption": "缺陷"}'.encode()),
        ShardMember("0000000001.txt", b""),
    ],
    [ShardMember("0000000002.jpg", bytes(range(256)) * 5), ShardMember("0000000002.mask.png", b"m" * 512)],
]


def write(samples, fileobj=None) -> tuple[bytes, tuple[str, int]]:
    out = fileobj or io.BytesIO()
    with ShardWriter(out) as writer:
        for members in samples:
            writer.add_sample(members)
        digest = writer.close()
    return (out.getvalue() if fileobj is None else b""), digest


def test_shard_bytes_are_those_tarfile_wrote_for_the_same_members():
    # The digest was taken from the earlier writer, which used tarfile: shards keep their bytes.
    data, (sha256, size) = write(SAMPLES)

    assert sha256 == "7c17d93934df44f2bceedaef80db583e1e1442e2e840f1d11d7ee3d48d3f697e"
    assert size == len(data) == 10240 and hashlib.sha256(data).hexdigest() == sha256


def test_tarfile_reads_back_every_member_with_its_fixed_metadata():
    many = [[ShardMember(f"{i:010d}.json", bytes([i % 256]) * (i * 37))] for i in range(300)]  # several flushes
    data, (_, size) = write(many)

    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == [f"{i:010d}.json" for i in range(300)]
        assert all(m.mode == 0o644 and m.uid == 0 and m.mtime == 946684800 for m in members)
        assert tar.extractfile(members[299]).read() == bytes([299 % 256]) * (299 * 37)
    assert size % 10240 == 0


def test_a_member_name_longer_than_a_tar_header_holds_is_refused():
    writer = ShardWriter(io.BytesIO())
    with pytest.raises(ValueError, match="longer than 100 bytes"), writer:
        writer.add_sample([ShardMember("x" * 101, b"")])


class FullDisk(io.RawIOBase):
    def writable(self):
        return True

    def write(self, data):
        raise OSError(28, "No space left on device")


def test_an_error_of_the_writer_thread_is_raised_in_the_caller():
    with pytest.raises(OSError, match="No space left"):
        write([[ShardMember("0000000001.bin", b"x" * 2_000_000)]] * 3, FullDisk())


def test_a_class_mask_decodes_to_the_painted_classes_later_regions_on_top():
    first = np.zeros((40, 60), dtype=bool)
    first[5:20, 10:30] = True
    second = np.zeros((40, 60), dtype=bool)
    second[15:35, 25:50] = True

    png = class_mask_png([(mask_to_rle(first), 3), (mask_to_rle(second), 7)], 60, 40)

    decoded = Image.open(io.BytesIO(png))
    expected = np.zeros((40, 60), dtype=np.uint8)
    expected[first] = 3
    expected[second] = 7
    assert decoded.mode == "L" and decoded.size == (60, 40)
    assert (np.asarray(decoded) == expected).all()


def test_a_region_mask_of_another_size_than_the_image_is_refused():
    rle = mask_to_rle(np.ones((10, 10), dtype=bool))
    with pytest.raises(ValueError, match="a region's mask is 10x10, the image 20x10"):
        class_mask_png([(rle, 1)], 20, 10)


def test_the_cyclic_collector_is_paused_while_writing_and_left_as_it_was():
    assert gc.isenabled()
    with cyclic_gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with cyclic_gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
