"""A WebDataset export of the real subsets, made by the platform itself: MVTec AD bottle (masks of
several blobs per region, defect-free images), Magnetic Tile (masks) and NEU-DET (Pascal VOC boxes
only) imported with the bundled vocabulary, template captions, marked verified, one published
version exported to shards. Built once per session; the database rows are rolled back afterwards,
only the shard files remain (in a session temp folder)."""

from __future__ import annotations

import shutil
from pathlib import Path

from django.db import transaction

# Per class, how many of the subsets' files the tests import (all of MVTec's 50): enough instances
# of every kind (multi-blob masks, boxes, defect-free images) at a fraction of the import time.
PER_CLASS = 8

DATASETS = (
    ("mvtec", "mvtec_ad", "MVTec AD", "CC BY-NC-SA 4.0"),
    ("magnetic-tile", "magnetic_tile", "Magnetic Tile", "research use with citation"),
    ("neu-det", "neu_det", "NEU-DET", "research use"),
)


def copy_subset(real_data: Path, root: Path, per_class: int = PER_CLASS) -> Path:
    """A temporary copy of part of the subsets in their original layouts: MVTec whole, the first
    ``per_class`` stems of each Magnetic Tile class and each NEU-DET class. (The importers refuse
    symlinks that lead out of the import root, so the files are copied, byte for byte.)"""

    def link(source: Path) -> None:
        target = root / source.relative_to(real_data)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)

    for path in (real_data / "mvtec_ad").rglob("*"):
        if path.is_file():
            link(path)
    for folder in sorted((real_data / "magnetic_tile").glob("MT_*")):
        stems = sorted({p.stem for p in (folder / "Imgs").iterdir()})[:per_class]
        for stem in stems:
            for path in (folder / "Imgs").glob(f"{stem}.*"):
                link(path)
    neu = real_data / "neu_det" / "NEU-DET"
    by_class: dict[str, list[Path]] = {}
    for xml in sorted(neu.glob("ANNOTATIONS/*.xml")):
        by_class.setdefault(xml.stem.rsplit("_", 1)[0], []).append(xml)
    for xmls in by_class.values():
        for xml in xmls[:per_class]:
            link(xml)
            link(neu / "IMAGES" / f"{xml.stem}.jpg")
    return root


def build_real_export(real_data: Path, target: Path, *, held_out_defect_types: list[str] | None = None) -> Path:
    """Import, caption, verify, publish and export the real subsets; returns the manifest path."""
    from annotation.models import Annotation, AnnotationState
    from annotation.services import annotations_enqueue
    from captioning import services as captioning
    from catalog.models import Sample
    from releases import exports
    from releases.versions import dataset_version_create, dataset_version_publish
    from tests.catalog.helpers import run_import
    from tests.vocabulary.conftest import bundled_records
    from vocabulary import services as vocabulary_services

    with transaction.atomic():
        vocabulary_services.vocabulary_load(records=bundled_records())
        vocabulary_services.vocabulary_version_release(note="test")
        for importer, folder, name, license_text in DATASETS:
            run_import(importer, real_data / folder, source=name, license_text=license_text)
        annotations_enqueue(samples=Sample.objects.all(), by=None)
        captioning.caption_job_run(job=captioning.caption_job_create(captioner="template"))
        for annotation in Annotation.objects.all():
            Annotation.objects.filter(pk=annotation.pk).update(
                state=AnnotationState.VERIFIED, queue="", final_revision_id=annotation.current_revision_id
            )
        split_plan = {"seed": 3, "train": 0.7, "val": 0.0, "test": 0.3}
        if held_out_defect_types:
            split_plan["held_out_defect_types"] = held_out_defect_types
        version = dataset_version_publish(version=dataset_version_create(title="real subsets", split_plan=split_plan))
        export = exports.export_create(version=version, format="webdataset", target=str(target))
        export = exports.export_run_here(export=export)
        assert export.status == "succeeded", export.error
        manifest = Path(exports.export_manifest_url(export))
        transaction.set_rollback(True)
    return manifest
