import itertools
import json
from pathlib import Path

import boto3
import numpy as np
import pytest
import torch
from moto import mock_aws

from modeling.core.config import DataConfig
from modeling.core.dataset import Augmentation, ShardDataset, decode_sample, iterate_raw_samples, select_few_shot
from modeling.core.errors import ShardError
from modeling.core.shard_locations import sample_locations
from modeling.core.shards import ShardSource, check_reachable, resolve_shards
from tests.modeling.synthetic_shards import CLASSES, write_export


def test_a_manifest_selects_the_shards_of_a_split_and_the_class_list(export):
    source = resolve_shards(str(export), "train")
    assert [Path(u).name for u in source.urls] == ["v1-train-000000.tar", "v1-train-000001.tar"]
    assert source.num_samples == 32
    assert [c.slug for c in source.classes] == ["background"] + [c.slug for c in CLASSES]
    assert [c.name for c in source.defect_classes] == [c.en for c in CLASSES]
    assert resolve_shards(str(export.parent), "open").num_samples == 8  # the export folder works too


def test_samples_decode_per_schema_masks_classes_and_boxes(export):
    source = resolve_shards(str(export), "test")
    raw = next(iterate_raw_samples(source.urls))
    annotation = json.loads(raw["json"])
    sample = decode_sample(raw, source.classes, image_size=72)  # the stored size: no resampling
    mask = sample["mask"].numpy()
    for region in annotation["regions"]:
        x, y, w, h = region["bbox"]
        inside = mask[y : y + h, x : x + w]
        assert (inside == region["class_index"]).any()
        # the region's pixels have the class's colour: mask.png and image agree
        colour = np.array(CLASSES[region["class_index"] - 1].colour)
        pixels = (sample["pixel_values"].permute(1, 2, 0).numpy() + 1) * 127.5
        assert np.abs(pixels[mask == region["class_index"]].mean(0) - colour).max() < 20
    assert sorted(sample["target_labels"].tolist()) == sorted(set(sample["box_labels"].tolist()))
    assert sample["target_masks"].shape[1:] == (72, 72)
    assert sample["caption"] == annotation["captions"]["en"]
    assert sample["pixel_values"].min() >= -1 and sample["pixel_values"].max() <= 1


def test_augmentation_moves_image_and_mask_together(export):
    source = resolve_shards(str(export), "train")
    raw = next(iterate_raw_samples(source.urls))
    import random

    for seed in range(4):
        sample = decode_sample(
            raw, source.classes, image_size=64, augmentation=Augmentation(min_scale=0.6), rng=random.Random(seed)
        )
        pixels = (sample["pixel_values"].permute(1, 2, 0).numpy() + 1) * 127.5
        defect = sample["mask"].numpy() > 0
        grey = np.abs(pixels - 128).max(-1) < 40
        assert (grey[~defect]).mean() > 0.9 and (~grey[defect]).mean() > 0.8


def test_explicit_shard_urls_must_be_listed_in_the_manifest(export, tmp_path):
    folder = export.parent
    urls = f"{folder}/v1-train-{{000000..000001}}.tar"
    assert len(resolve_shards(urls).urls) == 2
    stray = folder / "v1-train-000009.tar"
    stray.write_bytes(b"")
    try:
        with pytest.raises(ShardError, match="not listed"):
            resolve_shards(str(stray))
    finally:
        stray.unlink()


def test_an_unknown_split_and_a_missing_manifest_are_clear_errors(export, tmp_path):
    with pytest.raises(ShardError, match="no shards of split 'val'.*splits there: open, test, train"):
        resolve_shards(str(export), "val")
    with pytest.raises(ShardError, match="cannot open .*nowhere/manifest.json"):
        resolve_shards(str(tmp_path / "nowhere"))
    with pytest.raises(ShardError, match="shard unreachable"):
        check_reachable(str(tmp_path / "missing.tar"))


def test_few_shot_selection_keeps_n_samples_per_class(export):
    source = resolve_shards(str(export), "train")
    keys = select_few_shot(source, 2)
    counts = {}
    for raw in iterate_raw_samples(source.urls):
        if raw["__key__"] in keys:
            for region in json.loads(raw["json"])["regions"]:
                counts[region["class_index"]] = counts.get(region["class_index"], 0) + 1
    assert set(counts) == {1, 2, 3}
    assert all(2 <= n <= 4 for n in counts.values())  # >= N each; a two-class sample may add one more
    assert len(keys) <= 6


