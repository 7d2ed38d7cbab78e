import pytest

from annotation.services import annotations_enqueue
from catalog.models import Sample
from vocabulary import services as vocabulary_services

from ..catalog.helpers import run_import
from ..prebuilt import snapshot_restore
from ..vocabulary.conftest import bundled_records


@pytest.fixture
def annotated_mvtec(db, real_data, settings):
    """The real MVTec bottle subset, imported and enqueued for annotation with the bundled vocabulary.
    Built once per session and restored per test (tests/prebuilt.py)."""
    settings.CAPTION_RATE_LIMIT_PER_MINUTE = 0
    return snapshot_restore("annotated_mvtec", lambda: build_annotated_mvtec(real_data))


def build_annotated_mvtec(real_data) -> int:
    vocabulary_services.vocabulary_load(records=bundled_records())
    vocabulary_services.vocabulary_version_release(note="test")
    run_import("mvtec", real_data / "mvtec_ad", source="MVTec AD")
    annotations_enqueue(samples=Sample.objects.all(), by=None)
    return Sample.objects.count()
