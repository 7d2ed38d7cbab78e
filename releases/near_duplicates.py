"""Near-duplicate groups inside a version's selection, for the data manager to see before cutting it
(the API's preview and the version's create response, the admin's version page). The samples are the
selection as its requester may see it: catalog's one visibility rule, applied by selected_annotations
and again here, so a group never names a sample of a source the requester may not see."""

from accounts.models import User
from catalog.models import Sample
from catalog.near_duplicates import NearDuplicateReport, near_duplicate_groups
from catalog.selectors import visible_to

from .models import DatasetVersion
from .versions import selected_annotations, selection_check


def selection_near_duplicates(*, selection: dict, requested_by: User | None) -> NearDuplicateReport:
    """The groups among the samples a version made now from `selection` would hold."""
    selection_check(selection, requested_by=requested_by)
    annotations = selected_annotations(selection, requested_by=requested_by)
    samples = Sample.objects.filter(pk__in=annotations.values("sample_id"))
    if requested_by is not None:
        samples = visible_to(samples, requested_by, "source_id")
    return near_duplicate_groups(samples=samples)


def version_near_duplicates(*, version: DatasetVersion, requested_by: User | None) -> NearDuplicateReport:
    """The groups among a version's samples (a draft's, before it is published)."""
    samples = Sample.objects.filter(pk__in=version.items.values("sample_id"))
    if requested_by is not None:
        samples = visible_to(samples, requested_by, "source_id")
    return near_duplicate_groups(samples=samples)
