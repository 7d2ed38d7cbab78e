"""Generated images back into the catalog: synthetic samples, flagged, queued for the normal
three-stage review like any imported sample.

Two generators write folders: Defect-Gen (OUT/manifest.json of kind "defect-gen", OUT/images/*.png
and OUT/masks/*.png, docs/defect-gen.md), whose masks become regions, and Stage 1 text-to-image
(kind "text-to-image", OUT/images/*.png, modeling/core/text_to_image.py), whose prompt is kept as
each sample's source text. This module turns either into the catalog's folder-import manifest and
runs the ordinary importer, so synthetic samples get the same assets, hashes, duplicate checks and
regions as real ones.
"""

from __future__ import annotations

import json
from pathlib import Path

from annotation.services import annotations_enqueue
from base.jobs import JobStatus
from catalog.ingest import import_run
from catalog.models import Sample, Source, SourceKind
from catalog.services import DerivedSourceError, import_job_create, source_derived_from
from vocabulary.models import Term

from .models import TrainingRun
from .selectors import lineage_training_sources

FOLDER_MANIFEST = "manifest.jsonl"
GENERATOR_NAMES = {"defect-gen": "Defect-Gen synthesis", "text-to-image": "Text-to-image synthesis"}


class SyntheticImportError(ValueError):
    """The generated folder cannot be imported; the message says why."""


def _generated_manifest(folder: Path) -> dict:
    path = folder / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise SyntheticImportError(f"cannot read {path} ({error})") from None
    if manifest.get("kind") not in GENERATOR_NAMES or not isinstance(manifest.get("samples"), list):
        raise SyntheticImportError(f"{path} is not a generation manifest (kind {manifest.get('kind')!r})")
    return manifest


def _term_label(slug: str | None) -> str:
    """The English label the importer maps back to the term (product and domain options are slugs)."""
    if not slug:
        return ""
    term = Term.objects.filter(slug=slug).first()
    return term.label_en if term else slug


def folder_manifest_rows(manifest: dict, *, product: str = "", domain: str = "") -> list[dict]:
    """One folder-import row per generated image: Defect-Gen's mask values map to the classes'
    English labels; a text-to-image sample keeps its prompt as the sample's source text."""
    if manifest["kind"] == "text-to-image":
        return [
            {"image": sample["image"], "text": sample["prompt"], "product": product, "domain": domain}
            for sample in manifest["samples"]
        ]
    labels = {
        str(position): (entry.get("labels") or {}).get("en") or entry["slug"]
        for position, entry in enumerate(manifest["classes"])
        if position > 0
    }
    return [
        {"image": sample["image"], "mask": sample["mask"], "mask_classes": labels, "product": product, "domain": domain}
        for sample in manifest["samples"]
    ]


def synthetic_samples_import(*, run: TrainingRun, folder: Path) -> tuple[Source, int]:
    """Import a synthesis run's folder; returns the synthetic source and how many samples it holds.

    Safe to repeat: the source is found by name and the importer skips images it already has."""
    manifest = _generated_manifest(folder)
    training_options = run.parent.options if run.parent_id else {}
    rows = folder_manifest_rows(
        manifest,
        product=_term_label(training_options.get("product")),
        domain=_term_label(training_options.get("domain")),
    )
    (folder / FOLDER_MANIFEST).write_text("".join(json.dumps(row) + "\n" for row in rows))

    provenance = {
        "generated_by_run": run.pk,
        "generator": manifest["kind"],
        "generator_run": run.parent_id,
        "checkpoint": manifest.get("checkpoint"),
        "checkpoint_step": manifest.get("checkpoint_step"),
        "dataset_version": run.dataset_version.name,
        "options": run.options,
    }
    try:
        source = source_derived_from(
            name=f"{GENERATOR_NAMES[manifest['kind']]}, run {run.pk}",
            kind=SourceKind.SYNTHETIC,
            license=f"Synthetic, generated from {run.dataset_version.name}; the licenses of its sources apply.",
            provenance=json.dumps(provenance, sort_keys=True),
            # Data generated from restricted partner samples stays as restricted as they are: those the
            # generator learned from (its parent runs' exports) as well as this run's own.
            inputs=lineage_training_sources(run),
        )
    except DerivedSourceError as error:
        raise SyntheticImportError(str(error)) from None
    job = import_job_create(
        format="folder", path=str(folder), source=source, created_by=run.created_by, restrict_to_import_roots=False
    )
    job = import_run(job=job)
    if job.status != JobStatus.SUCCEEDED:
        raise SyntheticImportError(job.error or f"import job {job.pk} ended {job.status}")
    samples = Sample.objects.filter(source=source)
    annotations_enqueue(samples=samples, by=run.created_by)
    return source, samples.count()
