"""Exports of the real subsets (MVTec AD bottle, Magnetic Tile, NEU-DET), built once per test module:
importing, captioning and exporting them takes a minute, and the tests only read what was written.

The rows live in a transaction that is rolled back when the module's tests are done, so the tests
that use these exports read files and the facts gathered here, not the database."""

from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.test import override_settings

from annotation.models import Annotation, AnnotationState
from annotation.services import annotations_enqueue
from captioning import services as captioning
from catalog.models import Sample
from releases import exports
from releases.models import DatasetVersion
from releases.sample_documents import SampleDocumentReader
from releases.versions import dataset_version_create, dataset_version_publish
from vocabulary import services as vocabulary_services

from ..catalog.helpers import run_import
from ..vocabulary.conftest import bundled_records

SUBSETS = (
    ("mvtec", "mvtec_ad", "MVTec AD", "CC BY-NC-SA 4.0"),
    ("magnetic-tile", "magnetic_tile", "Magnetic Tile", "MIT"),
    ("neu-det", "neu_det", "NEU-DET", "(free for research; see the NEU-DET page)"),
)


@dataclass
class RealExports:
    folder: Path  # the WebDataset export's folder: shards, Parquet index, card, manifest
    formats: dict[str, Path]  # other format -> its export folder
    documents: dict[int, dict]  # sample id -> the json document its shard holds
    originals: dict[int, bytes]  # sample id -> the original file's bytes
    classes: list[dict]
    version: str


def build_real_exports(real_data: Path, out: Path, media: Path, formats=("coco", "anomalib", "yolo")):
    """Context manager body: yields RealExports, then rolls everything back."""
    with override_settings(MEDIA_ROOT=media, CAPTION_RATE_LIMIT_PER_MINUTE=0), transaction.atomic():
        vocabulary_services.vocabulary_load(records=bundled_records())
        vocabulary_services.vocabulary_version_release(note="test")
        for importer, folder, name, license_text in SUBSETS:
            job = run_import(importer, real_data / folder, source=name, license_text=license_text)
            assert job.status == "succeeded", (name, job.error)
        annotations_enqueue(samples=Sample.objects.all(), by=None)
        captioning.caption_job_run(job=captioning.caption_job_create(captioner="template"))
        for annotation in Annotation.objects.all():
            Annotation.objects.filter(pk=annotation.pk).update(
                state=AnnotationState.VERIFIED, queue="", final_revision_id=annotation.current_revision_id
            )
        version = dataset_version_publish(version=dataset_version_create(title="real subsets", split_plan={"seed": 3}))
        webdataset = _run(version, "webdataset", out / "webdataset", shard_max_samples=150)
        reader = SampleDocumentReader(webdataset, {c["slug"]: c["index"] for c in webdataset.classes})
        documents = {
            record.sample_id: record.document
            for split in ("train", "val", "test")
            for batch in reader.batches(split=split)
            for record in batch
        }
        originals = {sample.pk: Path(sample.original.path).read_bytes() for sample in Sample.objects.all()}
        others = {name: out / name / version.name for name in formats if _run(version, name, out / name)}
        yield RealExports(
            folder=out / "webdataset" / version.name,
            formats=others,
            documents=documents,
            originals=originals,
            classes=webdataset.classes,
            version=version.name,
        )
        transaction.set_rollback(True)


def _run(version: DatasetVersion, format: str, target: Path, **options):
    export = exports.export_run_here(
        export=exports.export_create(version=version, format=format, target=str(target), **options)
    )
    assert export.status == "succeeded", export.error
    return export
