"""The GPU worker's image installs the project with its `train` extra only (docker/gpu-worker.Dockerfile):
every module it may load must import there, and every `modeling` CLI must start.

The environment is built for real: a fresh virtual environment whose site-packages holds exactly the
distributions that `pip install ".[train]"` would bring (the project's dependencies and the `train`
extra's, with everything they require in turn), linked from this one instead of downloaded again.
What only the `dev` extra brings (pytest, flashtext, datasets, anomalib, …) is not there, so a
module-level import of it fails here as it would on the GPU worker.
"""

from __future__ import annotations

import os
import re
import subprocess
import venv
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The packages the image copies (docker/gpu-worker.Dockerfile) and so a worker may import.
IMAGE_PACKAGES = (
    "config",
    "base",
    "accounts",
    "vocabulary",
    "catalog",
    "annotation",
    "captioning",
    "segmentation",
    "releases",
    "modeling",
)
CLIS = (
    "modeling.train",
    "modeling.evaluate",
    "modeling.predict",
    "modeling.generate",
    "modeling.synthesis_report",
    "modeling.core.shard_index",
)

pytestmark = pytest.mark.slow


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;(]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _applies(requirement: str, extras: set[str]) -> bool:
    """Whether a requirement line holds for an install asking for `extras` (its marker, if any)."""
    from packaging.requirements import Requirement

    parsed = Requirement(requirement)
    if parsed.marker is None:
        return True
    return any(parsed.marker.evaluate({"extra": extra}) for extra in extras | {""})


def train_closure() -> set[str]:
    """Names of the installed distributions `pip install ".[train]"` would bring, the project's own included."""
    from packaging.requirements import Requirement

    wanted = [("imdd-platform", frozenset({"train"}))]
    visited: set[tuple[str, frozenset[str]]] = set()
    while wanted:
        name, extras = wanted.pop()
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional dependency for another platform, not installed here
        key = distribution.metadata["Name"].lower().replace("_", "-")
        if (key, extras) in visited:
            continue
        visited.add((key, extras))
        for requirement in distribution.requires or []:
            if _applies(requirement, set(extras)):
                wanted.append((_name(requirement), frozenset(Requirement(requirement).extras)))
    return {key for key, _ in visited}


def _top_level_entries(distribution: metadata.Distribution) -> set[str]:
    """The entries a distribution puts in site-packages (packages, modules, its .dist-info, .pth files)."""
    entries = set()
    for file in distribution.files or []:
        first = file.parts[0]
        if first in ("..", "__pycache__") or first.endswith(".pth"):
            continue  # scripts outside site-packages; an editable install's .pth is written below
        entries.add(first)
    return entries


@pytest.fixture(scope="module")
def train_only_python(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("train-only-venv")
    venv.EnvBuilder(with_pip=False).create(folder)
    python = folder / "bin" / "python"
    site_packages = Path(
        subprocess.check_output(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    here = Path(metadata.distribution("django").locate_file(""))
    for name in train_closure() - {"imdd-platform"}:
        for entry in _top_level_entries(metadata.distribution(name)):
            source, target = here / entry, site_packages / entry
            if source.exists() and not target.exists():
                target.symlink_to(source)
    (site_packages / "imdd_platform.pth").write_text(f"{ROOT}\n")  # the project itself, as `pip install -e`
    return python


def run_in(python: Path, code: str) -> subprocess.CompletedProcess:
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "OMP_NUM_THREADS": "1",
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
    }
    return subprocess.run(
        [python, "-c", code], cwd="/", env=environment, capture_output=True, text=True, timeout=600, check=False
    )


def test_the_environment_lacks_what_only_dev_brings(train_only_python):
    """The check below means something only if the dev-only packages really are missing there."""
    result = run_in(train_only_python, "import pytest")
    assert result.returncode != 0 and "No module named 'pytest'" in result.stderr
    result = run_in(train_only_python, "import flashtext")
    assert result.returncode != 0
    result = run_in(train_only_python, "import torch, pycocotools, transformers, django; print('ok')")
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-2000:]


def test_every_module_of_the_image_imports_with_only_the_train_extra(train_only_python):
    code = f"""
import django, importlib, pkgutil, sys
django.setup()
failed = []
for package in {IMAGE_PACKAGES!r}:
    root = importlib.import_module(package)
    for module in pkgutil.walk_packages(root.__path__, package + "."):
        if ".migrations." in module.name or module.name.endswith(".__main__"):
            continue
        try:
            importlib.import_module(module.name)
        except Exception as error:
            failed.append(f"{{module.name}}: {{type(error).__name__}}: {{error}}")
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""
    result = run_in(train_only_python, code)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]


@pytest.mark.parametrize("cli", CLIS)
def test_each_modeling_cli_starts_with_only_the_train_extra(train_only_python, cli):
    code = f"import runpy, sys; sys.argv = [{cli!r}, '--help']; runpy.run_module({cli!r}, run_name='__main__')"
    result = run_in(train_only_python, code)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "usage:" in result.stdout
