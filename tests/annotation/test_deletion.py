"""Deleting a sample takes its whole annotation history with it, and stays cheap at scale."""

import pytest
from django.db import connection

from annotation.models import Annotation, AnnotationRevision, AuditEvent, ConsensusVote, Region, StageClaim
from catalog.models import Sample

from .conftest import drive, enqueue
from .factories import make_sample

pytestmark = pytest.mark.django_db


def test_deleting_a_verified_sample_deletes_its_history_and_nothing_else(annotation, people, vocab):
    drive(annotation, people, vocab, "verified")
    other = enqueue(make_sample())[0]
    history = (AnnotationRevision, AuditEvent, ConsensusVote, Region, StageClaim)
    assert all(model.objects.filter(annotation=annotation).exists() for model in (AnnotationRevision, AuditEvent))

    annotation.sample.delete()

    assert not Annotation.objects.filter(pk=annotation.pk).exists()
    assert not any(model.objects.filter(annotation_id=annotation.pk).exists() for model in history)
    assert Annotation.objects.filter(pk=other.pk).exists()
    assert AnnotationRevision.objects.filter(annotation=other).exists()


def test_every_pointer_a_delete_follows_into_the_annotation_table_is_indexed():
    """A delete of a revision or sample makes the database find the annotation rows pointing at
    it, once per deleted row: without an index that is a read of the whole table each time."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Annotation._meta.db_table)
    leading_columns = {
        c["columns"][0] for c in constraints.values() if (c["index"] or c["primary_key"]) and c["columns"]
    }
    followed = [
        field.column
        for field in Annotation._meta.concrete_fields
        if field.is_relation and field.related_model in (AnnotationRevision, Sample)
    ]
    assert set(followed) == {
        "sample_id",
        "current_revision_id",
        "submitted_revision_id",
        "reviewed_revision_id",
        "final_revision_id",
    }
    assert set(followed) <= leading_columns, set(followed) - leading_columns
