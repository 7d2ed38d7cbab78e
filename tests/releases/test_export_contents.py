"""What an export holds beyond the happy path of one public source: a partner's samples and
classes, samples of several classes, and a target folder that already holds files."""

import io
import json

import numpy as np
import pytest
import yaml

from annotation.models import Annotation, Region
from base.jobs import JobStatus
from catalog.models import Sample, Source, Visibility
from catalog.rle import mask_to_rle, rle_to_mask
from releases import exports
from releases.versions import dataset_version_create, dataset_version_publish
from vocabulary.models import Facet, Term

from .test_exports import run

pytestmark = pytest.mark.django_db


def annotations_with_regions() -> list[Annotation]:
    annotations = Annotation.objects.select_related("final_revision").order_by("pk")
    return [a for a in annotations if a.final_revision.regions.exists()]


def unused_defect_type(*, after: str = "") -> Term:
    used = Region.objects.filter(defect_type__isnull=False).values("defect_type__slug")
    return Term.objects.filter(facet=Facet.DEFECT_TYPE, slug__gt=after).exclude(slug__in=used).order_by("slug")[0]


def give_to_a_partner(annotation: Annotation, defect_type: Term) -> Source:
    """Moves the annotation's sample to a new restricted source, its regions relabelled as `defect_type`."""
    partner = Source.objects.create(name="Partner", kind="partner", visibility=Visibility.RESTRICTED)
    Sample.objects.filter(pk=annotation.sample_id).update(source=partner)
    relabelled = [
        Region.objects.create(
            annotation=annotation, defect_type=defect_type, mask_rle=r.mask_rle, bbox=r.bbox, area=r.area
        )
        for r in annotation.final_revision.regions.all()
    ]
    annotation.final_revision.regions.set(relabelled)
    return partner


# -- restricted sources ------------------------------------------------------------------------


def test_a_class_only_a_partners_samples_show_is_not_named_by_an_export_that_leaves_them_out(
    verified_dataset, tmp_path
):
    secret = unused_defect_type()
    give_to_a_partner(annotations_with_regions()[0], secret)
    version = dataset_version_publish(
        version=dataset_version_create(title="with a partner", selection={"include_restricted": True})
    )

    public = {name: run(version, tmp_path / name, format=name) for name in ("webdataset", "coco", "yolo")}
    marked = run(version, tmp_path / "marked", include_restricted=True)

    for export in public.values():
        assert secret.slug not in [c["slug"] for c in export.classes]
        assert [c["index"] for c in export.classes] == list(range(len(export.classes)))
    assert secret.slug in [c["slug"] for c in marked.classes]
    manifest = json.loads((tmp_path / "webdataset" / "v1" / "manifest.json").read_text())
    coco = json.loads((tmp_path / "coco" / "v1" / "coco-train.json").read_text())
    data_yaml = (tmp_path / "yolo" / "v1" / "data.yaml").read_text()
    card = (tmp_path / "webdataset" / "v1" / "README.md").read_text()
    for text in (json.dumps(manifest), json.dumps(coco), data_yaml, card):
        assert secret.slug not in text and secret.label_en not in text and secret.label_zh not in text
    assert len(yaml.safe_load(data_yaml)["names"]) == len(public["yolo"].classes) - 1


def test_a_source_restricted_after_the_version_was_cut_is_left_out_of_an_export_not_marked_for_it(
    verified_dataset, tmp_path
):
    version = dataset_version_publish(version=dataset_version_create(title="public then"))
    Source.objects.update(visibility=Visibility.RESTRICTED)  # an admin restricts it afterwards

    with pytest.raises(exports.ExportError, match="would write no sample: all 50 are of restricted sources"):
        run(version, tmp_path / "public")
    assert not (tmp_path / "public" / "v1").exists()
    assert run(version, tmp_path / "partner", include_restricted=True).samples_written == 50


# -- a target folder that already holds files -----------------------------------------------------


