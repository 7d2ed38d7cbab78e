"""Supervises one training run: starts the torch core as a subprocess (torchrun when several GPUs are
visible), mirrors its metrics.jsonl, checkpoints and log into the database while it runs, stops it
when the run is cancelled, and records how it ended.

The subprocess boundary is deliberate: the torch core never imports Django, a crash or an
out-of-memory kill of the trainer cannot take the worker with it, and the same command runs by hand
on a GPU node.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from base.jobs import JobStatus
from releases.exports import export_manifest_url

from .caption_terms import caption_terms_write
from .models import ModelCheckpoint, RunKind, RunMetric, TrainingRun
from .synthetic import SyntheticImportError, synthetic_samples_import

LOG_NAME = "trainer.log"
CAPTION_TERMS_NAME = "caption_terms.jsonl"
SYNTHESIS_KINDS = (RunKind.GENERATE, RunKind.TEXT_TO_IMAGE)  # runs whose images are imported into the catalog
LOG_TAIL_LINES = 60
# How long a cancelled trainer has to finish its step and save a checkpoint before it is killed;
# a full-size checkpoint with optimizer state is several GB.
STOP_GRACE_SECONDS = 120


def visible_gpu_count() -> int:
    try:
        import torch
    except ImportError:  # a worker without the train extras runs nothing on GPUs
        return 0
    return torch.cuda.device_count()


def run_folder(run: TrainingRun) -> Path:
    return Path(settings.TRAINING_ROOT) / f"run-{run.pk:06d}"


def generated_folder(out_dir: Path) -> Path:
    return out_dir / "generated"


def _die_with_parent() -> None:
    """In the child, before exec: a worker that dies takes its trainer with it (Linux), so a resumed
    run never races an orphan. SIGTERM lets torchrun stop its ranks."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def trainer_command(run: TrainingRun, *, out_dir: Path, gpus: int, resume: bool) -> list[str]:
    """The command line of the torch core for this run; torchrun spreads training over the GPUs."""
    shards = export_manifest_url(run.export)
    if run.kind == RunKind.EVALUATE:
        return _evaluate_command(run, shards=shards, out_dir=out_dir)
    if run.kind == RunKind.TEXT_TO_IMAGE:
        return _text_to_image_command(run, shards=shards, out_dir=out_dir)
    if run.kind == RunKind.GENERATE:
        return _generate_command(run, out_dir=out_dir)
    args = _train_args(run, shards=shards, out_dir=out_dir, resume=resume)
    if gpus > 1:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={gpus}", *args]
    return [sys.executable, *args]


def _evaluate_command(run: TrainingRun, *, shards: str, out_dir: Path) -> list[str]:
    return [
        sys.executable,
        *("-m", "modeling.evaluate", "--checkpoint", run.parent.checkpoint_path),
        *("--shards", shards, "--out", str(out_dir), "--split", run.split or "test"),
    ]


def _text_to_image_command(run: TrainingRun, *, shards: str, out_dir: Path) -> list[str]:
    options = run.options
    command = [sys.executable, "-m", "modeling.generate", "--stage", "1", "--checkpoint", run.parent.checkpoint_path]
    command += ["--from-shards", shards, "--split", run.split or "test", "--out", str(generated_folder(out_dir))]
    for option, flag in (("limit", "--limit"), ("per_prompt", "--per-prompt"), ("guidance", "--guidance")):
        command += [flag, str(options[option])]
    command += ["--steps", str(options["steps"]), "--sampler", options["sampler"]]
    if "seed" in options:
        command += ["--seed", str(options["seed"])]
    return command


def _generate_command(run: TrainingRun, *, out_dir: Path) -> list[str]:
    command = [sys.executable, "-m", "modeling.generate", "--checkpoint", run.parent.checkpoint_path]
    command += ["--out", str(generated_folder(out_dir)), "--per-class", str(run.options["per_class"])]
    for option, flag in (("seed", "--seed"), ("switch_at", "--switch-at")):
        if option in run.options:
            command += [flag, str(run.options[option])]
    return command


TRAIN_STAGES = {RunKind.STAGE_1: "1", RunKind.STAGE_2: "2", RunKind.DEFECT_GEN: "defect-gen", RunKind.CLICK: "click"}


def _train_args(run: TrainingRun, *, shards: str, out_dir: Path, resume: bool) -> list[str]:
    """`-m modeling.train ...` for a training kind (without the interpreter: torchrun may go first)."""
    args = ["-m", "modeling.train", "--stage", TRAIN_STAGES[run.kind]]
    args += ["--config", run.config_preset, "--shards", shards, "--out", str(out_dir)]
    args += ["--split", run.split or "train"]
    if run.steps:
        args += ["--steps", str(run.steps)]
    if run.few_shot_per_class:
        args += ["--few-shot", str(run.few_shot_per_class)]
    if run.parent_id:
        args += ["--init", run.parent.checkpoint_path]
    if run.kind == RunKind.DEFECT_GEN:
        if run.options.get("classes"):
            args += ["--classes", ",".join(run.options["classes"])]
        for option in ("product", "domain"):
            if run.options.get(option):
                args += [f"--{option}", run.options[option]]
    for override in run.config_overrides:
        args += ["--set", override]
    if run.kind == RunKind.STAGE_2 and (out_dir / CAPTION_TERMS_NAME).is_file():
        args += ["--set", f"data.caption_terms={out_dir / CAPTION_TERMS_NAME}"]
    if resume:
        args.append("--resume")
    return args


