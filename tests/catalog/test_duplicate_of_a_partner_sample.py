"""The catalog keeps one sample per image, so a public import of an image a partner already gave
finds it as a duplicate. For anyone outside the partner's source that sample does not exist: the
row names no sample (in its text, through the API or in the admin), and what the row carried
(regions, text) is said to be not imported, never dropped silently."""

import json

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from accounts.roles import Role
from catalog.models import RowOutcome, Sample, Source

from .helpers import run_import
from .test_import_bad_input import png_bytes

pytestmark = pytest.mark.django_db


def folder(root, rows):
    root.mkdir()
    for row in rows:
        (root / row["image"]).write_bytes(png_bytes(seed=row.pop("seed")))
    (root / "manifest.jsonl").write_text("\n".join(json.dumps(row) for row in rows))
    return root


@pytest.fixture
def partner_then_public(tmp_path):
    partner = folder(tmp_path / "partner", [{"image": "p.png", "seed": 7}])
    run_import("folder", partner, source="Partner B", restricted=True)
    public = folder(
        tmp_path / "public",
        [
            {
                "image": "same.png",
                "seed": 7,
                "text": "a scratch",
                "boxes": [{"bbox": [1, 1, 8, 8], "label": "scratch"}],
            },
            {"image": "other.png", "seed": 8},
        ],
    )
    job = run_import("folder", public, source="Public C")
    return job, Sample.objects.get(source__name="Partner B")


def test_a_duplicate_row_names_the_partner_sample_only_to_who_may_see_it(partner_then_public, make_user, client_for):
    job, partner_sample = partner_then_public
    row = job.rows.get(item="same.png")
    assert row.outcome == RowOutcome.DUPLICATE
    assert str(partner_sample.pk) not in row.reason
    assert row.reason == (
        "same bytes as a sample already in the catalog; its regions and text were not imported (one sample per image)"
    )

    outsider, member = make_user(Role.DATA_MANAGER), make_user(Role.DATA_MANAGER)
    Source.objects.get(name="Partner B").members.add(member)

    def listed(user):
        rows = client_for(user=user).get(f"/api/import-jobs/{job.pk}/rows/").json()["results"]
        return {r["item"]: r["sample"] for r in rows}

    assert listed(outsider)["same.png"] is None
    assert listed(member)["same.png"] == partner_sample.pk
    assert listed(outsider)["other.png"] == Sample.objects.get(source__name="Public C").pk

    link = f"/admin/catalog/sample/{partner_sample.pk}/change/"
    view_rows = Permission.objects.get(codename="view_importrow")
    for user, shown in ((outsider, False), (member, True)):
        user.is_staff = True
        user.save()
        user.user_permissions.add(view_rows)  # no role has the admin's row list; anyone granted it
        browser = Client()
        browser.force_login(user)
        page = browser.get("/admin/catalog/importrow/")
        assert page.status_code == 200
        assert (link in page.content.decode()) is shown
        row_page = browser.get(f"/admin/catalog/importrow/{row.pk}/change/").content.decode()
        assert (link in row_page) is shown


def test_rows_written_before_carry_no_sample_id_after_the_migration(tmp_path):
    from importlib import import_module

    from django.apps import apps

    from catalog.models import ImportRow

    job = run_import("folder", folder(tmp_path / "one", [{"image": "a.png", "seed": 1}]))
    ImportRow.objects.create(job=job, item="x.png", outcome=RowOutcome.DUPLICATE, reason="same bytes as sample 4711")
    import_module("catalog.migrations.0010_duplicate_rows_name_no_sample").reword(apps, None)
    assert ImportRow.objects.get(item="x.png").reason == "same bytes as a sample already in the catalog"
