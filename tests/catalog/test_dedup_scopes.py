"""An imported image is a duplicate only of a sample of the same source or of a public source's
(catalog/dedup.py): a partner's image neither makes a public import lose that image nor tells the
importer that a partner holds it. The same bytes may therefore be a sample twice, sharing files."""

import itertools
import json

import pytest
from django.contrib.auth.models import Permission
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.test import Client

from accounts.roles import Role
from catalog import ingest, services
from catalog.dedup import dedup_scope_for
from catalog.models import ImportRow, RowOutcome, Sample, Source, Visibility
from catalog.near_duplicates import near_duplicate_groups
from catalog.selectors import samples_visible_to

from .helpers import run_import
from .test_import_bad_input import png_bytes

pytestmark = pytest.mark.django_db


def folder(root, rows):
    root.mkdir()
    for row in rows:
        (root / row["image"]).write_bytes(png_bytes(seed=row.pop("seed")))
    (root / "manifest.jsonl").write_text("\n".join(json.dumps(row) for row in rows))
    return root


class Imports:
    """Folder imports of seeded PNGs into named sources, each from a folder of its own."""

    def __init__(self, root):
        self.root, self.count = root, 0

    def __call__(self, source, *seeds, restricted=False, extra=None):
        self.count += 1
        rows = [{"image": f"{seed}.png", "seed": seed, **(extra or {})} for seed in seeds]
        return run_import(
            "folder", folder(self.root / f"import{self.count}", rows), source=source, restricted=restricted
        )


@pytest.fixture
def imports(tmp_path):
    return Imports(tmp_path)


def only_row(job) -> ImportRow:
    [row] = job.rows.all()
    return row


# -- the rule, as a matrix --------------------------------------------------------------------

# Where the image already is, seen from the importing source: itself, another public source, or
# another restricted source. A duplicate only of the first two.
EXISTING = {"same source": True, "other public": True, "other restricted": False}
IMPORTING = {"public": False, "restricted": True}


def _blind_first_lookup(monkeypatch):
    """The race: another worker stores the image between this batch's look-up and its insert. The
    look-up before processing finds nothing; the insert meets the unique constraint (or not)."""
    real = ingest.duplicates_for_import
    calls = []

    def blinded(**kwargs):
        calls.append(kwargs)
        return {} if len(calls) == 1 else real(**kwargs)

    monkeypatch.setattr(ingest, "duplicates_for_import", blinded)


@pytest.mark.parametrize("path", ["looked up", "insert races"])
@pytest.mark.parametrize(
    ("importing", "existing"), list(itertools.product(IMPORTING, EXISTING)), ids=lambda value: value.replace(" ", "-")
)
def test_an_image_is_a_duplicate_only_of_its_own_source_s_or_a_public_sample(
    importing, existing, path, imports, monkeypatch
):
    restricted = IMPORTING[importing]
    if existing == "same source":
        imports("importing", 7, restricted=restricted)
    else:
        imports("elsewhere", 7, restricted=existing == "other restricted")
    before = Sample.objects.get()
    if path == "insert races":
        _blind_first_lookup(monkeypatch)

    row = only_row(imports("importing", 7, restricted=restricted))

    # Looked up, the rule holds. An insert racing another worker's meets the unique constraint only
    # in the same scope: racing a public import, a restricted one keeps a copy (never the reverse).
    same_scope = existing == "same source" or (existing == "other public" and not restricted)
    if EXISTING[existing] if path == "looked up" else same_scope:
        assert (row.outcome, row.sample_id) == (RowOutcome.DUPLICATE, before.pk)
        assert row.reason == "same bytes as a sample already in this source or a public one"
        assert Sample.objects.count() == 1
    else:
        assert (row.outcome, row.reason) == (RowOutcome.IMPORTED, "")
        new = Sample.objects.get(pk=row.sample_id)
        assert (new.source.name, new.sha256) == ("importing", before.sha256)
        assert new.dedup_scope_id == (new.source_id if restricted else None)
        assert new.original.name == before.original.name  # content-addressed: the files are shared


