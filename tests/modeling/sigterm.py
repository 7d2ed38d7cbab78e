"""Run `python -m modeling.train` in a real process, send it SIGTERM (what the platform's cancel
sends) once it has logged two steps, and return its exit status and stderr. Shared by the stage and
click training tests: the stop rule is one (modeling/core/stopping.py), so is the way it is tried."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def logged_steps(run: Path) -> list[dict]:
    path = run / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def train_then_sigterm(args: list[str], run: Path, *, wait_s: int = 240) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"} | {"OMP_NUM_THREADS": "1"}
    trainer = subprocess.Popen(
        [sys.executable, "-m", "modeling.train", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + wait_s
        while len(logged_steps(run)) < 2 and time.monotonic() < deadline and trainer.poll() is None:
            time.sleep(0.1)
        if len(logged_steps(run)) < 2:
            raise AssertionError(trainer.stderr.read() if trainer.poll() is not None else f"no steps in {wait_s} s")
        trainer.send_signal(signal.SIGTERM)
        _, stderr = trainer.communicate(timeout=120)
    finally:
        if trainer.poll() is None:
            trainer.kill()
    return trainer.returncode, stderr
