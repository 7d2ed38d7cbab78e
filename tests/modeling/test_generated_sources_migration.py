"""Migration modeling 0008: a synthetic source made before sources kept what they were derived from
is linked to the sources its generation run's lineage trained on, and, when one of those has been
restricted since, it is restricted too (members: those who see every restricted input)."""

import pytest

from tests.migrating import latest_schema_afterwards, migrate_to  # noqa: F401 (a fixture)

# Each migrates the schema back and forth: slow, like tests/catalog/test_dedup_migration.py.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

BEFORE = [("catalog", "0012_sample_dedup_scope"), ("modeling", "0007_embedding_job_sources")]
AFTER = [("modeling", "0008_generated_sources_derived_from")]


@pytest.mark.usefixtures("latest_schema_afterwards")
def test_a_synthetic_source_of_a_source_restricted_since_is_linked_and_restricted(make_user):
    member, outsider = make_user(), make_user()
    old = migrate_to(BEFORE)
    Source = old.get_model("catalog", "Source")
    DatasetVersion, Export = old.get_model("releases", "DatasetVersion"), old.get_model("releases", "Export")
    TrainingRun = old.get_model("modeling", "TrainingRun")
    # Public when the model was trained and sampled; an admin restricted it afterwards.
    partner = Source.objects.create(name="partner", visibility="restricted")
    partner.members.add(member.pk)
    synthetic = Source.objects.create(name="Defect-Gen synthesis, run 2", kind="synthetic")
    untouched = Source.objects.create(name="Defect-Gen synthesis, run 4", kind="synthetic")
    public = Source.objects.create(name="public")
    runs = []
    for number, source, made in ((1, partner, synthetic), (2, public, untouched)):
        version = DatasetVersion.objects.create(number=number, title=f"v{number}")
        version.sources.set([source])
        export = Export.objects.create(version=version, target=f"/exports/{number}")
        generator = TrainingRun.objects.create(kind="defect_gen", dataset_version=version, export=export)
        runs.append(
            TrainingRun.objects.create(
                kind="generate", dataset_version=version, export=export, parent=generator, generated_source=made
            )
        )

    new = migrate_to(AFTER)

    Source = new.get_model("catalog", "Source")
    synthetic, untouched = Source.objects.get(pk=synthetic.pk), Source.objects.get(pk=untouched.pk)
    assert list(synthetic.derived_from.values_list("pk", flat=True)) == [partner.pk]
    assert synthetic.visibility == "restricted"
    assert list(synthetic.members.values_list("pk", flat=True)) == [member.pk]
    assert new.get_model("catalog", "SourceEvent").objects.filter(source=synthetic, kind="visibility").exists()
    # made only of public data: linked, left as it was
    assert list(untouched.derived_from.values_list("pk", flat=True)) == [public.pk]
    assert untouched.visibility == "public"
    assert outsider.pk not in synthetic.members.values_list("pk", flat=True)
