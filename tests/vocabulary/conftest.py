import functools
from pathlib import Path

import pytest

from vocabulary import services
from vocabulary.formats import records_from_json

from ..prebuilt import snapshot_restore

BUNDLED = Path(__file__).resolve().parents[2] / "vocabulary" / "data"


@functools.cache
def bundled_records_cached():
    records = []
    for path in sorted(BUNDLED.glob("*.json")):
        records += records_from_json(path.read_text(encoding="utf-8"))
    return records


def bundled_records():
    import copy

    return copy.deepcopy(bundled_records_cached())


@pytest.fixture
def vocabulary(db):
    """The bundled vocabulary, loaded and released as version 1; built once per session and restored
    per test (tests/prebuilt.py)."""
    return snapshot_restore("vocabulary", build_vocabulary)


def build_vocabulary():
    services.vocabulary_load(records=bundled_records())
    return services.vocabulary_version_release(note="test")
