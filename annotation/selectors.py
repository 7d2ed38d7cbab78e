"""Reads of annotations that respect who is asking: they go through the catalog's visibility, so
restricted sources never leak through the queue, the lists or the audit trail."""

from django.conf import settings
from django.db.models import Exists, IntegerField, OuterRef, Q, QuerySet
from django.http import Http404

from accounts.models import User
from base.compiled_queries import Param, compiled_once
from catalog.models import Sample
from catalog.selectors import access_sample, sees_every_source, visible_source_ids, visible_to
from vocabulary.models import Facet, Term

from .models import Annotation, AnnotationRevision, AuditEvent, ConsensusVote, ReviewComment, RevisionTerm


def names_defect_type(term_id: int) -> Q:
    """Annotations whose current revision names the defect type, in its template or on a region;
    a defect category stands for each of its types. The one meaning of "filter by defect type":
    the API's list, the sample browser and the work queues all use it."""
    term_ids = [term_id]
    term = Term.objects.filter(pk=term_id).only("facet").first()
    if term is not None and term.facet == Facet.DEFECT_CATEGORY:
        term_ids = list(Term.objects.filter(parent_id=term_id).values_list("id", flat=True))
    in_template = RevisionTerm.objects.filter(
        revision=OuterRef("current_revision"), field="defect_types", term_id__in=term_ids
    )
    in_regions = AnnotationRevision.regions.through.objects.filter(
        annotationrevision_id=OuterRef("current_revision"), region__defect_type_id__in=term_ids
    )
    return Q(Exists(in_template)) | Q(Exists(in_regions))


def defect_type_problem(term_id: int) -> str | None:
    """Why `term_id` cannot filter by defect type (names_defect_type), or None when it can: it names
    no term, or a term of another facet (a material would match nothing, silently)."""
    term = Term.objects.filter(pk=term_id).only("facet", "slug").first()
    if term is None:
        return f"no term {term_id}"
    if term.facet not in (Facet.DEFECT_TYPE, Facet.DEFECT_CATEGORY):
        return f"term {term_id} ({term.slug}) is a {term.facet} term, not a defect type or category"
    return None


def annotations_visible_to(user: User) -> QuerySet[Annotation]:
    return visible_to(Annotation.objects.all(), user, "source_id")


def _annotation_query(*, sees_everything: bool, lock: bool) -> QuerySet[Annotation]:
    annotations = Annotation.objects.filter(pk=Param("sample", IntegerField()))
    if not sees_everything:
        person = Param("person", IntegerField())
        annotations = annotations.filter(source_id__in=visible_source_ids(sees_everything=False, person=person))
    return annotations.select_for_update(of=("self",)) if lock else annotations


def _sample_query() -> QuerySet[Sample]:
    return Sample.objects.filter(pk=Param("sample", IntegerField()))


def access_annotation(user: User, sample_id: int, *, lock: bool = False) -> Annotation:
    """The only way a view or service gets one annotation: 404 when the sample does not exist,
    the user may not see it, or it has no annotation yet. With lock=True the caller must be in
    a transaction; the annotation row is locked (the sample row is not).

    Every annotation request starts here, so both reads are compiled once (compiled_queries.py):
    built per call they cost Django ~3 ms, the database a fraction of one."""
    sees_everything = sees_every_source(user)
    query = compiled_once(_annotation_query, sees_everything=sees_everything, lock=lock)
    found = query.run(sample=sample_id) if sees_everything else query.run(sample=sample_id, person=user.pk)
    if not found:
        access_sample(user, sample_id)  # a missing or hidden sample says so
        raise Http404(f"sample {sample_id} has no annotation; a data manager enqueues it")
    annotation = found[0]
    annotation.sample = compiled_once(_sample_query).run(sample=sample_id)[0]
    return annotation


def _comments_query() -> QuerySet[ReviewComment]:
    return ReviewComment.objects.filter(annotation=Param("annotation", IntegerField())).order_by("id")


def review_comments_of(annotation: Annotation) -> list[ReviewComment]:
    """In the order they were written. Compiled once: every annotation response lists them."""
    return compiled_once(_comments_query).run(annotation=annotation.pk)


def _votes_query() -> QuerySet[ConsensusVote]:
    return ConsensusVote.objects.filter(annotation=Param("annotation", IntegerField())).order_by("id")


def consensus_votes_of(annotation: Annotation) -> list[ConsensusVote]:
    """In the order they were cast. Compiled once: every annotation response lists them."""
    return compiled_once(_votes_query).run(annotation=annotation.pk)


def revisions_of(annotation: Annotation) -> QuerySet[AnnotationRevision]:
    return annotation.revisions.select_related("author").order_by("number")


def audit_events_visible_to(user: User) -> QuerySet[AuditEvent]:
    return visible_to(AuditEvent.objects.select_related("actor"), user, "annotation__source_id")


def identities_hidden_from(viewer: User) -> bool:
    """Blind mode hides who did the earlier stages from everyone who works in them; data
    managers and admins (annotation.see_identities) always see who did what."""
    return settings.ANNOTATION_BLIND_MODE and not viewer.has_perm("annotation.see_identities")
