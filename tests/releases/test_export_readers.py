"""Exports of the real subsets read back by the tools their users read them with: Hugging Face
`datasets`, the trainer, mlcroissant, pycocotools, anomalib's own datamodule, a strict YOLO parser,
and the Parquet statistics command."""

import contextlib
import io
import json
import os
import subprocess
import sys
import tarfile
from collections import Counter

import numpy as np
import pytest
import yaml
from PIL import Image

from catalog.rle import rle_to_mask

from ..conftest import REAL_DATA
from .real_exports import build_real_exports

# django_db: the database is set up for the module fixture only when a test of the session asks for it
pytestmark = [pytest.mark.slow, pytest.mark.django_db]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def real(django_db_setup, django_db_blocker, tmp_path_factory):
    assert REAL_DATA.is_dir(), f"the real data subsets are expected at {REAL_DATA}"
    root = tmp_path_factory.mktemp("real-exports")
    with django_db_blocker.unblock():
        building = build_real_exports(REAL_DATA, root / "out", root / "media")
        yield next(building)
        with contextlib.suppress(StopIteration):
            next(building)


@pytest.fixture
def hf_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    return tmp_path / "hf-cache"


def class_mask(document: dict) -> np.ndarray:
    """The oracle of mask.png: the regions' RLEs painted in order with their class index."""
    expected = np.zeros((document["height"], document["width"]), dtype=np.uint8)
    for region in document["regions"]:
        if region["rle"] and region["class_index"]:
            expected[rle_to_mask(region["rle"])] = region["class_index"]
    return expected


def manifest(real) -> dict:
    return json.loads((real.folder / "manifest.json").read_text())


def shard_files(real) -> dict[str, list[str]]:
    files: dict[str, list[str]] = {}
    for shard in manifest(real)["shards"]:
        files.setdefault(shard["split"], []).append(str(real.folder / shard["name"]))
    return files


# -- schema 2 ---------------------------------------------------------------------------------


def test_every_sample_carries_the_same_members_in_the_same_order(real):
    image_member = manifest(real)["image_member"]
    assert image_member == "image"  # MVTec's PNGs beside Magnetic Tile's and NEU-DET's JPEGs
    seen = 0
    for paths in shard_files(real).values():
        for path in paths:
            with tarfile.open(path) as tar:
                names = tar.getnames()
                members = {}
                for name in names:
                    key, suffix = name.split(".", 1)
                    members.setdefault(key, []).append(suffix)
                for key, suffixes in members.items():
                    assert suffixes == [image_member, "mask.png", "json", "txt", "zh.txt", "ja.txt"], key
                    document = json.loads(tar.extractfile(f"{key}.json").read())
                    for language, suffix in (("en", "txt"), ("zh", "zh.txt"), ("ja", "ja.txt")):
                        text = tar.extractfile(f"{key}.{suffix}").read().decode()
                        assert text == (document["captions"][language] or "")
                seen += len(members)
    assert seen == len(real.documents) == sum(manifest(real)["splits"].values())


# -- Hugging Face datasets ----------------------------------------------------------------------


def test_load_dataset_of_the_folder_reads_every_row_with_the_cards_features(real, hf_offline):
    import datasets

    loaded = datasets.load_dataset(str(real.folder), cache_dir=str(hf_offline))

    assert {name: len(split) for name, split in loaded.items()} == manifest(real)["splits"]
    for split in loaded.values():
        for row in split:
            document = real.documents[row["json"]["sample_id"]]
            image = row["image"]
            assert image.size == (document["width"], document["height"])
            assert row["__key__"] == f"{document['sample_id']:010d}"
            mask = np.asarray(row["mask.png"])
            assert (mask == class_mask(document)).all()
            assert row["txt"] == (document["captions"]["en"] or "")
            assert row["zh.txt"] == (document["captions"]["zh"] or "")
            assert row["json"]["sha256"] == document["sha256"]
            assert len(row["json"]["regions"]) == len(document["regions"])


