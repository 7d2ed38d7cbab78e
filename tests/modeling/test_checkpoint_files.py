"""A checkpoint is read while it may be written: a run resumed by a second worker saves the same step
again while an evaluation or the admin reads it. Its meta (checkpoint.json) and the `latest` pointer
are replaced whole, so a reader sees the old file or the new one, never a torn one."""

import os
from pathlib import Path

from torch import nn

from modeling.core.checkpoint import META_NAME, load_checkpoint, save_checkpoint


def test_saving_a_step_again_replaces_its_meta_and_latest_whole_never_in_place(tmp_path, monkeypatch):
    model = nn.Linear(2, 1)
    save_checkpoint(tmp_path, model=model, meta={"stage": 1, "step": 3, "metrics": {"loss": 1.0}})
    written_in_place, replaced = [], []
    real_write_text, real_replace = Path.write_text, os.replace

    def write_text(path, *args, **kwargs):
        if path.name in (META_NAME, "latest"):
            written_in_place.append(path.name)
        return real_write_text(path, *args, **kwargs)

    def replace(source, target):
        replaced.append(Path(target).name)
        return real_replace(source, target)

    monkeypatch.setattr(Path, "write_text", write_text)
    monkeypatch.setattr(os, "replace", replace)
    save_checkpoint(tmp_path, model=model, meta={"stage": 1, "step": 3, "metrics": {"loss": 0.5}})

    assert written_in_place == []
    assert sorted(replaced) == sorted([META_NAME, "latest"])
    assert load_checkpoint(tmp_path).meta["metrics"] == {"loss": 0.5}
    assert not list(tmp_path.rglob("*.tmp"))