class MetricsFollower:
    """Reads the complete lines appended to metrics.jsonl since the last call."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0

    def new_lines(self) -> list[dict]:
        if not self.path.is_file():
            return []
        with self.path.open("rb") as stream:
            stream.seek(self.offset)
            chunk = stream.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self.offset += len(complete)
        lines = []
        for raw in complete.splitlines():
            try:
                lines.append(json.loads(raw))
            except json.JSONDecodeError:
                continue  # a torn line from a killed writer; the next line is whole
        return lines


class HeldElsewhere(Exception):
    """The run is RUNNING with a fresh heartbeat: another worker supervises it (or just died)."""


def _claim(run_id: int) -> tuple[TrainingRun | None, bool]:
    """Mark the run RUNNING for this worker. Returns (run, resume) or (None, _) when there is nothing to do.

    A redelivered message (the broker's visibility timeout, or a worker that died) finds the run RUNNING:
    with a fresh heartbeat another worker may still hold it (HeldElsewhere: look again later); with a
    stale one that worker is gone, and the run continues from its newest checkpoint.
    """
    stale_before = timezone.now() - timedelta(seconds=settings.TRAINING_HEARTBEAT_STALE_SECONDS)
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.is_finished:
            return None, False
        if run.cancel_requested:
            run.status, run.finished_at = JobStatus.CANCELLED, timezone.now()
            run.save(update_fields=["status", "finished_at"])
            return None, False
        if run.status == JobStatus.RUNNING and run.heartbeat_at and run.heartbeat_at > stale_before:
            raise HeldElsewhere(run_id)
        resume = run.status == JobStatus.RUNNING
        run.status = JobStatus.RUNNING
        run.attempts += 1
        run.started_at = run.started_at or timezone.now()
        run.heartbeat_at = timezone.now()
        run.error = ""
        run.save(update_fields=["status", "attempts", "started_at", "heartbeat_at", "error"])
    return run, resume


def training_run_execute(run_id: int) -> None:
    run, resume = _claim(run_id)
    if run is None:
        return
    out_dir = run_folder(run)
    out_dir.mkdir(parents=True, exist_ok=True)
    synthesis = run.kind in SYNTHESIS_KINDS
    if synthesis and (generated_folder(out_dir) / "manifest.json").is_file():
        # A redelivered synthesis whose images are complete: only the import is left to do.
        _finish_synthesis(run, out_dir)
        return
    if synthesis:
        shutil.rmtree(generated_folder(out_dir), ignore_errors=True)  # a half-written folder from a lost worker
    if run.kind == RunKind.STAGE_2 and not any(o.startswith("data.caption_terms=") for o in run.config_overrides):
        # Stage 2 grounds on the caption terms the vocabulary's normalizer finds (modeling/caption_terms.py)
        caption_terms_write(version=run.dataset_version, path=out_dir / CAPTION_TERMS_NAME)
    command = trainer_command(run, out_dir=out_dir, gpus=visible_gpu_count(), resume=resume)
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(out_dir / LOG_NAME, "ab") as log:
        log.write(f"$ {' '.join(command)}\n".encode())
        log.flush()
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=settings.BASE_DIR,
            env=environment,
            start_new_session=True,  # its own process group: cancel stops torchrun's ranks too
            preexec_fn=_die_with_parent,
        )
    TrainingRun.objects.filter(pk=run.pk).update(command=command, out_dir=str(out_dir), pid=process.pid)
    run.out_dir = str(out_dir)

    follower = MetricsFollower(out_dir / "metrics.jsonl")
    while True:
        exit_code = process.poll()
        mirror_progress(run, follower)
        if exit_code is not None:
            break
        if TrainingRun.objects.filter(pk=run.pk, cancel_requested=True).exists():
            _stop(process)
            mirror_progress(run, follower)
            kept = f"; resumable checkpoint at step {_checkpoint_step(run)}" if run.checkpoint_path else ""
            _finish(run, JobStatus.CANCELLED, error=f"cancelled at step {run.step}{kept}")
            return
        time.sleep(settings.TRAINING_POLL_SECONDS)

    if exit_code == 0:
        if run.kind == RunKind.EVALUATE:
            _record_report(run, out_dir)
        if synthesis:
            _finish_synthesis(run, out_dir)
            return
        _finish(run, JobStatus.SUCCEEDED)
    else:
        _finish(run, JobStatus.FAILED, error=failure_message(exit_code, log_tail(out_dir)))


def _finish_synthesis(run: TrainingRun, out_dir: Path) -> None:
    """Import the generated images (and masks) into the catalog as synthetic samples, queued for stage 1."""
    try:
        source, imported = synthetic_samples_import(run=run, folder=generated_folder(out_dir))
    except SyntheticImportError as error:
        _finish(run, JobStatus.FAILED, error=f"import of the generated samples failed: {error}")
        return
    TrainingRun.objects.filter(pk=run.pk).update(
        generated_source=source, metrics={"generated": imported, "source": source.name}
    )
    _finish(run, JobStatus.SUCCEEDED)


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the trainer (or torchrun, which passes it to its ranks): it finishes its step and
    saves a checkpoint (modeling/core/trainer.py). Only after the grace period is the whole process
    group killed. Not the group first: the data loader's workers would die under the trainer."""
    try:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=STOP_GRACE_SECONDS)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass  # gone already, or past its grace: the group is killed below
    try:
        os.killpg(process.pid, signal.SIGKILL)  # what is left of the group: stragglers, or a trainer past its grace
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def _checkpoint_step(run: TrainingRun) -> int | str:
    checkpoint = ModelCheckpoint.objects.filter(run=run).order_by("-step").first()
    return checkpoint.step if checkpoint else "?"