def test_load_dataset_webdataset_on_the_tars_reads_every_row(real, hf_offline):
    import datasets

    files = shard_files(real)
    loaded = datasets.load_dataset("webdataset", data_files=files, cache_dir=str(hf_offline))

    assert {name: len(split) for name, split in loaded.items()} == manifest(real)["splits"]
    originals = 0
    for row in loaded["train"]:
        document = real.documents[row["json"]["sample_id"]]
        # several formats in one export: the image member is "image", its bytes the original's
        data = row["image"] if isinstance(row["image"], bytes) else row["image"]["bytes"]
        assert data == real.originals[document["sample_id"]]
        assert Image.open(io.BytesIO(data)).size == (document["width"], document["height"])
        assert (np.asarray(row["mask.png"]) == class_mask(document)).all()
        originals += 1
    assert originals == manifest(real)["splits"]["train"]


def test_the_cards_features_are_those_datasets_declares_for_the_export(real):
    import datasets

    text = (real.folder / "README.md").read_text()
    front = yaml.safe_load(text.split("---\n")[1])
    features = datasets.Features._from_yaml_list(front["dataset_info"]["features"])

    assert list(features) == ["image", "mask.png", "json", "txt", "zh.txt", "ja.txt", "__key__", "__url__"]
    assert isinstance(features["image"], datasets.Image) and isinstance(features["mask.png"], datasets.Image)
    for document in list(real.documents.values())[:50]:
        features["json"].encode_example(document) if hasattr(features["json"], "encode_example") else None
        datasets.Features({"json": features["json"]}).encode_example({"json": document})
    splits = {entry["name"]: entry["num_examples"] for entry in front["dataset_info"]["splits"]}
    assert splits == manifest(real)["splits"]


# -- the card ----------------------------------------------------------------------------------


def test_the_card_names_each_sources_license_the_splits_classes_and_synthetic_share(real):
    text = (real.folder / "README.md").read_text()
    sources = Counter(document["source"]["name"] for document in real.documents.values())
    for document in real.documents.values():
        source = document["source"]
        assert f"| {source['name']} | {source['kind']} | {source['license']} | {sources[source['name']]} | 0 |" in text
    for split, count in manifest(real)["splits"].items():
        assert f"| {split} | {count} |" in text
    for entry in real.classes:
        assert f"| {entry['index']} | `{entry['slug']}` | {entry['labels']['en']} |" in text
    assert f"Synthetic samples: 0 of {len(real.documents)} (0.0%)" in text
    assert "Terms come from vocabulary version 1." in text
    # no agreement report was computed for these sources: the card says so instead of figures
    assert "No agreement report has been computed for: MVTec AD, Magnetic Tile, NEU-DET" in text


def test_mlcroissant_validates_the_croissant_file_and_reads_every_index_row(real):
    import mlcroissant

    dataset = mlcroissant.Dataset(jsonld=str(real.folder / "croissant.json"))
    records = list(dataset.records("samples"))

    keys = {
        record["samples/key"].decode() if isinstance(record["samples/key"], bytes) else record["samples/key"]
        for record in records
    }
    assert keys == {f"{sample_id:010d}" for sample_id in real.documents}
    assert len(records) == len(real.documents)


# -- the Parquet index -------------------------------------------------------------------------


