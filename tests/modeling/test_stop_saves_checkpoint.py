"""A cancelled run keeps its work: SIGTERM (what the platform's cancel sends) makes the trainer finish
its step, log it, save a resumable checkpoint and exit 143; --resume continues from that step."""

import pytest

from modeling import train
from modeling.core.checkpoint import load_checkpoint

from .sigterm import logged_steps, train_then_sigterm

# Log every step, never save on schedule: any checkpoint is the one the stop wrote.
NEVER_SAVE = ["train.log_every=1", "train.save_every=100000", "train.warmup_steps=1", "data.num_workers=0"]


@pytest.mark.slow  # a trainer in a fresh process (10 s of imports) stopped mid-run
def test_sigterm_saves_a_resumable_checkpoint_at_the_step_reached(export, tmp_path):
    run = tmp_path / "run"
    args = ["--stage", "1", "--config", "tiny", "--shards", str(export), "--out", str(run)]
    args += [a for s in NEVER_SAVE for a in ("--set", s)]
    returncode, stderr = train_then_sigterm([*args, "--steps", "100000"], run)

    assert returncode == train.STOPPED_EXIT_STATUS, stderr[-2000:]
    stopped_at = logged_steps(run)[-1]["step"]
    assert "stopped on request at step" in stderr
    saved = load_checkpoint(run)
    assert saved.step == stopped_at >= 2
    assert saved.trainer_state() is not None  # optimizer and schedule: resumable, not just weights

    assert train.main([*args, "--steps", str(stopped_at + 1), "--resume"]) == 0
    assert [line["step"] for line in logged_steps(run)][-2:] == [stopped_at, stopped_at + 1]
    assert load_checkpoint(run).step == stopped_at + 1
