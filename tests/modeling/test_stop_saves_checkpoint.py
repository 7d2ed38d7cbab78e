"""A cancelled run keeps its work: SIGTERM (what the platform's cancel sends) makes the trainer finish
its step, log it, save a resumable checkpoint and exit 143; --resume continues from that step."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from modeling import train
from modeling.core.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
# Log every step, never save on schedule: any checkpoint is the one the stop wrote.
NEVER_SAVE = ["train.log_every=1", "train.save_every=100000", "train.warmup_steps=1", "data.num_workers=0"]


def _metrics(run: Path) -> list[dict]:
    path = run / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def test_sigterm_saves_a_resumable_checkpoint_at_the_step_reached(export, tmp_path):
    run = tmp_path / "run"
    args = ["--stage", "1", "--config", "tiny", "--shards", str(export), "--out", str(run)]
    args += [a for s in NEVER_SAVE for a in ("--set", s)]
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"} | {"OMP_NUM_THREADS": "1"}
    trainer = subprocess.Popen(
        [sys.executable, "-m", "modeling.train", *args, "--steps", "100000"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while len(_metrics(run)) < 2 and time.monotonic() < deadline and trainer.poll() is None:
            time.sleep(0.2)
        assert len(_metrics(run)) >= 2, trainer.stderr.read() if trainer.poll() is not None else "no steps in 240 s"
        trainer.send_signal(signal.SIGTERM)
        _, stderr = trainer.communicate(timeout=120)
    finally:
        if trainer.poll() is None:
            trainer.kill()

    assert trainer.returncode == train.STOPPED_EXIT_STATUS, stderr[-2000:]
    stopped_at = _metrics(run)[-1]["step"]
    assert "stopped on request at step" in stderr
    saved = load_checkpoint(run)
    assert saved.step == stopped_at >= 2
    assert saved.trainer_state() is not None  # optimizer and schedule: resumable, not just weights

    assert train.main([*args, "--steps", str(stopped_at + 1), "--resume"]) == 0
    assert [line["step"] for line in _metrics(run)][-2:] == [stopped_at, stopped_at + 1]
    assert load_checkpoint(run).step == stopped_at + 1