def test_stats_from_the_parquet_index_alone_match_the_documents(real, tmp_path):
    alone = tmp_path / "index-only"
    alone.mkdir()
    for path in real.folder.iterdir():
        if path.suffix in (".parquet", ".json"):
            (alone / path.name).write_bytes(path.read_bytes())
    result = subprocess.run(
        [sys.executable, "-m", "modeling.core.shard_index", "stats", str(alone), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        check=True,
    )
    stats = json.loads(result.stdout)

    documents = list(real.documents.values())
    defect_types = Counter()
    for document in documents:
        found = {t["slug"] for t in document["terms"]["defect_type"]}
        found |= {r["term"]["slug"] for r in document["regions"] if r["term"]}
        defect_types.update(found - {"def-defect-free"})  # a good sample said so shows no defect type
    english = [len(d["captions"]["en"].split()) for d in documents if d["captions"]["en"] is not None]
    assert stats["samples"] == len(documents)
    assert stats["per_split"] == dict(Counter(d["split"] for d in documents))
    assert stats["per_source"] == dict(Counter(d["source"]["name"] for d in documents))
    assert stats["per_license"] == dict(Counter(d["source"]["license"] for d in documents))
    assert stats["per_defect_type"] == dict(sorted(defect_types.items(), key=lambda i: (-i[1], i[0]))[:20])
    assert stats["image_formats"] == dict(Counter(d["image_format"] for d in documents))
    assert stats["caption_en_words"]["captions"] == len(english) and stats["caption_en_words"]["max"] == max(english)
    assert stats["defect_free"] == sum(1 for d in documents if not d["regions"])
    assert stats["synthetic"] == 0


def test_the_index_rows_point_at_each_samples_bytes_in_its_shard(real):
    import pyarrow.parquet as pq

    for shard in manifest(real)["shards"]:
        table = pq.read_table(real.folder / shard["index"]["name"])
        assert table.num_rows == shard["samples"]
        data = (real.folder / shard["name"]).read_bytes()
        for row in table.to_pylist():
            chunk = data[row["offset"] : row["offset"] + row["length"]]
            with tarfile.open(fileobj=io.BytesIO(chunk + bytes(1024))) as tar:
                names = tar.getnames()
            assert names[0] == f"{row['key']}.image" and names[-1] == f"{row['key']}.ja.txt"
            document = real.documents[row["sample_id"]]
            assert (row["sha256"], row["split"], row["regions"]) == (
                document["sha256"],
                document["split"],
                len(document["regions"]),
            )


# -- the trainer -------------------------------------------------------------------------------


def test_the_trainer_reads_schema_2_shards(real):
    import torch

    from modeling.core.dataset import decode_sample, iterate_raw_samples
    from modeling.core.shards import resolve_shards

    torch.set_num_threads(1)
    source = resolve_shards(str(real.folder))
    decoded = 0
    for raw in iterate_raw_samples(source.urls):
        sample = decode_sample(raw, source.classes, image_size=32, min_component_pixels=1)
        document = real.documents[int(raw["__key__"])]
        assert sample["caption"] == (document["captions"]["en"] or "")
        assert set(sample["mask"].unique().tolist()) <= {0} | {r["class_index"] for r in document["regions"]}
        decoded += 1
    assert decoded == len(real.documents) == source.num_samples


# -- the other formats ---------------------------------------------------------------------------


def test_pycocotools_reads_the_coco_export_of_the_real_subsets(real):
    from pycocotools.coco import COCO

    images = 0
    box_only = 0
    for path in sorted(real.formats["coco"].glob("coco-*.json")):
        coco = COCO(str(path))
        images += len(coco.getImgIds())
        for annotation in coco.loadAnns(coco.getAnnIds()):
            if "segmentation" in annotation:
                assert coco.annToMask(annotation).sum() == annotation["area"]
            else:
                box_only += 1  # NEU-DET's boxes
                assert annotation["bbox"][2] > 0 and annotation["bbox"][3] > 0
        # COCO numbers licenses: an image's license is the id of an entry of "licenses"
        licenses = {entry["id"]: entry["name"] for entry in coco.dataset["licenses"]}
        for image in coco.dataset["images"]:
            assert isinstance(image["license"], int)
            assert licenses[image["license"]] == real.documents[image["id"]]["source"]["license"]
    assert images == len(real.documents)
    assert box_only == sum(1 for d in real.documents.values() for r in d["regions"] if r["rle"] is None and r["term"])


def _anomalib_frames(folder, product: str) -> list:
    """The sample tables anomalib builds for a product folder: its MVTecAD datamodule where the
    images are PNG (the only extension its MVTec AD reader globs), its Folder dataset otherwise."""
    from anomalib.data import MVTecAD
    from anomalib.data.datasets.image.folder import FolderDataset

    root = folder / product
    if {path.suffix for path in root.glob("*/*/*.*") if "ground_truth" not in path.parts} == {".png"}:
        datamodule = MVTecAD(root=folder, category=product, num_workers=0, train_batch_size=4, eval_batch_size=4)
        datamodule.setup()
        return [datamodule.train_data.samples, datamodule.test_data.samples]
    defects = sorted(p.name for p in (root / "test").iterdir() if p.name != "good")
    common = {
        "name": product,
        "root": root,
        "abnormal_dir": [f"test/{defect}" for defect in defects],
        "mask_dir": [f"ground_truth/{defect}" for defect in defects],
        "normal_test_dir": "test/good" if (root / "test" / "good").is_dir() else None,
        "extensions": (".jpg", ".png"),
    }
    return [FolderDataset(normal_dir="train/good", split=split, **common).samples for split in ("train", "test")]


def test_anomalib_reads_every_product_of_the_anomalib_export(real):
    folder = real.formats["anomalib"]
    summary = json.loads((folder / "anomalib.json").read_text())
    products = sorted(p.name for p in folder.iterdir() if p.is_dir())
    total = masks = 0
    for product in products:
        if product in summary["products_without_normal_images"]:
            # anomalib refuses a folder without normal images (NEU-DET has none): count its files
            total += sum(1 for path in (folder / product / "test").glob("*/*"))
            continue
        for frame in _anomalib_frames(folder, product):
            total += len(frame)
            for row in frame.itertuples():
                document = real.documents[int(os.path.basename(row.image_path).split(".")[0])]
                assert original_bytes(row.image_path) == real.originals[document["sample_id"]]
                defective = bool(document["regions"] or document["terms"]["defect_type"])
                assert row.label_index == int(defective)
                if defective:
                    mask = np.asarray(Image.open(row.mask_path))
                    assert set(np.unique(mask)) <= {0, 255}
                    if all(r["rle"] for r in document["regions"]):
                        assert ((mask == 255) == (class_mask(document) > 0)).all()
                        masks += 1
    assert total == len(real.documents) and masks > 0
    assert summary["products_without_normal_images"] == ["prod-hot-rolled-steel-strip"]


def original_bytes(path) -> bytes:
    with open(path, "rb") as stored:
        return stored.read()


def _strict_yolo_lines(path, classes: int) -> list[tuple[int, np.ndarray]]:
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split(" ")
        assert fields[0].isdigit() and int(fields[0]) < classes, f"{path}:{number}: class {fields[0]}"
        values = np.array([float(v) for v in fields[1:]])
        assert len(values) >= 6 and len(values) % 2 == 0, f"{path}:{number}: {len(values)} coordinates"
        assert ((values >= 0) & (values <= 1)).all(), f"{path}:{number}: a coordinate outside [0, 1]"
        rows.append((int(fields[0]), values.reshape(-1, 2)))
    return rows


def test_yolo_labels_parse_strictly_and_their_polygons_cover_the_masks(real):
    import cv2

    folder = real.formats["yolo"]
    data = yaml.safe_load((folder / "data.yaml").read_text())
    defect_classes = [c for c in real.classes if c["index"] > 0]
    assert data["names"] == {c["index"] - 1: c["labels"]["en"] for c in defect_classes}
    raw = (folder / "data.yaml").read_text()
    for entry in defect_classes:
        assert f"zh: {entry['labels']['zh']}  ja: {entry['labels']['ja']}" in raw
    checked = 0
    for sample_id, document in real.documents.items():
        split, key = document["split"], f"{sample_id:010d}"
        assert (folder / data[split] / f"{key}.{document['image_format']}").read_bytes() == real.originals[sample_id]
        lines = _strict_yolo_lines(folder / "labels" / split / f"{key}.txt", len(defect_classes))
        width, height = document["width"], document["height"]
        drawn = np.zeros((height, width), dtype=np.uint8)
        for yolo_class, points in lines:
            pixels = np.round(points * [width, height]).astype(np.int32)
            cv2.fillPoly(drawn, [pixels], yolo_class + 1)
        if document["regions"] and all(r["rle"] for r in document["regions"]):
            expected = class_mask(document)
            union = (drawn > 0) | (expected > 0)
            iou = ((drawn > 0) & (expected > 0)).sum() / union.sum()
            assert iou >= 0.9, (key, iou)
            checked += 1
        boxes = (folder / "boxes" / split / f"{key}.txt").read_text().splitlines()
        assert len(boxes) == sum(1 for r in document["regions"] if r["term"] and r["bbox"])
    assert checked > 0
