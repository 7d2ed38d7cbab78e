"""The suite runs torch on one thread (tests/conftest.py): on a small machine two torch threads
competing with other work for the cores made the training tests many times slower."""

import os
import re
from pathlib import Path

import pytest

from tests.conftest import SLOW_FIXTURES


def test_the_suite_runs_torch_with_one_thread():
    import torch

    assert torch.get_num_threads() == 1
    assert os.environ["OMP_NUM_THREADS"] == "1"


def test_a_test_using_a_browser_worker_or_real_export_is_slow(request):
    assert {"chromium", "live_server", "celery_worker", "real_export"} <= SLOW_FIXTURES
    assert request.node.get_closest_marker("slow") is None  # this one uses none of them


@pytest.mark.parametrize("fixture", sorted(SLOW_FIXTURES - {"live_server"}))  # live_server is pytest-django's
def test_each_slow_fixture_is_defined_in_the_tests(fixture):
    # A renamed fixture would silently let its tests into the fast set.
    tests = Path(__file__).resolve().parents[1]
    defined = re.compile(rf"^def {fixture}\(", re.MULTILINE)
    assert any(defined.search(path.read_text(encoding="utf-8")) for path in tests.rglob("*.py"))
