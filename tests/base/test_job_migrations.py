"""The job models' migrations onto base.jobs keep every row and map the old status values."""

import pytest
from django.utils import timezone

from tests.migrating import latest_schema_afterwards, migrate_to  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("annotation", "0002_index_revision_pointers"), ("modeling", "0001_initial")]
AFTER = [("annotation", "0003_agreementreport_job"), ("modeling", "0002_trainingrun_job")]


@pytest.mark.slow  # migrates the whole schema back and forth: 10-15 s
@pytest.mark.usefixtures("latest_schema_afterwards")
def test_old_statuses_and_requesters_survive_the_migration_and_come_back_on_reverse(make_user):
    manager = make_user(username="manager")
    old = migrate_to(BEFORE)
    Report = old.get_model("annotation", "AgreementReport")
    reports = {
        status: Report.objects.create(scope="dataset", status=status, requested_by_id=manager.pk).pk
        for status in ("pending", "done", "failed")
    }
    run_ids = _old_training_runs(old, manager)

    new = migrate_to(AFTER)

    Report = new.get_model("annotation", "AgreementReport")
    assert {status: Report.objects.get(pk=pk).status for status, pk in reports.items()} == {
        "pending": "pending",
        "done": "succeeded",
        "failed": "failed",
    }
    assert set(Report.objects.values_list("created_by_id", flat=True)) == {manager.pk}
    Run = new.get_model("modeling", "TrainingRun")
    assert {status: Run.objects.get(pk=pk).status for status, pk in run_ids.items()} == {
        "queued": "pending",
        "running": "running",
        "succeeded": "succeeded",
        "cancelled": "cancelled",
    }
    assert set(Run.objects.values_list("created_by_id", flat=True)) == {manager.pk}

    reverted = migrate_to(BEFORE)
    assert reverted.get_model("annotation", "AgreementReport").objects.get(pk=reports["done"]).status == "done"
    assert reverted.get_model("modeling", "TrainingRun").objects.get(pk=run_ids["queued"]).status == "queued"


def _old_training_runs(apps, manager) -> dict[str, int]:
    """Rows in the pre-migration schema; a run needs a dataset version and an export."""
    Source = apps.get_model("catalog", "Source")
    VocabularyVersion = apps.get_model("vocabulary", "VocabularyVersion")
    DatasetVersion = apps.get_model("releases", "DatasetVersion")
    Export = apps.get_model("releases", "Export")
    Run = apps.get_model("modeling", "TrainingRun")
    Source.objects.create(name="s")
    vocabulary = VocabularyVersion.objects.create(**_required(VocabularyVersion))
    version = DatasetVersion.objects.create(**_required(DatasetVersion, vocabulary_version=vocabulary))
    export = Export.objects.create(**_required(Export, version=version))
    return {
        status: Run.objects.create(
            kind="stage1", dataset_version=version, export=export, status=status, launched_by_id=manager.pk
        ).pk
        for status in ("queued", "running", "succeeded", "cancelled")
    }


def _required(model, **given) -> dict:
    """Values for the fields a historical model requires (no default, not null), plus `given`."""
    values = dict(given)
    for model_field in model._meta.concrete_fields:
        name = model_field.name
        if name in values or model_field.primary_key or model_field.null or model_field.has_default():
            continue
        if getattr(model_field, "auto_now", False) or getattr(model_field, "auto_now_add", False):
            continue
        internal = model_field.get_internal_type()
        if internal in ("CharField", "TextField", "SlugField"):
            values[name] = f"{name}-1"[: model_field.max_length or 50]
        elif "Integer" in internal:
            values[name] = 1
        elif internal == "DateTimeField":
            values[name] = timezone.now()
        elif internal == "JSONField":
            values[name] = {}
        elif internal == "BooleanField":
            values[name] = False
        else:
            raise AssertionError(f"no test value for {model.__name__}.{name} ({internal})")
    return values
