"""A small platform with one public and one restricted source, and everything that can be made from
each: imported samples with regions, import rows, annotations through all three stages, audit and
source events, caption jobs with attempts and drafts, an agreement report, a dataset version, its
export and a training run. Every text of the restricted side carries MARK, so a response that
shows any of it is caught by looking for MARK."""

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from accounts.roles import Role
from annotation.models import (
    AgreementReport,
    Annotation,
    AnnotationRevision,
    AuditEvent,
    Caption,
    ModelPrediction,
    PredictedRegion,
)
from annotation.services import agreement_report_request, agreement_report_run, annotations_enqueue
from captioning import services as captioning
from captioning.models import CaptionDraft, CaptionJob
from catalog import services as catalog
from catalog.ingest import import_run
from catalog.models import ImportJob, ImportRow, Sample, Source, SourceEvent
from modeling.models import (
    EmbeddingJob,
    ModelCheckpoint,
    PreannotationItem,
    PreannotationJob,
    RunKind,
    TrainingRun,
)
from releases import exports, versions
from releases.models import DatasetVersion, Export, ExportShard
from vocabulary.services import vocabulary_version_release

from ..annotation.conftest import drive
from ..annotation.factories import Vocabulary

MARK = "Zq7PartnerSecret"
STAFF_ROLES = (Role.DATA_MANAGER, Role.ML_ENGINEER)
WORK_ROLES = (Role.ANNOTATOR, Role.REVIEWER, Role.EXPERT)


