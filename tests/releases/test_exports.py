"""Exports read back the way their users read them: webdataset, a torch DataLoader, pycocotools."""

import io
import json

import numpy as np
import pytest
from PIL import Image

from annotation.revision_content import content_of, revisions_with_content
from base.jobs import JobStatus
from catalog.models import Sample, Source, Visibility
from catalog.rle import rle_to_mask
from releases import exports
from releases.sample_documents import FIELD_FACETS, SampleDocumentReader
from releases.versions import dataset_version_create, dataset_version_publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(verified_dataset):
    return dataset_version_publish(version=dataset_version_create(title="bottle", split_plan={"seed": 2}))


def run(version, target, **options):
    export = exports.export_create(
        version=version, format=options.pop("format", "webdataset"), target=str(target), **options
    )
    export = exports.export_run_here(export=export)
    assert export.status == JobStatus.SUCCEEDED, export.error
    return export


def test_webdataset_shards_hold_every_sample_once_with_original_bytes(published, tmp_path, real_data):
    import webdataset as wds

    run(published, tmp_path, shard_max_samples=7)
    manifest = json.loads((tmp_path / "v1" / "manifest.json").read_text())
    urls = [str(tmp_path / "v1" / shard["name"]) for shard in manifest["shards"]]

    seen = {}
    for record in wds.WebDataset(urls, shardshuffle=False):
        document = json.loads(record["json"])
        seen[document["sample_id"]] = (record, document)

    assert len(seen) == 50 == sum(manifest["splits"].values())
    assert all(s["samples"] <= 7 for s in manifest["shards"])
    assert manifest["classes"][0]["slug"] == "background" and manifest["vocabulary_version"] == 1
    for sample in Sample.objects.all():
        record, document = seen[sample.pk]
        assert record["png"] == (real_data / "mvtec_ad" / sample.external_id).read_bytes()
        assert record["txt"].decode() == document["captions"]["en"] and "zh.txt" in record
        assert document["sha256"] == sample.sha256 and document["terms"]["product"][0]["slug"]


def test_mask_png_holds_class_indices_agreeing_with_the_rles(published, tmp_path):
    import webdataset as wds

    run(published, tmp_path)
    manifest = json.loads((tmp_path / "v1" / "manifest.json").read_text())
    index_of = {c["slug"]: c["index"] for c in manifest["classes"]}
    checked = 0
    for record in wds.WebDataset([str(tmp_path / "v1" / s["name"]) for s in manifest["shards"]], shardshuffle=False):
        document = json.loads(record["json"])
        mask = np.asarray(Image.open(io.BytesIO(record["mask.png"])))
        assert mask.shape == (document["height"], document["width"])
        if not document["regions"]:
            assert not mask.any()
            continue
        for region in document["regions"]:
            pixels = rle_to_mask(region["rle"])
            assert region["class_index"] == index_of[region["term"]["slug"]]
            assert (mask[pixels] == region["class_index"]).all()
        checked += 1
    assert checked == 30


def test_a_plain_torch_dataloader_reads_the_shards(published, tmp_path):
    import torch
    import webdataset as wds

    run(published, tmp_path, shard_max_samples=10)
    manifest = json.loads((tmp_path / "v1" / "manifest.json").read_text())
    dataset = (
        wds.WebDataset([str(tmp_path / "v1" / s["name"]) for s in manifest["shards"]], shardshuffle=False)
        .decode("pil")
        .to_tuple("png", "json")
        .map_tuple(
            lambda image: torch.from_numpy(np.array(image.resize((64, 64)))).permute(2, 0, 1), lambda d: d["sample_id"]
        )
    )
    loader = torch.utils.data.DataLoader(dataset, batch_size=8, num_workers=0)
    ids = []
    for images, sample_ids in loader:
        assert images.shape[1:] == (3, 64, 64)
        ids += sample_ids.tolist()
    assert sorted(ids) == sorted(Sample.objects.values_list("pk", flat=True))


def test_exporting_twice_gives_the_same_bytes(published, tmp_path):
    first = run(published, tmp_path / "a", shard_max_samples=9)
    second = run(published, tmp_path / "b", shard_max_samples=9)
    assert (tmp_path / "a" / "v1" / "manifest.json").read_bytes() == (
        tmp_path / "b" / "v1" / "manifest.json"
    ).read_bytes()
    assert first.manifest_sha256 == second.manifest_sha256


def test_coco_export_loads_in_pycocotools(published, tmp_path):
    from pycocotools.coco import COCO

    run(published, tmp_path, format="coco")
    total_images = 0
    for path in sorted((tmp_path / "v1").glob("coco-*.json")):
        coco = COCO(str(path))
        total_images += len(coco.getImgIds())
        for annotation in coco.loadAnns(coco.getAnnIds()):
            mask = coco.annToMask(annotation)
            assert mask.sum() == annotation["area"]
        assert all("captions" in image for image in coco.loadImgs(coco.getImgIds()))
    assert total_images == 50


def test_qa_and_captions_exports(published, tmp_path):
    run(published, tmp_path / "qa", format="qa")
    run(published, tmp_path / "captions", format="captions")
    rows = (tmp_path / "captions" / "v1" / "captions.csv").read_text().splitlines()
    assert rows[0] == "sample_id,split,file,en,zh,ja" and len(rows) == 51
    assert sorted(p.name for p in (tmp_path / "qa" / "v1").iterdir())[0].startswith("qa-")


