"""Reads of the catalog that respect who is asking: restricted sources never leak through them."""

from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import User

from .models import Sample, Source, Visibility


def sees_every_source(user: User) -> bool:
    return user.is_superuser or user.has_perm("catalog.view_all_restricted")


def _public_or_member(member) -> Q:
    """The sources anyone may see, and those `member` is a member of."""
    return Q(visibility=Visibility.PUBLIC) | Q(members=member)


def sources_visible_to(user: User, *, member=None) -> QuerySet[Source]:
    """member: what the membership test compares with, when not `user` itself (a query
    parameter of a compiled query: base.compiled_queries)."""
    sources = Source.objects.all()
    if sees_every_source(user):
        return sources
    return sources.filter(_public_or_member(user if member is None else member)).distinct()


def samples_visible_to(user: User) -> QuerySet[Sample]:
    samples = Sample.objects.select_related("source")
    if sees_every_source(user):
        return samples
    # A subquery rather than a join keeps the keyset-paginated list on the (source, id) index.
    visible_sources = Source.objects.filter(_public_or_member(user)).values("id")
    return samples.filter(source_id__in=visible_sources)


def access_sample(user: User, sample_id: int, *, lock: bool = False) -> Sample:
    """The only way a view gets one sample: 404 when it does not exist *or* the user may not see it."""
    samples = samples_visible_to(user)
    if lock:
        samples = samples.select_for_update(of=("self",))
    return get_object_or_404(samples, pk=sample_id)