def _image_folder(folder: Path, stem: str, count: int, text: str) -> Path:
    """`count` small PNGs with a square defect mask each, and the folder manifest naming them."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(len(stem))
    lines = []
    for index in range(count):
        pixels = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{stem}-{index}.png")
        mask = np.zeros((48, 64), dtype=np.uint8)
        mask[10 + index : 20 + index, 12:30] = 255
        Image.fromarray(mask).save(folder / f"{stem}-{index}_mask.png")
        lines.append(
            {
                "image": f"{stem}-{index}.png",
                "mask": f"{stem}-{index}_mask.png",
                "label": "scratch",
                "text": text,
                "product": "bottle",
            }
        )
    (folder / "manifest.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return folder


@dataclass
class World:
    public: Source
    restricted: Source
    people: object
    vocab: Vocabulary
    restricted_objects: dict[type, object] = field(default_factory=dict)
    public_objects: dict[type, object] = field(default_factory=dict)


def build_world(tmp_path: Path, people, vocab, admin) -> World:
    """people: the workflow seats of tests/annotation/conftest.py; they do the restricted source's
    work too, so they are its members."""
    vocabulary_version_release(note="the terms of the test")
    public = catalog.source_create(name="Open Bench", by=None)
    restricted = catalog.source_create(name=f"{MARK} line", restricted=True, by=None, license=f"{MARK} contract")
    seats = [people.annotator, people.reviewer, people.expert1, people.expert2, people.expert3, people.manager]
    catalog.source_access_set(source=restricted, by=None, members=seats)

    for source, stem, text in ((public, "open", "an open scratch"), (restricted, MARK, f"{MARK} scratch text")):
        folder = _image_folder(tmp_path / stem, stem, 3, text)
        job = catalog.import_job_create(
            format="folder", path=str(folder), source=source, created_by=None, restrict_to_import_roots=False
        )
        import_run(job=job)
    annotations_enqueue(samples=Sample.objects.all(), by=None)

    world = World(public=public, restricted=restricted, people=people, vocab=vocab)
    for source, objects in ((public, world.public_objects), (restricted, world.restricted_objects)):
        samples = list(Sample.objects.filter(source=source).order_by("pk"))
        verified = drive(Annotation.objects.get(pk=samples[0].pk), people, vocab, "verified")
        drive(Annotation.objects.get(pk=samples[1].pk), people, vocab, "submitted")
        objects.update(
            {
                Source: source,
                Sample: samples[0],
                Annotation: verified,
                AnnotationRevision: verified.final_revision,
                AuditEvent: AuditEvent.objects.filter(annotation=verified).first(),
                ImportJob: ImportJob.objects.get(source=source),
                ImportRow: ImportRow.objects.filter(job__source=source).first(),
                SourceEvent: SourceEvent.objects.filter(source=source).first(),
                Caption: Caption.objects.filter(revision=verified.final_revision).first(),
            }
        )

    # Captions drafted over each source by a job its member (or an admin) started.
    for source, objects, starter in (
        (public, world.public_objects, people.manager),
        (restricted, world.restricted_objects, admin),
    ):
        job = captioning.caption_job_create(captioner="template", filters={"sources": [source.pk]}, created_by=starter)
        captioning.caption_job_run(job=job)
        objects[CaptionJob] = job
        objects[CaptionDraft] = CaptionDraft.objects.filter(job=job).first()
        report = agreement_report_request(by=starter, scope="dataset", source=source)
        agreement_report_run(report=AgreementReport.objects.get(pk=report.pk))
        objects[AgreementReport] = report

    # Versions: one of public data only, one holding the restricted source's samples.
    for objects, selection, title in (
        (world.public_objects, {"sources": [public.pk]}, "open release"),
        (world.restricted_objects, {"include_restricted": True}, f"{MARK} release"),
    ):
        version = versions.dataset_version_create(
            title=title, selection=selection, split_plan={"train": 1, "val": 0, "test": 0}, created_by=admin
        )
        versions.dataset_version_publish(version=version)
        export = exports.export_create(
            version=version,
            format="webdataset",
            target=str(tmp_path / "exports" / title.replace(" ", "-")),
            include_restricted=True,
        )
        exports.export_run_here(export=export)
        run = TrainingRun.objects.create(
            kind=RunKind.STAGE_1, dataset_version=version, export=export, out_dir=str(tmp_path / "runs" / title)
        )
        objects.update(
            {
                DatasetVersion: version,
                Export: export,
                ExportShard: ExportShard.objects.filter(export=export).first(),
                TrainingRun: run,
                ModelCheckpoint: ModelCheckpoint.objects.create(run=run, step=1, stage="stage1", path=f"{title}/ckpt"),
            }
        )
    # A pre-annotation job over each source and a prediction of the sample the matrix names (written
    # directly: the sample is verified, and the job would rightly refuse to predict it).
    for source, objects in ((public, world.public_objects), (restricted, world.restricted_objects)):
        sample = objects[Sample]
        prediction = ModelPrediction.objects.create(
            annotation_id=sample.pk,
            model_key="checkpoint:world",
            model_version=f"{source.name} model",  # the restricted source's name carries MARK
            uncertainty=0.5,
        )
        job = PreannotationJob.objects.create(
            checkpoint=objects[ModelCheckpoint], source=source, classes=[vocab.scratch.slug]
        )
        objects.update(
            {
                PreannotationJob: job,
                PreannotationItem: PreannotationItem.objects.create(
                    job=job, annotation_id=sample.pk, outcome="predicted", regions=1
                ),
                ModelPrediction: prediction,
                PredictedRegion: PredictedRegion.objects.create(
                    prediction=prediction,
                    defect_type=vocab.scratch,
                    mask_rle={"size": [sample.height, sample.width], "counts": [sample.height * sample.width]},
                    bbox=[0, 0, 1, 1],
                    area=0,
                    score=0.9,
                ),
            }
        )
    # An embedding job over each source (never run: its row is what the routes show).
    for source, objects in ((public, world.public_objects), (restricted, world.restricted_objects)):
        job = EmbeddingJob.objects.create(model_name="tiny", weights=f"/models/{source.name}.pt")
        job.sources.set([source])
        objects[EmbeddingJob] = job
    assert world.restricted_objects[DatasetVersion].sources.filter(pk=restricted.pk).exists()
    return world