def test_restricted_samples_are_left_out_unless_the_export_is_marked_for_them(verified_dataset, tmp_path):
    Source.objects.update(visibility=Visibility.RESTRICTED)
    version = dataset_version_publish(
        version=dataset_version_create(title="partner", selection={"include_restricted": True})
    )
    with pytest.raises(exports.ExportError, match="would write no sample"):
        run(version, tmp_path / "public")
    assert run(version, tmp_path / "partner", include_restricted=True).samples_written == 50


def test_unpublished_versions_and_bad_targets_are_refused(verified_dataset, tmp_path):
    draft = dataset_version_create(title="draft")
    with pytest.raises(exports.ExportError, match="not published"):
        exports.export_create(version=draft, format="webdataset", target=str(tmp_path))
    dataset_version_publish(version=draft)
    with pytest.raises(exports.ExportError, match="unsupported export target"):
        exports.export_create(version=draft, format="webdataset", target="ftp://example/x")


def _document_from_content(item, classes: dict[str, int]) -> dict:
    """The json member as annotation.content reads the revision: the oracle of the batched reader."""

    def term(t):
        return {"slug": t.slug, "labels": {"en": t.label_en, "zh": t.label_zh, "ja": t.label_ja}}

    content = content_of(revisions_with_content().get(pk=item.revision_id))
    sample = item.sample
    position = {id(r): i for i, r in enumerate(content.regions)}
    return {
        "schema_version": 2,
        "sample_id": sample.pk,
        "annotation_revision": item.revision.number,
        "sha256": sample.sha256,
        "image_format": {"PNG": "png", "JPEG": "jpg"}[sample.original_format],
        "width": sample.width,
        "height": sample.height,
        "split": item.split,
        "source": {"name": sample.source.name, "kind": sample.source.kind, "license": sample.source.license},
        "is_synthetic": sample.is_synthetic,
        "domain": next(
            (t.parent.slug for t in content.fields.get("product", []) if t.parent_id), sample.domain or None
        ),
        "terms": {FIELD_FACETS[name]: [term(t) for t in terms] for name, terms in content.fields.items()},
        "regions": [
            {
                "class_index": classes.get(r.defect_type.slug if r.defect_type else None, 0) if r.mask_rle else 0,
                "term": term(r.defect_type) if r.defect_type else None,
                "raw_label": r.raw_label,
                "bbox": r.bbox,
                "rle": r.mask_rle,
            }
            for r in content.regions
        ],
        "captions": {"en": None, "zh": None, "ja": None}
        | {language: caption.text for language, caption in content.captions.items()},
        "qa": [
            {
                "question": p.question,
                "answer": p.answer,
                "language": p.language,
                "regions": [position[id(r)] for r in p.regions if id(r) in position],
            }
            for p in content.qa_pairs
        ],
    }


def test_batched_documents_are_those_of_the_revisions_content(published):
    export = exports.export_create(version=published, format="webdataset", target="/unused")
    classes = {c["slug"]: c["index"] for c in export.classes}
    reader = SampleDocumentReader(export, classes)
    items = {item.sample_id: item for item in published.items.select_related("sample__source", "revision")}

    records = [r for split in ("train", "val", "test") for batch in reader.batches(split=split, size=7) for r in batch]

    assert sorted(r.sample_id for r in records) == sorted(items)
    assert sum(1 for r in records if r.document["regions"]) == 30
    for record in records:
        assert record.document == _document_from_content(items[record.sample_id], classes)
        assert record.original == items[record.sample_id].sample.original.name


def test_a_missing_image_fails_the_export_naming_the_file(published, tmp_path):
    Sample.objects.filter(pk=Sample.objects.order_by("pk").first().pk).update(original="originals/00/gone.png")
    export = exports.export_create(version=published, format="webdataset", target=str(tmp_path))

    export = exports.export_run_here(export=export)

    assert export.status == JobStatus.FAILED
    assert "originals/00/gone.png" in export.error
    assert not (tmp_path / "v1" / "manifest.json").exists()


def test_each_sample_json_names_its_domain_from_the_product_term(published, tmp_path):
    import webdataset as wds

    from vocabulary.models import Term

    export = exports.export_run_here(
        export=exports.export_create(version=published, format="webdataset", target=str(tmp_path))
    )
    shards = sorted(str(p) for p in (tmp_path / published.name).glob("*.tar"))
    documents = [json.loads(sample["json"]) for sample in wds.WebDataset(shards, shardshuffle=False)]
    assert export.status == "succeeded" and documents
    for document in documents:
        products = document["terms"]["product"]
        if products:
            assert document["domain"] == Term.objects.get(slug=products[0]["slug"]).parent.slug


def test_export_version_reports_shards_not_a_file_count_it_does_not_know(published, tmp_path):
    from django.core.management import call_command

    outputs = {}
    for format_name in ("coco", "webdataset"):
        out = io.StringIO()
        call_command(
            "export_version",
            published.name,
            "--format",
            format_name,
            "--to",
            str(tmp_path / format_name),
            "--shard-samples",
            "20",
            "--verbosity",
            "0",
            stdout=out,
        )
        outputs[format_name] = out.getvalue()

    assert len(list((tmp_path / "coco" / published.name).glob("coco-*.json"))) > 1  # a file per split
    assert "file(s)" not in outputs["coco"] and outputs["coco"].strip().endswith("50 samples")
    shards = len(list((tmp_path / "webdataset").rglob("*.tar")))
    assert shards > 1 and outputs["webdataset"].strip().endswith(f"50 samples in {shards} shard(s)")