def test_exporting_into_a_folder_holding_shards_of_another_export_is_refused_naming_them(verified_dataset, tmp_path):
    version = dataset_version_publish(version=dataset_version_create(title="bottle", split_plan={"seed": 2}))
    run(version, tmp_path, shard_max_samples=7)

    with pytest.raises(exports.ExportError, match="v1-train-000001.tar") as refused:
        exports.export_create(version=version, format="webdataset", target=str(tmp_path), shard_max_samples=50)

    assert refused.value.field == "target"


def test_exporting_the_same_shards_again_into_their_folder_is_fine(verified_dataset, tmp_path):
    version = dataset_version_publish(version=dataset_version_create(title="bottle"))
    first = run(version, tmp_path, shard_max_samples=7)
    second = run(version, tmp_path, shard_max_samples=7)
    assert first.manifest_sha256 == second.manifest_sha256


@pytest.mark.parametrize("format", ["yolo", "anomalib"])
def test_a_folder_holding_a_partners_files_of_an_earlier_export_is_refused_for_a_public_one(
    verified_dataset, tmp_path, format
):
    partner_sample = annotations_with_regions()[0].sample_id
    Source.objects.update(visibility=Visibility.RESTRICTED)
    Source.objects.create(name="public", visibility=Visibility.PUBLIC)
    version = dataset_version_publish(
        version=dataset_version_create(title="partner", selection={"include_restricted": True})
    )
    Source.objects.update(visibility=Visibility.PUBLIC)
    Sample.objects.exclude(pk=partner_sample).update(source=Source.objects.get(name="public"))
    run(version, tmp_path, format=format, include_restricted=True)
    Source.objects.exclude(name="public").update(visibility=Visibility.RESTRICTED)

    export = exports.export_create(version=version, format=format, target=str(tmp_path))

    # checked by the writer on its worker, not while the export is asked for: a folder of a
    # million samples takes a while to list
    export = exports.export_run_here(export=export)

    assert export.status == JobStatus.FAILED
    assert f"{partner_sample:010d}" in export.error and "another" in export.error
    run(version, tmp_path / "elsewhere", format=format)  # a clean folder is fine


@pytest.mark.parametrize("format", ["yolo", "anomalib"])
def test_exporting_the_same_samples_again_into_their_folder_is_fine(verified_dataset, tmp_path, format):
    version = dataset_version_publish(version=dataset_version_create(title="bottle"))
    run(version, tmp_path, format=format)
    run(version, tmp_path, format=format)


def test_croissant_names_the_exports_own_index_files_not_every_file_a_glob_matches(verified_dataset, tmp_path):
    version = dataset_version_publish(version=dataset_version_create(title="bottle"))
    run(version, tmp_path, shard_max_samples=20)
    croissant = json.loads((tmp_path / "v1" / "croissant.json").read_text())

    file_set = next(d for d in croissant["distribution"] if d["@type"] == "cr:FileSet")
    indexes = sorted(p.name for p in (tmp_path / "v1").glob("*.parquet"))
    assert sorted(file_set["includes"]) == indexes


# -- several classes, several languages ----------------------------------------------------------


def add_region_of_another_class(annotation: Annotation, defect_type: Term) -> np.ndarray:
    """A second region, of `defect_type`, in the top left corner of the sample's image; its mask."""
    height, width = annotation.final_revision.regions.first().mask_rle["size"]
    mask = np.zeros((height, width), dtype=bool)
    mask[10:40, 20:60] = True
    region = Region.objects.create(
        annotation=annotation, defect_type=defect_type, mask_rle=mask_to_rle(mask), bbox=[20, 10, 40, 30], area=600
    )
    annotation.final_revision.regions.add(region)
    return mask


