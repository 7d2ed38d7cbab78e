"""Reads of versions and exports that respect who is asking. A version holding any sample of a
restricted source someone may not see does not exist for them — nor do its exports, statistics,
diffs and the training runs made from it (catalog.selectors.without_hidden)."""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import User
from catalog.models import Source, Visibility
from catalog.selectors import without_hidden

from .models import DatasetVersion, Export


def versions_visible_to(user: User) -> QuerySet[DatasetVersion]:
    return without_hidden(DatasetVersion.objects.select_related("vocabulary_version"), user, "sources")


def access_version(user: User, number: int) -> DatasetVersion:
    return get_object_or_404(versions_visible_to(user), number=number)


def exports_visible_to(user: User) -> QuerySet[Export]:
    return without_hidden(Export.objects.select_related("version"), user, "version__sources")


def training_sources(export: Export) -> list[Source]:
    """The sources whose samples `export` writes: its version's, less the restricted ones unless
    the export was marked to include them."""
    sources = export.version.sources.all()
    if not export.include_restricted:
        sources = sources.exclude(visibility=Visibility.RESTRICTED)
    return list(sources)
