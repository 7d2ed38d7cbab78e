import pytest
from django.test import Client

from accounts.roles import Role
from releases.models import DatasetVersion, Export

pytestmark = pytest.mark.django_db


def test_data_managers_create_publish_and_diff_versions_through_the_api(verified_dataset, client_for):
    api = client_for(Role.DATA_MANAGER)

    created = api.post("/api/releases/versions/", {"title": "all", "publish": True}, format="json")
    second = api.post(
        "/api/releases/versions/",
        {"title": "breakage", "selection": {"defect_types": ["def-large-breakage"]}},
        format="json",
    )
    diff = api.get("/api/releases/versions/diff/", {"from": 1, "to": 2}).json()

    assert created.status_code == 201 and created.json()["status"] == "published"
    assert created.json()["statistics"]["samples"] == 50
    assert second.json()["sample_count"] == 10 and len(diff["removed"]) == 40 and diff["added"] == []
    assert api.post("/api/releases/versions/2/exports/", {"target": "/tmp/x"}, format="json").status_code == 400


def test_a_bad_split_plan_or_selection_is_a_400_naming_the_field(db, client_for):
    api = client_for(Role.DATA_MANAGER)

    bad_plan = api.post(
        "/api/releases/versions/", {"title": "x", "split_plan": {"train": 0.9, "val": 0.2}}, format="json"
    )
    bad_selection = api.post("/api/releases/versions/", {"title": "x", "selection": {"source": [1]}}, format="json")

    assert bad_plan.status_code == 400 and "sum to 1" in bad_plan.json()["errors"]["split_plan"][0]
    assert bad_selection.status_code == 400 and "source" in bad_selection.json()["errors"]["selection"][0]
    assert not DatasetVersion.objects.exists()


def test_an_export_started_through_the_api_is_planned(verified_dataset, client_for, tmp_path, settings):
    settings.EXPORT_ROOTS = [str(tmp_path)]
    api = client_for(Role.DATA_MANAGER)
    api.post("/api/releases/versions/", {"title": "all", "publish": True}, format="json")

    response = api.post(
        "/api/releases/versions/1/exports/", {"target": str(tmp_path), "shard_max_samples": 10}, format="json"
    )

    assert response.status_code == 201, response.content
    export = Export.objects.get(pk=response.json()["id"])
    # queued, no worker has taken it up yet: pending (base/jobs.py), running once a shard task starts
    assert export.shards_total >= 5 and api.get(f"/api/releases/exports/{export.pk}/").json()["status"] == "pending"


def test_an_export_target_outside_the_export_roots_is_a_400_naming_target(
    verified_dataset, client_for, tmp_path, settings
):
    settings.EXPORT_ROOTS = [str(tmp_path / "exports")]
    api = client_for(Role.DATA_MANAGER)
    api.post("/api/releases/versions/", {"title": "all", "publish": True}, format="json")

    response = api.post("/api/releases/versions/1/exports/", {"target": str(tmp_path / "elsewhere")}, format="json")

    assert response.status_code == 400
    assert "not under an export root" in response.json()["errors"]["target"][0]
    assert not Export.objects.exists()


def test_annotators_cannot_cut_versions(verified_dataset, client_for):
    assert client_for(Role.ANNOTATOR).post("/api/releases/versions/", {"title": "x"}, format="json").status_code == 403


def test_the_admin_shows_version_statistics_as_charts(verified_dataset, make_user):
    from releases.versions import dataset_version_create

    version = dataset_version_create(title="charts")
    browser = Client()
    browser.force_login(make_user(Role.ADMIN, is_staff=True, is_superuser=True))

    page = browser.get(f"/admin/releases/datasetversion/{version.pk}/change/")

    assert page.status_code == 200
    html = page.content.decode()
    assert html.count("<svg") >= 6 and "def-large-breakage" in html
    assert DatasetVersion.objects.count() == 1


@pytest.mark.parametrize(
    "target",
    [
        "{outside}/exports",  # another folder of the server
        "{root}/../escaped",  # .. out of the root
        "{root}/link/inside",  # a symlink in the root that points out of it
        "s3://other-bucket/prefix",  # a bucket not configured
        "s3://exports-bucket/elsewhere",  # a configured bucket, another prefix
        "s3://exports-bucket/allowed/../elsewhere",
        "file:///etc",
    ],
)
def test_an_export_target_outside_the_export_roots_is_refused_and_nothing_is_created(
    verified_dataset, client_for, tmp_path, settings, target
):
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside)
    settings.EXPORT_ROOTS = [str(root)]
    settings.EXPORT_S3_LOCATIONS = ["s3://exports-bucket/allowed"]
    api = client_for(Role.DATA_MANAGER)
    api.post("/api/releases/versions/", {"title": "all", "publish": True}, format="json")
    before = sorted(tmp_path.rglob("*"))

    asked = target.format(root=root, outside=outside)
    response = api.post("/api/releases/versions/1/exports/", {"target": asked}, format="json")

    assert response.status_code == 400, response.content
    assert asked in response.json()["detail"]  # the message names what was refused
    assert sorted(tmp_path.rglob("*")) == before
    assert not Export.objects.exists()


def test_a_relative_export_target_lies_under_the_first_export_root(verified_dataset, client_for, tmp_path, settings):
    settings.EXPORT_ROOTS = [str(tmp_path / "root")]
    api = client_for(Role.DATA_MANAGER)
    api.post("/api/releases/versions/", {"title": "all", "publish": True}, format="json")

    response = api.post("/api/releases/versions/1/exports/", {"target": "nightly/v1"}, format="json")

    assert response.status_code == 201, response.content
    assert Export.objects.get().target == str((tmp_path / "root" / "nightly" / "v1").resolve())