def test_a_sample_of_two_classes_reads_back_with_the_same_class_ids_in_every_format(verified_dataset, tmp_path):
    import webdataset as wds
    from PIL import Image
    from pycocotools.coco import COCO

    annotation = annotations_with_regions()[0]
    second = unused_defect_type()
    corner = add_region_of_another_class(annotation, second)
    version = dataset_version_publish(version=dataset_version_create(title="two classes"))
    for name in ("webdataset", "coco", "yolo"):
        export = run(version, tmp_path / name, format=name)
    index_of = {c["slug"]: c["index"] for c in export.classes}
    first = annotation.final_revision.regions.exclude(defect_type=second).get()

    folder = tmp_path / "webdataset" / "v1"
    record = next(
        r
        for r in wds.WebDataset(sorted(str(p) for p in folder.glob("*.tar")), shardshuffle=False)
        if r["__key__"] == f"{annotation.sample_id:010d}"
    )
    split = json.loads(record["json"])["split"]
    mask = np.asarray(Image.open(io.BytesIO(record["mask.png"])))
    assert (mask[corner] == index_of[second.slug]).all()
    assert (mask[rle_to_mask(first.mask_rle) & ~corner] == index_of[first.defect_type.slug]).all()

    coco = COCO(str(tmp_path / "coco" / "v1" / f"coco-{split}.json"))
    by_category = {a["category_id"]: coco.annToMask(a).astype(bool) for a in coco.imgToAnns[annotation.sample_id]}
    assert by_category.keys() == {index_of[second.slug], index_of[first.defect_type.slug]}
    assert (by_category[index_of[second.slug]] == corner).all()
    assert (by_category[index_of[first.defect_type.slug]] == rle_to_mask(first.mask_rle)).all()
    names = {c["id"]: c["slug"] for c in coco.loadCats(coco.getCatIds())}
    assert names == {i: s for s, i in index_of.items() if i}

    yolo = tmp_path / "yolo" / "v1"
    data = yaml.safe_load((yolo / "data.yaml").read_text())
    boxes = (yolo / "boxes" / split / f"{annotation.sample_id:010d}.txt").read_text().splitlines()
    assert sorted(int(line.split()[0]) for line in boxes) == sorted(i - 1 for i in by_category)
    assert {data["names"][i - 1] for i in by_category} == {second.label_en, first.defect_type.label_en}


def test_data_yaml_of_a_version_without_a_val_split_names_one_as_ultralytics_requires(verified_dataset, tmp_path):
    plan = {"seed": 1, "train": 0.7, "val": 0.0, "test": 0.3}
    version = dataset_version_publish(version=dataset_version_create(title="no val", split_plan=plan))
    run(version, tmp_path, format="yolo")
    raw = (tmp_path / "v1" / "data.yaml").read_text()
    data = yaml.safe_load(raw)
    # Ultralytics' check_det_dataset refuses a data.yaml without both train and val
    assert data["train"] == "images/train" and data["val"] == data["test"] == "images/test"
    assert "no val split: val reads the test split" in raw
    assert not (tmp_path / "v1" / "images" / "val").exists()


def test_class_names_with_quotes_and_backslashes_survive_data_yaml(verified_dataset, tmp_path):
    term = Region.objects.filter(defect_type__isnull=False).first().defect_type
    Term.objects.filter(pk=term.pk).update(label_en='dent 0.5" deep \\ "wide": #2', label_zh="凹痕\n第二行")
    version = dataset_version_publish(version=dataset_version_create(title="quotes"))

    run(version, tmp_path, format="yolo")

    data = yaml.safe_load((tmp_path / "v1" / "data.yaml").read_text())
    assert 'dent 0.5" deep \\ "wide": #2' in data["names"].values()
    assert len(data["names"]) == data["nc"]


