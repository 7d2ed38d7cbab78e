"""Hot-path queries compiled once (base/compiled_queries.py) stay correct by construction: after
every kind of person has claimed and opened samples in every stage and with every filter, each
compiled shape rebuilds to exactly the SQL being served, and a query first compiled for a member
never serves a restricted sample to anybody else."""

import itertools

import pytest
from django.db import transaction
from django.http import Http404

from accounts.roles import Role
from annotation.error_codes import AnnotationErrorCode as Code
from annotation.error_codes import WorkflowError
from annotation.queue import QueueFilters, annotation_claim_next
from annotation.selectors import access_annotation
from base.compiled_queries import compiled_shapes

from .conftest import enqueue
from .factories import make_sample, make_source

pytestmark = pytest.mark.django_db(transaction=True)


def _claim_and_roll_back(user, stage, filters):
    with transaction.atomic():
        claimed = annotation_claim_next(user=user, stage=stage, filters=filters)
        transaction.set_rollback(True)
    return claimed


def test_every_compiled_shape_rebuilds_to_the_sql_it_serves(vocab, make_user):
    partner = make_source("partner line", restricted=True)
    public = make_source("public line")
    member = make_user(Role.ANNOTATOR)
    partner.members.add(member)
    people = [
        member,
        make_user(Role.ANNOTATOR),
        make_user(Role.REVIEWER),
        make_user(Role.EXPERT),
        make_user(Role.ADMIN),
        make_user(Role.ANNOTATOR, is_superuser=True),
    ]
    samples = [make_sample(partner, domain="metal", language="zh"), make_sample(public, domain="wood")]
    enqueue(*samples)
    filter_sets = [
        QueueFilters(**dict(zip(("source", "domain", "language"), values, strict=True)))
        for values in itertools.product((None, public.pk), (None, "wood"), (None, "zh"))
    ]
    for person, stage, filters in itertools.product(people, ("annotation", "review", "consensus"), filter_sets):
        try:
            _claim_and_roll_back(person, stage, filters)
        except WorkflowError as error:  # a stage the person has no role for: refused before any query
            assert error.code == Code.ROLE_REQUIRED
        for sample in samples:
            try:
                access_annotation(person, sample.pk)
            except Http404:
                assert sample.source_id == partner.pk and person != member

    shapes = compiled_shapes()
    assert len(shapes) >= 10, "the flows above should have compiled the claim and access queries"
    for build, shape, compiled in shapes:
        with transaction.atomic():  # the claim's shapes lock rows: PostgreSQL compiles them in a transaction only
            rebuilt = type(compiled)(build(**shape))
        assert (rebuilt.sql, [str(p) for p in rebuilt.params]) == (compiled.sql, [str(p) for p in compiled.params]), (
            build.__qualname__,
            shape,
        )


def test_a_query_first_compiled_for_a_member_serves_nobody_else_the_restricted_samples(vocab, make_user):
    partner = make_source("partner line", restricted=True)
    public = make_source("public line")
    member, outsider = make_user(Role.ANNOTATOR), make_user(Role.ANNOTATOR)
    partner.members.add(member)
    hidden = make_sample(partner)
    shown = make_sample(public)
    enqueue(hidden, shown)  # the restricted one comes first in the queue

    assert _claim_and_roll_back(member, "annotation", QueueFilters()).pk == hidden.pk
    assert _claim_and_roll_back(outsider, "annotation", QueueFilters()).pk == shown.pk
    with pytest.raises(Http404):
        access_annotation(outsider, hidden.pk)
    assert access_annotation(member, hidden.pk).pk == hidden.pk
