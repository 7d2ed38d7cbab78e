"""Launching, cancelling and registering training runs. The supervision of the trainer process is in runner.py."""

from __future__ import annotations

import json
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from base.jobs import JobStatus
from releases.models import DatasetVersion, Export, ExportFormat
from releases.selectors import versions_visible_to

from .core.checkpoint_files import META_NAME, checkpoint_missing, find_checkpoint
from .models import RunKind, TrainingRun
from .runner import MetricsFollower, mirror_progress
from .selectors import runs_visible_to

# What each kind may start from: Stage 2 from a Stage 1 run (optional), evaluation from a Stage 2 run,
# synthesis from a Defect-Gen run. Evaluation and synthesis need theirs.
PARENT_KIND = {
    RunKind.STAGE_2: RunKind.STAGE_1,
    RunKind.EVALUATE: RunKind.STAGE_2,
    RunKind.GENERATE: RunKind.DEFECT_GEN,
    RunKind.TEXT_TO_IMAGE: RunKind.STAGE_1,
}
PARENT_REQUIRED = {RunKind.EVALUATE, RunKind.GENERATE, RunKind.TEXT_TO_IMAGE}
# The options each kind understands, and their types.
OPTIONS = {
    RunKind.DEFECT_GEN: {"classes": list, "product": str, "domain": str},
    RunKind.GENERATE: {"per_class": int, "seed": int, "switch_at": int},
    RunKind.TEXT_TO_IMAGE: {
        "limit": int,
        "per_prompt": int,
        "guidance": (int, float),
        "steps": int,
        "sampler": str,
        "seed": int,
    },
}
DEFAULT_PER_CLASS = 10
# Text-to-image from the admin: the first 20 captions of the split, one image each, SD's guidance.
TEXT_TO_IMAGE_DEFAULTS = {"limit": 20, "per_prompt": 1, "guidance": 7.5, "steps": 50, "sampler": "ddim"}
SAMPLERS = ("ddim", "dpm-solver")


class RunError(ValueError):
    """A run that cannot be launched as asked; the message names what is wrong."""


def newest_shard_export(version: DatasetVersion) -> Export | None:
    return (
        Export.objects.filter(version=version, format=ExportFormat.WEBDATASET, status=JobStatus.SUCCEEDED)
        .order_by("-finished_at", "-id")
        .first()
    )


def _check_overrides(overrides: list[str]) -> list[str]:
    cleaned = [line.strip() for line in overrides if line.strip()]
    for line in cleaned:
        key, sep, _ = line.partition("=")
        if not sep or not key.strip() or "." not in key:
            raise RunError(f"config override {line!r} is not KEY=VALUE with a dotted key (e.g. train.lr=5e-5)")
    return cleaned


def _check_options(kind: str, options: dict) -> dict:
    known = OPTIONS.get(kind, {})
    for name, value in options.items():
        if name not in known:
            allowed = ", ".join(known) or "none"
            raise RunError(f"option {name!r} means nothing to a {RunKind(kind).label} (options: {allowed})")
        if not isinstance(value, known[name]) or isinstance(value, bool):
            wanted = "number" if isinstance(known[name], tuple) else known[name].__name__
            raise RunError(f"option {name!r} must be a {wanted}, got {value!r}")
    if kind == RunKind.DEFECT_GEN and options.get("product") and options.get("domain"):
        raise RunError("give a product or a domain for Defect-Gen, not both")
    if kind == RunKind.GENERATE:
        options = {"per_class": DEFAULT_PER_CLASS, **options}
        if options["per_class"] < 1:
            raise RunError("per_class must be at least 1")
    if kind == RunKind.TEXT_TO_IMAGE:
        options = _text_to_image_options(options)
    return options


def _text_to_image_options(options: dict) -> dict:
    options = {**TEXT_TO_IMAGE_DEFAULTS, **options}
    for name in ("limit", "per_prompt", "steps"):
        if options[name] < 1:
            raise RunError(f"{name} must be at least 1")
    if options["guidance"] < 1:
        raise RunError("guidance must be at least 1 (1 = no guidance)")
    if options["sampler"] not in SAMPLERS:
        raise RunError(f"sampler must be one of {', '.join(SAMPLERS)}")
    return options


def _check_parent(kind: str, parent: TrainingRun | None) -> None:
    """A fine-tuning kind starts from a finished run of the kind before it; the others from nothing."""
    needed_parent = PARENT_KIND.get(kind)
    if kind in PARENT_REQUIRED and parent is None:
        raise RunError(f"a {RunKind(kind).label} needs the {RunKind(needed_parent).label} run it starts from")
    if parent is not None:
        if needed_parent is None or parent.kind != needed_parent:
            raise RunError(f"a {RunKind(kind).label} cannot start from run {parent.pk} ({parent.get_kind_display()})")
        if parent.status != JobStatus.SUCCEEDED or not parent.checkpoint_path:
            raise RunError(f"run {parent.pk} has no finished checkpoint (status {parent.status})")


def _shards_to_train_on(dataset_version: DatasetVersion, export: Export | None) -> Export:
    """The export named, if it is a WebDataset export of the version; else the version's newest finished one."""
    if export is None:
        export = newest_shard_export(dataset_version)
        if export is None:
            raise RunError(
                f"{dataset_version.name} has no finished WebDataset export: export it first "
                f"(admin Exports, or `manage.py export_version {dataset_version.number} --format webdataset --to DIR`)"
            )
    elif export.version_id != dataset_version.pk or export.format != ExportFormat.WEBDATASET:
        raise RunError(f"export {export.pk} is not a WebDataset export of {dataset_version.name}")
    return export


