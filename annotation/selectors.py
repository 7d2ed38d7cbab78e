"""Reads of annotations that respect who is asking: they go through the catalog's visibility, so
restricted sources never leak through the queue, the lists or the audit trail."""

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404

from imdd_platform.accounts.models import User
from imdd_platform.catalog.selectors import access_sample, sources_visible_to

from .models import Annotation, AnnotationRevision, AuditEvent


def visible_source_ids(user: User, *, member=None) -> QuerySet:
    return sources_visible_to(user, member=member).values("id")


def annotations_visible_to(user: User) -> QuerySet[Annotation]:
    return Annotation.objects.filter(source_id__in=visible_source_ids(user))


def access_annotation(user: User, sample_id: int, *, lock: bool = False) -> Annotation:
    """The only way a view or service gets one annotation: 404 when the sample does not exist,
    the user may not see it, or it has no annotation yet. With lock=True the caller must be in
    a transaction; the annotation row is locked (the sample row is not)."""
    sample = access_sample(user, sample_id)
    annotations = Annotation.objects.select_related("sample")
    if lock:
        annotations = annotations.select_for_update(of=("self",))
    annotation = annotations.filter(pk=sample.pk).first()
    if annotation is None:
        raise Http404(f"sample {sample_id} has no annotation; a data manager enqueues it")
    return annotation


def revisions_of(annotation: Annotation) -> QuerySet[AnnotationRevision]:
    return annotation.revisions.select_related("author").order_by("number")


def audit_events_visible_to(user: User) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(annotation__source_id__in=visible_source_ids(user)).select_related("actor")


def identities_hidden_from(viewer: User) -> bool:
    """Blind mode hides who did the earlier stages from everyone who works in them; data
    managers and admins (annotation.see_identities) always see who did what."""
    return settings.ANNOTATION_BLIND_MODE and not viewer.has_perm("annotation.see_identities")
