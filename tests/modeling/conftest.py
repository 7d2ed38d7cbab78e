"""Shared fixtures of the torch-core tests: one synthetic export and one short Stage 1 + Stage 2 run
per session, so that the tests reading them do not each pay for training."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.modeling.synthetic_shards import write_export

# `make install EXTRAS=dev` leaves out the torch stack (the `train` extra): nothing here can run then.
TRAIN_EXTRA = ("torch", "diffusers", "open_clip", "scipy", "torchmetrics", "matplotlib")
if any(importlib.util.find_spec(name) is None for name in TRAIN_EXTRA):
    collect_ignore_glob = ["test_*.py"]

# Small enough to train a few steps in seconds on two CPU cores.
FAST = ["train.log_every=2", "train.save_every=2", "train.warmup_steps=1", "data.num_workers=0"]


@pytest.fixture(scope="session")
def export(tmp_path_factory) -> Path:
    """The manifest of an export: train (32) and test (12) draw red/green/blue shapes; the open split (8)
    only yellow ones, a class no training sample has."""
    return write_export(tmp_path_factory.mktemp("export"), max_shapes=2)


@pytest.fixture(scope="session")
def real_export(django_db_setup, django_db_blocker, tmp_path_factory) -> Path:
    """The manifest of the platform's own export of the real subsets (tests/modeling/real_export.py).
    A test using it must be marked django_db: pytest-django sets the test database up only then."""
    from django.test import override_settings

    from tests.conftest import REAL_DATA
    from tests.modeling.real_export import build_real_export, copy_subset

    subset = copy_subset(REAL_DATA, tmp_path_factory.mktemp("real-subset"))
    with django_db_blocker.unblock(), override_settings(CAPTION_RATE_LIMIT_PER_MINUTE=0):
        return build_real_export(subset, tmp_path_factory.mktemp("real-export"))


@pytest.fixture(scope="session")
def trained_runs(tmp_path_factory, export) -> dict[str, Path]:
    """Stage 1 for 4 steps, then Stage 2 for 4 steps from its checkpoint, through the CLI entry points."""
    from modeling import train

    root = tmp_path_factory.mktemp("runs")
    stage1, stage2 = root / "stage1", root / "stage2"
    common = ["--config", "tiny", "--shards", str(export), "--steps", "4"] + [a for s in FAST for a in ("--set", s)]
    assert train.main(["--stage", "1", "--out", str(stage1), *common]) == 0
    assert train.main(["--stage", "2", "--out", str(stage2), "--init", str(stage1), *common]) == 0
    return {"stage1": stage1, "stage2": stage2}
