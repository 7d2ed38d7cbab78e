import pytest

from annotation.models import Annotation, AnnotationState
from annotation.services import annotations_enqueue
from captioning import services as captioning
from catalog.models import Sample
from vocabulary import services as vocabulary_services

from ..catalog.helpers import run_import
from ..prebuilt import snapshot_restore
from ..vocabulary.conftest import bundled_records


@pytest.fixture
def verified_dataset(db, real_data, settings):
    """Real MVTec bottle samples with the bundled vocabulary, template captions, marked VERIFIED.

    The workflow's own tests take samples through the three stages; here, for speed, the draft
    revision (imported regions mapped to terms, captions) is made final directly. Built once per session
    and restored per test (tests/prebuilt.py)."""
    settings.CAPTION_RATE_LIMIT_PER_MINUTE = 0
    return snapshot_restore("verified_dataset", lambda: build_verified_dataset(real_data))


def build_verified_dataset(real_data) -> int:
    vocabulary_services.vocabulary_load(records=bundled_records())
    vocabulary_services.vocabulary_version_release(note="test")
    run_import("mvtec", real_data / "mvtec_ad", source="MVTec AD", license_text="CC BY-NC-SA 4.0")
    annotations_enqueue(samples=Sample.objects.all(), by=None)
    captioning.caption_job_run(job=captioning.caption_job_create(captioner="template"))
    for annotation in Annotation.objects.all():
        Annotation.objects.filter(pk=annotation.pk).update(
            state=AnnotationState.VERIFIED, queue="", final_revision_id=annotation.current_revision_id
        )
    return Sample.objects.count()
