"""Who may see which source: the platform's one visibility rule, and the reads built on it.

A restricted source (industry-partner data) and everything derived from it — samples, files,
regions, annotations, import rows, caption attempts, agreement figures, dataset versions, exports,
training runs — exist only for the source's members and for people who see every source (admins:
`catalog.view_all_restricted`). Every read of such data anywhere in the platform goes through
this module: `visible_to(queryset, user, path)` for a queryset that reaches a source through
`path`, `hidden_sources(user, ids)` for a set of source ids someone asks to use, and the
permission-aware fetchers `access_sample` / `access_source`.
"""

from collections.abc import Iterable

from django.db.models import Case, F, IntegerField, Q, QuerySet, When
from django.shortcuts import get_object_or_404

from accounts.models import User

from .models import Sample, Source, Visibility


def sees_every_source(user: User) -> bool:
    return user.is_superuser or user.has_perm("catalog.view_all_restricted")


def public_or_member(person) -> Q:
    """The sources anyone signed in may see, and those `person` is a member of. `person` is a user
    or a user id — or a Param of a compiled query (base.compiled_queries), so that a query compiled
    once serves every person by value, never by the closure of whoever asked first."""
    return Q(visibility=Visibility.PUBLIC) | Q(members=person)


def visible_source_ids(*, sees_everything: bool, person) -> QuerySet:
    """The ids of the sources `person` may see, as a subquery (see public_or_member)."""
    sources = Source.objects.all() if sees_everything else Source.objects.filter(public_or_member(person))
    return sources.values("id")


def sources_visible_to(user: User) -> QuerySet[Source]:
    sources = Source.objects.all()
    if sees_every_source(user):
        return sources
    return sources.filter(pk__in=visible_source_ids(sees_everything=False, person=user))


def visible_to(queryset: QuerySet, user: User, path: str) -> QuerySet:
    """`queryset` less the rows whose source (reached through `path`, e.g. "sample__source" or
    "source") `user` may not see. A subquery rather than a join keeps list pages on their indexes."""
    if sees_every_source(user):
        return queryset
    return queryset.filter(**{f"{path}__in": visible_source_ids(sees_everything=False, person=user)})


def hidden_source_ids(user: User) -> QuerySet:
    """The restricted sources `user` may not see, as a subquery (empty for admins)."""
    if sees_every_source(user):
        return Source.objects.none().values("id")
    return Source.objects.filter(visibility=Visibility.RESTRICTED).exclude(members=user).values("id")


def without_hidden(queryset: QuerySet, user: User, path: str) -> QuerySet:
    """`queryset` less every row that touches (through the many-valued `path`, e.g. "sources")
    a source `user` may not see: for things made of several sources' data — a dataset version, an
    export, a caption job, an agreement report — which one hidden source makes hidden whole."""
    if sees_every_source(user):
        return queryset
    return queryset.exclude(**{f"{path}__in": hidden_source_ids(user)})


def hidden_sources(user: User, source_ids: Iterable[int]) -> set[int]:
    """Of these source ids, those that do not exist or that `user` may not see. A request naming
    any of them is refused as if the source did not exist."""
    wanted = {int(source_id) for source_id in source_ids}
    if not wanted:
        return set()
    visible = set(sources_visible_to(user).filter(pk__in=wanted).values_list("pk", flat=True))
    return wanted - visible


def with_visible_sample(rows: QuerySet, user: User) -> QuerySet:
    """Import rows with `visible_sample_id`: the row's sample when `user` may see it, else None.
    A duplicate row written before deduplication was scoped (catalog/dedup.py, migration 0012) may
    point a public import at a partner's sample; for a non-member that sample does not exist, so
    neither does its id."""
    if sees_every_source(user):
        return rows.annotate(visible_sample_id=F("sample_id"))
    visible = When(sample__source_id__in=visible_source_ids(sees_everything=False, person=user), then=F("sample_id"))
    return rows.annotate(visible_sample_id=Case(visible, default=None, output_field=IntegerField()))


def samples_visible_to(user: User) -> QuerySet[Sample]:
    return visible_to(Sample.objects.select_related("source"), user, "source_id")


def access_sample(user: User, sample_id: int, *, lock: bool = False) -> Sample:
    """The only way a view gets one sample: 404 when it does not exist *or* the user may not see it."""
    samples = samples_visible_to(user)
    if lock:
        samples = samples.select_for_update(of=("self",))
    return get_object_or_404(samples, pk=sample_id)


def access_source(user: User, source_id: int) -> Source:
    """One source: 404 when it does not exist or the user may not see it."""
    return get_object_or_404(sources_visible_to(user), pk=source_id)
