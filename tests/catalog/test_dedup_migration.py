"""Migration 0012 (scoped deduplication) puts existing samples of restricted sources into their
source's scope, and goes back while no image is a sample twice; when one is, it stops and says so."""

import pytest
from django.db import IntegrityError, transaction

from tests.migrating import latest_schema_afterwards, migrate_to  # noqa: F401 (a fixture)

# Each migrates the schema back and forth (10-15 s): slow, like tests/base/test_job_migrations.py.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

BEFORE = [("catalog", "0011_no_pairs_from_random_towers")]
AFTER = [("catalog", "0012_sample_dedup_scope")]


def _sample(Sample, source, sha256, **fields):
    return Sample.objects.create(
        source=source,
        external_id=f"{sha256}.png",
        original=f"originals/{sha256}.png",
        asset=f"assets/{sha256}.jpg",
        thumbnail=f"thumbnails/{sha256}.jpg",
        sha256=sha256,
        phash="0" * 16,
        width=8,
        height=8,
        original_format="PNG",
        **fields,
    )


@pytest.mark.usefixtures("latest_schema_afterwards")
def test_samples_of_restricted_sources_move_into_their_scope_and_back():
    old = migrate_to(BEFORE)
    Source, Sample = old.get_model("catalog", "Source"), old.get_model("catalog", "Sample")
    public = Source.objects.create(name="public")
    partner = Source.objects.create(name="partner", visibility="restricted")
    ids = {sha: _sample(Sample, source, sha).pk for sha, source in (("a" * 64, public), ("b" * 64, partner))}

    new = migrate_to(AFTER)

    Sample = new.get_model("catalog", "Sample")
    assert dict(Sample.objects.values_list("id", "dedup_scope_id")) == {ids["a" * 64]: None, ids["b" * 64]: partner.pk}
    # the new rule holds in the migrated schema: the partner's image can now be a public sample too
    _sample(Sample, new.get_model("catalog", "Source").objects.get(pk=public.pk), "b" * 64)

    Sample.objects.filter(source_id=public.pk, sha256="b" * 64).delete()
    reverted = migrate_to(BEFORE)

    Sample = reverted.get_model("catalog", "Sample")
    assert set(Sample.objects.values_list("id", flat=True)) == set(ids.values())
    with pytest.raises(IntegrityError), transaction.atomic():  # one sample per image again
        _sample(Sample, reverted.get_model("catalog", "Source").objects.get(pk=public.pk), "b" * 64)


@pytest.mark.usefixtures("latest_schema_afterwards")
def test_going_back_stops_while_an_image_is_a_sample_twice():
    new = migrate_to(AFTER)
    Source, Sample = new.get_model("catalog", "Source"), new.get_model("catalog", "Sample")
    partner = Source.objects.create(name="partner", visibility="restricted")
    _sample(Sample, partner, "c" * 64, dedup_scope=partner)
    _sample(Sample, Source.objects.create(name="public"), "c" * 64)

    with pytest.raises(RuntimeError, match=r"1 image\(s\) are samples in more than one deduplication scope"):
        migrate_to(BEFORE)

    assert Sample.objects.filter(sha256="c" * 64).count() == 2  # nothing lost