def test_captions_in_three_languages_are_byte_exact_in_every_format(verified_dataset, tmp_path):
    import csv

    import webdataset as wds

    from annotation.models import Caption

    annotation = annotations_with_regions()[0]
    texts = {
        "en": 'A "quoted", comma-laden caption\\ with a backslash',
        "zh": "瓶口有一道细裂纹，约 3 毫米；“引号”与逗号,在内\n第二行",
        "ja": "ボトルの口に微細な亀裂（約３ｍｍ）がある。「引用」、カンマ,も含む",
    }
    Caption.objects.filter(revision=annotation.final_revision).delete()
    for language, text in texts.items():
        Caption.objects.create(revision=annotation.final_revision, language=language, text=text)
    version = dataset_version_publish(version=dataset_version_create(title="languages"))
    for name in ("webdataset", "coco", "captions"):
        run(version, tmp_path / name, format=name)
    key = f"{annotation.sample_id:010d}"

    folder = tmp_path / "webdataset" / "v1"
    record = next(
        r
        for r in wds.WebDataset(sorted(str(p) for p in folder.glob("*.tar")), shardshuffle=False)
        if r["__key__"] == key
    )
    assert {"en": record["txt"], "zh": record["zh.txt"], "ja": record["ja.txt"]} == {
        language: text.encode() for language, text in texts.items()
    }
    split = json.loads(record["json"])["split"]
    coco = json.loads((tmp_path / "coco" / "v1" / f"coco-{split}.json").read_bytes())
    assert next(i for i in coco["images"] if i["id"] == annotation.sample_id)["captions"] == texts
    with open(tmp_path / "captions" / "v1" / "captions.csv", newline="", encoding="utf-8") as rows:
        row = next(r for r in csv.DictReader(rows) if r["sample_id"] == str(annotation.sample_id))
    assert {language: row[language] for language in texts} == texts


# -- an export interrupted and run again -------------------------------------------------------------


@pytest.mark.parametrize("format", ["yolo", "anomalib"])
def test_a_rerun_clears_what_a_killed_writer_left_in_the_per_sample_folders(verified_dataset, tmp_path, format):
    version = dataset_version_publish(version=dataset_version_create(title="bottle"))
    export = exports.export_create(version=version, format=format, target=str(tmp_path))
    left = tmp_path / "v1" / "images" / "train" / ".0000000001.png.0123abcd.partial"
    left.parent.mkdir(parents=True)
    left.write_bytes(b"half an image of a killed writer")  # nobody holds its lock: its writer is dead

    export = exports.export_run_here(export=export)

    assert export.status == JobStatus.SUCCEEDED, export.error
    assert not list((tmp_path / "v1").rglob("*.partial"))


# -- defect-free samples ---------------------------------------------------------------------------


def say_the_good_ones_are_defect_free() -> list[Annotation]:
    """What an annotator picks for a good sample (and the caption validator expects): the
    defect-free term in the defect type field. Returns the good samples' annotations."""
    from annotation.models import RevisionTerm

    annotations = Annotation.objects.select_related("final_revision").order_by("pk")
    good = [a for a in annotations if not a.final_revision.regions.exists()]
    for annotation in good:
        RevisionTerm.objects.create(
            revision=annotation.final_revision, field="defect_types", term=Term.objects.get(slug="def-defect-free")
        )
    return good


def test_a_sample_annotated_defect_free_counts_as_defect_free_in_the_statistics_and_the_index(
    verified_dataset, tmp_path
):
    from modeling.core.shard_index import index_statistics, read_index

    good = say_the_good_ones_are_defect_free()
    version = dataset_version_publish(version=dataset_version_create(title="good ones said so"))
    assert "def-defect-free" not in version.statistics["per_defect_type"]
    assert version.statistics["per_defect_type"]["(defect-free)"] == len(good)

    export = run(version, tmp_path)
    statistics = index_statistics(read_index(exports.export_manifest_url(export)))
    assert "def-defect-free" not in statistics["per_defect_type"]
    assert statistics["defect_free"] == len(good)


def test_a_sample_annotated_defect_free_is_a_normal_image_in_the_anomalib_export(verified_dataset, tmp_path):
    good = say_the_good_ones_are_defect_free()
    version = dataset_version_publish(version=dataset_version_create(title="good ones said so"))

    run(version, tmp_path, format="anomalib")

    product = tmp_path / "v1" / "prod-glass-bottle"
    normal = {p.name.split(".")[0] for place in ("train/good", "test/good") for p in (product / place).glob("*")}
    assert normal == {f"{a.sample_id:010d}" for a in good}
    assert not (product / "test" / "def-defect-free").exists()
    assert not (product / "ground_truth" / "def-defect-free").exists()


