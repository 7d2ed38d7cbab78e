from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from annotation.models import Annotation, AnnotationState

from .factories import make_sample, make_source


def test_enqueue_samples_queues_those_without_an_annotation_once(vocab):
    first, second = make_source("first"), make_source("second")
    for _ in range(3):
        make_sample(source=first)
    make_sample(source=second)
    out = StringIO()
    call_command("enqueue_samples", "--source", str(first.pk), stdout=out)
    assert "queued 3 sample(s)" in out.getvalue()
    assert set(Annotation.objects.values_list("state", flat=True)) == {AnnotationState.UNASSIGNED}
    call_command("enqueue_samples", stdout=out)  # the rest, and nothing twice
    assert Annotation.objects.count() == 4


def test_enqueue_samples_names_an_unknown_source(vocab):
    with pytest.raises(CommandError, match="no source with id 999"):
        call_command("enqueue_samples", "--source", "999")