def test_one_scope_holds_an_image_once_whatever_the_code_above_it_does(imports):
    imports("public", 1)
    imports("partner", 2, restricted=True)
    public, partner = Sample.objects.get(source__name="public"), Sample.objects.get(source__name="partner")

    def copy(sample, **changes):
        fields = {f.attname: getattr(sample, f.attname) for f in Sample._meta.concrete_fields if f.name != "id"}
        with transaction.atomic():
            return Sample.objects.create(**{**fields, "external_id": "copy", **changes})

    with pytest.raises(IntegrityError):
        copy(public, source_id=Source.objects.create(name="other public").pk)
    with pytest.raises(IntegrityError):
        copy(partner)
    other = Source.objects.create(name="other partner", visibility=Visibility.RESTRICTED)
    assert copy(partner, source_id=other.pk, dedup_scope_id=other.pk).sha256 == partner.sha256
    assert copy(public, source_id=other.pk, dedup_scope_id=other.pk).sha256 == public.sha256


@pytest.mark.parametrize("restricted", [False, True])
def test_an_image_twice_in_one_import_is_one_sample_whatever_the_scope(restricted, tmp_path):
    rows = [{"image": "a.png", "seed": 3}, {"image": "b.png", "seed": 3}]
    job = run_import("folder", folder(tmp_path / "twice", rows), source="s", restricted=restricted)
    assert (job.imported, job.duplicates, Sample.objects.count()) == (1, 1, 1)


def test_a_duplicate_row_says_what_it_carried_was_not_imported(imports):
    imports("public", 7)
    row = only_row(imports("public", 7, extra={"text": "a dent", "boxes": [{"bbox": [1, 1, 4, 4], "label": "dent"}]}))
    assert row.reason == (
        "same bytes as a sample already in this source or a public one; "
        "its regions and text were not imported (the existing sample is kept as it is)"
    )


# -- what a non-member learns -----------------------------------------------------------------


def test_a_public_import_of_a_partner_s_image_imports_it_and_says_nothing_of_the_partner(
    imports, make_user, client_for
):
    imports("Partner B", 7, restricted=True)
    partner_sample = Sample.objects.get(source__name="Partner B")
    outsider = make_user(Role.DATA_MANAGER)

    job = imports("Public C", 7, 8, extra={"text": "a scratch", "boxes": [{"bbox": [1, 1, 8, 8], "label": "scratch"}]})

    api = client_for(user=outsider)
    shown = api.get(f"/api/import-jobs/{job.pk}/").json()
    rows = api.get(f"/api/import-jobs/{job.pk}/rows/").json()["results"]
    assert (shown["imported"], shown["duplicates"], shown["rejected"]) == (2, 0, 0)
    assert [(r["outcome"], r["reason"]) for r in rows] == [("imported", ""), ("imported", "")]
    public_samples = set(Sample.objects.filter(source__name="Public C").values_list("pk", flat=True))
    assert {r["sample"] for r in rows} == public_samples
    assert partner_sample.pk not in public_samples
    new = Sample.objects.get(source__name="Public C", sha256=partner_sample.sha256)
    assert new.source_regions.count() == 1 and new.source_text == "a scratch"  # nothing dropped
    assert api.get(f"/api/samples/{new.pk}/").status_code == 200
    assert api.get(f"/api/samples/{partner_sample.pk}/").status_code == 404


def test_a_row_written_before_scoped_dedup_names_a_partner_sample_only_to_who_may_see_it(
    imports, make_user, client_for
):
    # Before 0012 a public import's duplicate row could point at a partner's sample; such rows stay.
    imports("Partner B", 7, restricted=True)
    partner_sample = Sample.objects.get(source__name="Partner B")
    job = imports("Public C", 8)
    row = ImportRow.objects.create(
        job=job, item="old.png", outcome=RowOutcome.DUPLICATE, reason="x", sample=partner_sample
    )
    outsider, member = make_user(Role.DATA_MANAGER), make_user(Role.DATA_MANAGER)
    Source.objects.get(name="Partner B").members.add(member)

    def listed(user):
        rows = client_for(user=user).get(f"/api/import-jobs/{job.pk}/rows/").json()["results"]
        return {r["item"]: r["sample"] for r in rows}

    assert listed(outsider)["old.png"] is None
    assert listed(member)["old.png"] == partner_sample.pk

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


def test_rows_written_before_carry_no_sample_id_after_the_migration(imports):
    from importlib import import_module

    from django.apps import apps

    job = imports("test source", 1)
    ImportRow.objects.create(job=job, item="x.png", outcome=RowOutcome.DUPLICATE, reason="same bytes as sample 4711")
    import_module("catalog.migrations.0010_duplicate_rows_name_no_sample").reword(apps, None)
    assert ImportRow.objects.get(item="x.png").reason == "same bytes as a sample already in the catalog"