def test_a_product_whose_normal_images_are_all_test_images_is_named_as_having_none_to_train_on(
    verified_dataset, tmp_path
):
    version = dataset_version_publish(
        version=dataset_version_create(title="no train split", split_plan={"train": 0, "val": 0.5, "test": 0.5})
    )

    run(version, tmp_path, format="anomalib")

    summary = json.loads((tmp_path / "v1" / "anomalib.json").read_text())
    assert summary["images"]["prod-glass-bottle"].get("train/good", 0) == 0
    assert summary["products_without_normal_images"] == ["prod-glass-bottle"]


# -- a sample the formats cannot hold ------------------------------------------------------------------


@pytest.mark.parametrize("format", ["webdataset", "coco", "yolo", "anomalib"])
def test_a_region_mask_of_another_size_than_its_image_fails_the_export_naming_the_sample(
    verified_dataset, tmp_path, format
):
    annotation = annotations_with_regions()[0]
    region = annotation.final_revision.regions.first()
    Region.objects.filter(pk=region.pk).update(mask_rle=mask_to_rle(np.ones((512, 512), dtype=bool)))
    version = dataset_version_publish(version=dataset_version_create(title="a mask of the asset's size"))
    export = exports.export_create(version=version, format=format, target=str(tmp_path))

    export = exports.export_run_here(export=export)

    assert export.status == JobStatus.FAILED
    assert f"sample {annotation.sample_id}" in export.error and "512x512" in export.error


def test_more_defect_classes_than_an_8_bit_mask_png_holds_is_refused_before_any_shard(verified_dataset, tmp_path):
    annotations = annotations_with_regions()
    defect_types = list(Term.objects.filter(facet=Facet.DEFECT_TYPE).order_by("slug")[:256])
    defect_types += [
        Term.objects.create(
            slug=f"def-extra-{n}", facet=Facet.DEFECT_TYPE, label_en=f"extra {n}", label_zh="额外", label_ja="追加"
        )
        for n in range(256 - len(defect_types))
    ]
    for n, defect_type in enumerate(defect_types):
        annotation = annotations[n % len(annotations)]
        template = annotation.final_revision.regions.first()
        region = Region.objects.create(
            annotation=annotation, defect_type=defect_type, mask_rle=template.mask_rle, bbox=template.bbox, area=1
        )
        annotation.final_revision.regions.add(region)
    version = dataset_version_publish(version=dataset_version_create(title="many classes"))

    with pytest.raises(exports.ExportError, match="256 defect classes.*255") as refused:
        exports.export_create(version=version, format="webdataset", target=str(tmp_path))

    assert refused.value.field == "format"
    assert not (tmp_path / "v1").exists()
    coco = run(version, tmp_path / "coco", format="coco")  # class ids as numbers: no such limit
    assert len(coco.classes) == 257


def test_every_format_exported_into_one_folder_reads_back(verified_dataset, tmp_path, monkeypatch):
    import datasets
    from pycocotools.coco import COCO

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    version = dataset_version_publish(version=dataset_version_create(title="one folder"))
    for name in ("webdataset", "coco", "qa", "captions", "yolo", "anomalib"):
        run(version, tmp_path, format=name)
    folder = tmp_path / "v1"

    loaded = datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "hf-cache"))
    assert sum(len(split) for split in loaded.values()) == 50
    for path in folder.glob("coco-*.json"):
        split = path.stem.removeprefix("coco-")
        coco = COCO(str(path))
        for image in coco.loadImgs(coco.getImgIds()):
            assert (folder / "images" / split / image["file_name"]).is_file()


def test_a_source_restricted_while_an_export_runs_fails_it_instead_of_miscounting_its_shards(
    verified_dataset, tmp_path
):
    version = dataset_version_publish(version=dataset_version_create(title="restricted meanwhile"))
    export = exports.export_create(version=version, format="webdataset", target=str(tmp_path))
    Source.objects.update(visibility=Visibility.RESTRICTED)

    export = exports.export_run_here(export=export)

    assert export.status == JobStatus.FAILED
    assert "restricted since the export was planned" in export.error
    assert not (tmp_path / "v1" / "manifest.json").exists()


