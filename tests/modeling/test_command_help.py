"""The modeling commands' --help says what they take, and the README's commands can work."""

import re
from pathlib import Path

import pytest

from modeling import evaluate, train
from modeling.core.config import PRESETS

README = Path(__file__).resolve().parents[2] / "README.md"


def _help(module, capsys) -> str:
    with pytest.raises(SystemExit):
        module.parse_args(["--help"])
    return " ".join(capsys.readouterr().out.split())


def test_train_help_lists_every_preset(capsys):
    text = _help(train, capsys)

    assert all(name in text for name in PRESETS) and "sd15-init" in text


def test_evaluate_help_gives_its_whole_description_and_no_open_split(capsys):
    text = _help(evaluate, capsys)

    assert "per-class IoU and mIoU, and the same for held-out" in text  # the docstring's first paragraph, whole
    assert "'open'" not in text


def test_the_readme_asks_for_no_open_split_and_reuses_no_generate_output_folder():
    text = README.read_text()

    assert "--split open" not in text
    outs = re.findall(r"python -m modeling\.generate [^`]*?--out (\S+)", text)
    assert len(outs) == len(set(outs)), outs