# -- the same image in two scopes -------------------------------------------------------------


def test_a_member_sees_the_public_and_the_partner_copy_as_one_near_duplicate_group(imports, make_user):
    imports("partner", 7, 9, restricted=True)
    imports("public", 7, 8)  # after the partner's: a public sample of its own
    public_copy = Sample.objects.get(source__name="public", external_id="7.png")
    partner_copy = Sample.objects.get(source__name="partner", external_id="7.png")
    member, outsider = make_user(Role.DATA_MANAGER), make_user(Role.DATA_MANAGER)
    Source.objects.get(name="partner").members.add(member)

    seen_by_member = near_duplicate_groups(samples=samples_visible_to(member)).groups
    seen_by_outsider = near_duplicate_groups(samples=samples_visible_to(outsider)).groups

    assert [(sorted(g.sample_ids), g.min_hamming) for g in seen_by_member] == [
        (sorted([public_copy.pk, partner_copy.pk]), 0)
    ]
    assert seen_by_outsider == []


def test_deleting_one_of_two_samples_of_an_image_keeps_the_files_the_other_uses(imports):
    imports("partner", 7, restricted=True)
    imports("public", 7)
    public_copy, partner_copy = Sample.objects.get(source__name="public"), Sample.objects.get(source__name="partner")
    names = [public_copy.original.name, public_copy.asset.name, public_copy.thumbnail.name]
    assert names == [partner_copy.original.name, partner_copy.asset.name, partner_copy.thumbnail.name]

    partner_copy.delete()

    assert all(default_storage.exists(name) for name in names)
    with Sample.objects.get(pk=public_copy.pk).original.open("rb") as original:
        assert original.read() == png_bytes(seed=7)


# -- when a source's visibility changes -------------------------------------------------------


def test_a_source_made_restricted_takes_its_images_out_of_the_public_scope(imports):
    imports("becomes partner", 7, 8)
    source = Source.objects.get(name="becomes partner")

    services.source_access_set(source=source, by=None, visibility=Visibility.RESTRICTED)

    assert set(source.samples.values_list("dedup_scope_id", flat=True)) == {source.pk}
    assert only_row(imports("public", 7)).outcome == RowOutcome.IMPORTED
    assert only_row(imports("becomes partner", 8)).outcome == RowOutcome.DUPLICATE
    assert Sample.objects.get(pk=only_row(imports("becomes partner", 9)).sample_id).dedup_scope_id == source.pk


def test_a_source_made_public_joins_the_public_scope_except_images_already_public_elsewhere(imports):
    imports("was partner", 7, 8, restricted=True)
    imports("public", 7)  # imported while the partner's copy was hidden: a sample of its own
    source = Source.objects.get(name="was partner")
    public_copy = Sample.objects.get(source__name="public")

    services.source_access_set(source=source, by=None, visibility=Visibility.PUBLIC)

    scopes = dict(source.samples.values_list("external_id", "dedup_scope_id"))
    assert scopes == {"7.png": source.pk, "8.png": None}  # 7 stays an exact duplicate, in its own scope
    own_copy = Sample.objects.get(source=source, external_id="7.png")
    assert only_row(imports("was partner", 7)).sample_id == own_copy.pk  # its own sample first
    assert only_row(imports("other public", 7)).sample_id == public_copy.pk
    assert only_row(imports("other public", 8)).sample_id == Sample.objects.get(source=source, external_id="8.png").pk
    new = only_row(imports("was partner", 9))
    assert (new.outcome, Sample.objects.get(pk=new.sample_id).dedup_scope_id) == (RowOutcome.IMPORTED, None)


def test_restricted_public_and_back_again_leaves_every_sample_in_its_source_s_scope(imports):
    imports("partner", 7, 8, restricted=True)
    imports("public", 7)
    source = Source.objects.get(name="partner")

    services.source_access_set(source=source, by=None, visibility=Visibility.PUBLIC)
    services.source_access_set(source=source, by=None, visibility=Visibility.RESTRICTED)

    assert set(source.samples.values_list("dedup_scope_id", flat=True)) == {source.pk}
    assert all(s.dedup_scope_id == dedup_scope_for(s.source) for s in Sample.objects.select_related("source"))