def test_load_dataset_reads_a_sample_with_qa_pairs_in_three_languages_with_the_cards_features(
    verified_dataset, tmp_path, monkeypatch
):
    import datasets

    from annotation.models import QAPair

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    annotation = annotations_with_regions()[0]
    second = unused_defect_type()
    add_region_of_another_class(annotation, second)
    regions = list(annotation.final_revision.regions.order_by("pk"))
    questions = {"en": "Where is the crack?", "zh": "裂纹在哪里？", "ja": "亀裂はどこですか？"}
    for position, (language, question) in enumerate(questions.items()):
        pair = QAPair.objects.create(
            revision=annotation.final_revision, position=position, question=question, answer="→ 右上", language=language
        )
        pair.regions.set(regions[position % 2 :])
    version = dataset_version_publish(version=dataset_version_create(title="qa"))
    run(version, tmp_path)
    run(version, tmp_path / "qa", format="qa")

    loaded = datasets.load_dataset(str(tmp_path / "v1"), cache_dir=str(tmp_path / "hf-cache"))

    row = next(r for split in loaded.values() for r in split if r["json"]["sample_id"] == annotation.sample_id)
    assert [(p["language"], p["question"], p["answer"]) for p in row["json"]["qa"]] == [
        (language, question, "→ 右上") for language, question in questions.items()
    ]
    assert [p["regions"] for p in row["json"]["qa"]] == [[0, 1], [1], [0, 1]]
    split = row["json"]["split"]
    lines = (tmp_path / "qa" / "v1" / f"qa-{split}.jsonl").read_text(encoding="utf-8").splitlines()
    conversations = [json.loads(line) for line in lines if line.startswith(f'{{"id": "{annotation.sample_id}-')]
    assert [c["conversations"][0]["value"] for c in conversations] == [f"<image>\n{q}" for q in questions.values()]
    assert [len(c["regions"]) for c in conversations] == [2, 1, 2]


@pytest.mark.parametrize("format", ["webdataset", "coco", "yolo"])
def test_an_export_that_would_write_no_sample_is_refused_saying_why(verified_dataset, tmp_path, format):
    Source.objects.update(visibility=Visibility.RESTRICTED)
    version = dataset_version_publish(
        version=dataset_version_create(title="partner only", selection={"include_restricted": True})
    )
    with pytest.raises(exports.ExportError, match="would write no sample: all 50 are of restricted sources") as error:
        exports.export_create(version=version, format=format, target=str(tmp_path))
    assert error.value.field == "include_restricted" and not version.exports.exists()
    run(version, tmp_path, format=format, include_restricted=True)  # marked for them, it writes them


# -- splits --------------------------------------------------------------------------------------------


def test_a_held_out_class_is_in_no_train_or_val_file_of_any_format(verified_dataset, tmp_path):
    held_out = "def-contamination"
    version = dataset_version_publish(
        version=dataset_version_create(
            title="open vocabulary", split_plan={"seed": 1, "stratify": True, "held_out_defect_types": [held_out]}
        )
    )
    for name in ("coco", "yolo"):
        export = run(version, tmp_path / name, format=name)
    index = next(c["index"] for c in export.classes if c["slug"] == held_out)

    seen_in_test = 0
    for path in (tmp_path / "coco" / "v1").glob("coco-*.json"):
        coco = json.loads(path.read_text())
        used = {a["category_id"] for a in coco["annotations"]}
        if path.stem == "coco-test":
            seen_in_test += index in used
        else:
            assert index not in used, path.name
    for split in ("train", "val"):
        for path in (tmp_path / "yolo" / "v1" / "labels" / split).glob("*.txt"):
            assert all(int(line.split()[0]) != index - 1 for line in path.read_text().splitlines()), path
    assert seen_in_test == 1
    keys = [
        p.stem for split in ("train", "val", "test") for p in (tmp_path / "yolo" / "v1" / "images" / split).iterdir()
    ]
    assert len(keys) == len(set(keys)) == 50  # no sample in two splits
