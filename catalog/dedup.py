"""Which samples an imported image is a duplicate of: the catalog's one deduplication rule.

An image imported into a source is a duplicate only of a sample of the same source or of a sample
in a public source, never of another restricted source's: a partner's image must neither make a
public import lose that image nor tell the importer that a partner holds it.

The rule is stored on each sample as `Sample.dedup_scope`: null (the public scope) for a sample of a
public source, its own source for a sample of a restricted one. The database keeps one sample per
image per scope (two conditional unique constraints), so two workers importing the same bytes into
one scope at once still end with one sample and a duplicate row. (A restricted source's import racing
a public import of the same bytes keeps its own copy: an extra sample, never a leak.)

The same bytes may thus be a sample in the public scope and in any number of restricted sources:
those samples share their content-addressed files (catalog/models.py; no code deletes a sample's
files), and the near-duplicate groups show them as one group to whoever may see both.

When an admin changes a source's visibility (services.source_access_set), its samples move with it,
in the same transaction (`dedup_scopes_follow_visibility`):
- public -> restricted: every sample of the source moves into the source's own scope, so no import
  into another source finds it any more.
- restricted -> public: each sample moves into the public scope, except one whose bytes the public
  scope already holds (imported into a public source while this one was restricted). That sample
  stays in its source's scope: an exact duplicate of a public sample, found only by imports into its
  own source. Nothing is merged or deleted, since both samples may carry annotations and versions.
"""

from collections.abc import Iterable

from django.db.models import Q, QuerySet

from .models import Sample, Source, Visibility


def dedup_scope_for(source: Source) -> int | None:
    """The scope a new sample of `source` goes into: None (public) or the restricted source's id."""
    return source.pk if source.visibility == Visibility.RESTRICTED else None


def duplicate_candidates(*, source_id: int, sha256s: Iterable[str]) -> QuerySet[Sample]:
    """The samples an image with one of these sha256s, imported into source `source_id`, is a duplicate
    of: those in the public scope and those in the source's own scope. The source's own scope is asked
    for whatever its visibility: a public source may keep samples there (see the module's docstring)."""
    return Sample.objects.filter(sha256__in=list(sha256s)).filter(
        Q(dedup_scope__isnull=True) | Q(dedup_scope_id=source_id)
    )


def duplicates_for_import(*, source_id: int, sha256s: Iterable[str]) -> dict[str, int]:
    """sha256 -> the id of the sample an imported image with those bytes duplicates. When there are
    two (the public one and the source's own), the source's own sample wins, then the oldest."""
    rows = duplicate_candidates(source_id=source_id, sha256s=sha256s).values_list("sha256", "id", "source_id")
    found: dict[str, int] = {}
    for sha256, sample_id, _ in sorted(rows, key=lambda row: (row[2] != source_id, row[1])):
        found.setdefault(sha256, sample_id)
    return found


def dedup_scope_for_writing(source_id: int) -> int | None:
    """The scope new samples of source `source_id` go into, read under a lock of the source's row:
    a visibility change (which moves the source's samples) waits for the caller's transaction to
    commit, or the caller waits for it, so no sample lands in a scope its source has just left. The
    caller holds the transaction; on SQLite the database's write lock does the same."""
    source = Source.objects.select_for_update(no_key=True).only("id", "visibility").get(pk=source_id)
    return dedup_scope_for(source)


def dedup_scopes_follow_visibility(*, source: Source) -> int:
    """Move `source`'s samples into the scope its visibility now gives (the rule is in the module's
    docstring). The caller holds the transaction that changed the visibility. Returns how many moved."""
    samples = Sample.objects.filter(source=source)
    if source.visibility == Visibility.RESTRICTED:
        return samples.exclude(dedup_scope=source).update(dedup_scope=source)
    already_public = Sample.objects.filter(dedup_scope__isnull=True).values("sha256")
    return samples.filter(dedup_scope=source).exclude(sha256__in=already_public).update(dedup_scope=None)