def training_run_launch(
    *,
    kind: str,
    dataset_version: DatasetVersion,
    created_by: User | None = None,
    parent: TrainingRun | None = None,
    export: Export | None = None,
    config_preset: str = "tiny",
    config_overrides: list[str] | None = None,
    options: dict | None = None,
    steps: int | None = None,
    few_shot_per_class: int | None = None,
    split: str = "",
    enqueue: bool = True,
) -> TrainingRun:
    """Create a queued run on the version's newest finished WebDataset export and hand it to the `train` queue."""
    if kind not in RunKind.values:
        raise RunError(f"unknown run kind {kind!r}; one of {', '.join(RunKind.values)}")
    if created_by is not None and not versions_visible_to(created_by).filter(pk=dataset_version.pk).exists():
        raise RunError(f"{dataset_version.name} holds samples of sources you may not see")
    if created_by is not None and parent is not None and not runs_visible_to(created_by).filter(pk=parent.pk).exists():
        raise RunError(f"no run {parent.pk}")
    _check_parent(kind, parent)
    export = _shards_to_train_on(dataset_version, export)
    if not (config_preset or "").strip():
        raise RunError("a config preset (tiny, sd15) or config file path is required")
    if kind == RunKind.CLICK and few_shot_per_class:
        raise RunError("a Click segmenter training uses every mask instance; few-shot selection does not apply")
    if steps is not None and steps < 1:
        raise RunError("steps must be at least 1")
    options = _check_options(kind, options or {})

    with transaction.atomic():
        run = TrainingRun.objects.create(
            kind=kind,
            dataset_version=dataset_version,
            export=export,
            parent=parent,
            config_preset=config_preset.strip(),
            config_overrides=_check_overrides(config_overrides or []),
            options=options,
            steps=steps,
            few_shot_per_class=few_shot_per_class,
            split=split.strip(),
            total_steps=steps or 0,
            created_by=created_by,
        )
        if enqueue:
            from .tasks import training_run_task

            transaction.on_commit(lambda: training_run_task.delay(run.pk))
    return run


def training_run_cancel(*, run: TrainingRun) -> TrainingRun:
    """A queued run is cancelled at once; a running one is stopped by its supervisor within a poll."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run.pk)
        if run.is_finished:
            return run
        if run.status == JobStatus.PENDING:
            run.status, run.finished_at = JobStatus.CANCELLED, timezone.now()
        run.cancel_requested = True
        run.save(update_fields=["status", "finished_at", "cancel_requested"])
    return run


# The kind of run each checkpoint stage (checkpoint.json's "stage") comes from.
STAGE_KIND = {"1": RunKind.STAGE_1, "2": RunKind.STAGE_2, "click": RunKind.CLICK, "defect-gen": RunKind.DEFECT_GEN}


def _defect_class_slugs(classes: list[dict]) -> list[str]:
    """The defect classes in index order, background (index 0) left out."""
    return [entry["slug"] for entry in sorted(classes, key=lambda entry: entry["index"]) if entry["index"]]


def training_run_register(*, out_dir: str | Path, export: Export, created_by: User | None = None) -> TrainingRun:
    """A run trained outside the platform (`python -m modeling.train`, torchrun on a GPU machine) recorded
    as a finished run of the export whose shards it read, with its checkpoints and metrics, so that
    pre-annotation, evaluation and Stage 2 can start from it. Its classes must be the export's: a
    prediction's class index is read through the export's class list."""
    out_dir = Path(out_dir).resolve()
    if problem := checkpoint_missing(out_dir):
        raise RunError(f"{problem} (give the --out folder of a finished `python -m modeling.train`)")
    if find_checkpoint(out_dir) == out_dir:
        raise RunError(f"{out_dir} is one checkpoint folder; give the run's --out folder (it holds checkpoints/)")
    if created_by is not None and not versions_visible_to(created_by).filter(pk=export.version_id).exists():
        raise RunError(f"{export.version.name} holds samples of sources you may not see")
    if export.format != ExportFormat.WEBDATASET or export.status != JobStatus.SUCCEEDED:
        raise RunError(f"export {export.pk} is not a finished WebDataset export")
    if registered := TrainingRun.objects.filter(out_dir=str(out_dir)).first():
        raise RunError(f"{out_dir} is already run {registered.pk}")
    meta = json.loads((find_checkpoint(out_dir) / META_NAME).read_text())
    kind = STAGE_KIND.get(str(meta.get("stage")))
    if kind is None:
        raise RunError(f"checkpoint stage {meta.get('stage')!r} is not one the platform runs ({', '.join(STAGE_KIND)})")
    if "classes" in meta and _defect_class_slugs(meta["classes"]) != _defect_class_slugs(export.classes):
        raise RunError(
            f"the checkpoint's classes ({', '.join(_defect_class_slugs(meta['classes']))}) are not export "
            f"{export.pk}'s ({', '.join(_defect_class_slugs(export.classes))}): register it with the export it trained on"
        )
    with transaction.atomic():
        now = timezone.now()
        run = TrainingRun.objects.create(
            kind=kind,
            dataset_version=export.version,
            export=export,
            config_preset=str(out_dir / "config.json"),
            status=JobStatus.SUCCEEDED,
            started_at=now,
            finished_at=now,
            out_dir=str(out_dir),
            created_by=created_by,
        )
        mirror_progress(run, MetricsFollower(out_dir / "metrics.jsonl"))
    run.refresh_from_db()
    return run