def mirror_progress(run: TrainingRun, follower: MetricsFollower) -> None:
    """Copy what the trainer wrote since the last look (metrics lines, total steps, complete checkpoints, the log's
    tail) into the database."""
    lines = [line for line in follower.new_lines() if isinstance(line.get("step"), int)]
    if lines:
        RunMetric.objects.bulk_create(
            [RunMetric(run=run, step=line["step"], values=line) for line in lines], ignore_conflicts=True
        )
        run.step, run.metrics = lines[-1]["step"], lines[-1]
    if not run.total_steps:
        run.total_steps = _configured_steps(Path(run.out_dir))
    newest = _register_checkpoints(run)
    if newest:
        run.checkpoint_path = newest
    run.heartbeat_at = timezone.now()
    # The log tail goes to the database as it grows: the web process may not share this disk.
    run.log_tail = log_tail(Path(run.out_dir))
    TrainingRun.objects.filter(pk=run.pk).update(
        step=run.step,
        metrics=run.metrics,
        total_steps=run.total_steps,
        checkpoint_path=run.checkpoint_path,
        heartbeat_at=run.heartbeat_at,
        log_tail=run.log_tail,
    )


def _configured_steps(out_dir: Path) -> int:
    try:
        return int(json.loads((out_dir / "config.json").read_text())["train"]["steps"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def _register_checkpoints(run: TrainingRun) -> str:
    """Record the complete checkpoint folders (those up to the `latest` pointer); returns the newest."""
    root = Path(run.out_dir) / "checkpoints"
    pointer = root / "latest"
    if not pointer.is_file():
        return ""
    newest = pointer.read_text().strip()
    known = set(ModelCheckpoint.objects.filter(run=run).values_list("step", flat=True))
    for folder in sorted(root.glob("step-*")):
        if folder.name > newest or not (folder / "checkpoint.json").is_file():
            continue
        meta = json.loads((folder / "checkpoint.json").read_text())
        if meta["step"] in known:
            continue
        ModelCheckpoint.objects.get_or_create(
            run=run,
            step=meta["step"],
            defaults={
                "stage": str(meta.get("stage", "")),
                "path": str(folder),
                "size_bytes": sum(f.stat().st_size for f in folder.iterdir() if f.is_file()),
                "config": meta.get("config", {}),
                "weights": meta.get("weights", {}),
                "metrics": meta.get("metrics", {}),
            },
        )
    return str(root / newest)


def _record_report(run: TrainingRun, out_dir: Path) -> None:
    report_path = out_dir / "report.json"
    if report_path.is_file():
        TrainingRun.objects.filter(pk=run.pk).update(report=json.loads(report_path.read_text()))


def log_tail(out_dir: Path, lines: int = LOG_TAIL_LINES) -> str:
    path = out_dir / LOG_NAME
    if not path.is_file():
        return ""
    with path.open("rb") as stream:
        stream.seek(max(0, path.stat().st_size - 64_000))
        text = stream.read().decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:])


def failure_message(exit_code: int, tail: str) -> str:
    """The trainer's own one-line `error: ...` when it gave one; otherwise how it died."""
    for line in reversed(tail.splitlines()):
        if line.startswith("error: "):
            return line.removeprefix("error: ")
    if exit_code < 0:
        name = signal.Signals(-exit_code).name
        hint = " (out of memory?)" if name == "SIGKILL" else ""
        return f"the trainer was killed by {name}{hint}; see the log tail"
    return f"the trainer exited with status {exit_code}; see the log tail"


def _finish(run: TrainingRun, status: str, *, error: str = "") -> None:
    TrainingRun.objects.filter(pk=run.pk).update(
        status=status,
        error=error,
        log_tail=log_tail(Path(run.out_dir)),
        finished_at=timezone.now(),
        pid=None,
    )