def test_ranks_read_disjoint_parts_that_cover_the_split(export):
    source = resolve_shards(str(export), "test")  # one shard: ranks split samples, not shards
    config = DataConfig(image_size=64)
    parts = [[s["key"] for s in ShardDataset(source, config, train=False, rank=r, world_size=2)] for r in range(2)]
    assert not set(parts[0]) & set(parts[1])
    assert len(parts[0]) + len(parts[1]) == 12


@mock_aws
def test_shards_are_read_from_s3(export, monkeypatch):
    for name in ("AWS_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL"):  # moto answers the default endpoint
        monkeypatch.delenv(name, raising=False)
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="exports")
    for path in export.parent.iterdir():
        client.upload_file(str(path), "exports", f"releases/v1/{path.name}")
    source = resolve_shards("s3://exports/releases/v1/manifest.json", "test")
    assert source.urls[0] == "s3://exports/releases/v1/v1-test-000000.tar"
    check_reachable(source.urls[0])
    samples = list(ShardDataset(source, DataConfig(image_size=64), train=False))
    assert len(samples) == 12 and samples[0]["pixel_values"].shape == torch.Size([3, 64, 64])
    with pytest.raises(ShardError, match="shard unreachable: s3://exports/releases/v1/gone.tar"):
        check_reachable("s3://exports/releases/v1/gone.tar")


# -- training reads a permutation of the whole split ---------------------------------------------------
@pytest.fixture(scope="module")
def indexed_export(tmp_path_factory):
    """Two train shards of 16 with each shard's Parquet index of sample locations, as exports write them."""
    return write_export(tmp_path_factory.mktemp("indexed"), splits={"train": 32, "test": 4}, with_index=True)


def _keys(dataset, count):
    return [sample["key"] for sample in itertools.islice(iter(dataset), count)]


def test_each_training_epoch_is_a_new_permutation_of_the_whole_split(indexed_export):
    source = resolve_shards(str(indexed_export), "train")
    assert sample_locations(source) is not None
    in_shard_order = [raw["__key__"] for raw in iterate_raw_samples(source.urls)]
    keys = _keys(ShardDataset(source, DataConfig(image_size=32), train=True), 64)
    first, second = keys[:32], keys[32:]
    assert sorted(first) == sorted(second) == sorted(in_shard_order)  # every sample once an epoch
    assert first != second and first != in_shard_order
    # both shards in every part of an epoch, not one shard after the other as a stream reads them
    from_first_shard = set(in_shard_order[:16])
    assert all(0 < sum(key in from_first_shard for key in first[i : i + 8]) < 8 for i in (0, 8, 16, 24))


def test_training_readers_take_disjoint_parts_of_each_permutation(indexed_export):
    source = resolve_shards(str(indexed_export), "train")
    parts = [
        _keys(ShardDataset(source, DataConfig(image_size=32), train=True, rank=r, world_size=2), 16) for r in (0, 1)
    ]
    assert not set(parts[0]) & set(parts[1])
    assert len(set(parts[0]) | set(parts[1])) == 32


def test_a_key_selection_is_read_by_location_too(indexed_export):
    source = resolve_shards(str(indexed_export), "train")
    wanted = {raw["__key__"] for raw in itertools.islice(iterate_raw_samples(source.urls), 3, 9)}
    keys = _keys(ShardDataset(source, DataConfig(image_size=32), train=True, keys=wanted), 12)
    assert set(keys[:6]) == set(keys[6:]) == wanted


def test_an_index_that_does_not_match_its_shard_is_named(indexed_export, tmp_path):
    import shutil

    import pyarrow.parquet as pq

    copy = tmp_path / "v1"
    shutil.copytree(indexed_export.parent, copy)
    index = copy / "v1-train-000000.parquet"
    table = pq.read_table(index)
    pq.write_table(table.set_column(1, "offset", table["offset"].take([1, 0, *range(2, 16)])), index)
    source = resolve_shards(str(copy / "manifest.json"), "train")
    with pytest.raises(
        ShardError, match=r"v1-train-000000.tar: its index places sample \d+ at byte \d+, where the shard holds \d+"
    ):
        _keys(ShardDataset(source, DataConfig(image_size=32), train=True), 32)


def test_shards_without_an_index_or_not_on_disk_are_streamed(export):
    assert sample_locations(resolve_shards(str(export), "train")) is None  # no Parquet index
    remote = ShardSource(
        manifest_url="s3://exports/v1/manifest.json",
        urls=["s3://exports/v1/v1-train-000000.tar"],
        classes=[],
        num_samples=16,
    )
    assert sample_locations(remote) is None
    keys = _keys(ShardDataset(resolve_shards(str(export), "train"), DataConfig(image_size=32), train=True), 32)
    assert len(set(keys)) == 32
