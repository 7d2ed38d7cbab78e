import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

MODULES = [
    "modeling.core.config",
    "modeling.core.shards",
    "modeling.core.dataset",
    "modeling.core.clip_towers",
    "modeling.core.image_embeddings",
    "modeling.core.latent_diffusion",
    "modeling.core.segmenter",
    "modeling.core.trainer",
    "modeling.core.evaluation",
    "modeling.core.inference",
    "modeling.core.click_segmenter",
    "modeling.core.click_training",
    "modeling.train",
    "modeling.evaluate",
    "modeling.predict",
]


# A fresh interpreter importing torch, diffusers and open_clip: 10 s. make lint's import contract
# checks the same rule statically in the fast loop.
@pytest.mark.slow
def test_the_torch_core_and_its_clis_import_without_django():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    code = (
        "import sys\n"
        f"for name in {MODULES!r}:\n"
        "    __import__(name)\n"
        "loaded = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "assert not loaded, loaded\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")
