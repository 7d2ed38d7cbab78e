import io
import json
from collections import Counter

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotation.models import Annotation
from annotation.revision_content import content_of, revisions_with_content
from catalog.models import Sample, Source, Visibility
from releases.models import DatasetVersion
from releases.splits import SplitItem, SplitPlan, assign_splits, one_split_per_image
from releases.versions import (
    VersionError,
    dataset_version_create,
    dataset_version_diff,
    dataset_version_publish,
)

pytestmark = pytest.mark.django_db


def test_a_version_freezes_every_verified_sample_with_splits_and_statistics(verified_dataset):
    version = dataset_version_create(title="bottle", split_plan={"seed": 3})

    assert version.sample_count == verified_dataset == 50
    stats = version.statistics
    assert sum(stats["per_split"].values()) == 50 and set(stats["per_split"]) <= {"train", "val", "test"}
    assert stats["per_source"] == {"MVTec AD": 50}
    assert stats["per_defect_type"]["def-large-breakage"] == 10
    assert stats["captions_per_language"] == {"en": 50, "zh": 50, "ja": 50}
    assert version.vocabulary_version.number == 1
    again = dataset_version_create(title="again", split_plan={"seed": 3})
    assert list(again.items.values_list("sample_id", "split")) == list(version.items.values_list("sample_id", "split"))


def test_selection_filters_by_defect_type_and_leaves_restricted_sources_out(verified_dataset):
    Source.objects.update(visibility=Visibility.RESTRICTED)
    assert dataset_version_create(title="none").sample_count == 0
    with_restricted = dataset_version_create(title="partner", selection={"include_restricted": True})
    only_breakage = dataset_version_create(
        title="breakage", selection={"include_restricted": True, "defect_types": ["def-large-breakage"]}
    )
    assert (with_restricted.sample_count, only_breakage.sample_count) == (50, 10)


def test_open_vocabulary_split_keeps_held_out_defect_types_out_of_train(verified_dataset):
    version = dataset_version_create(
        title="open", split_plan={"held_out_defect_types": ["def-contamination"], "seed": 1}
    )
    contaminated = version.items.filter(revision__terms__term__slug="def-contamination")
    assert contaminated.count() == 10
    assert set(contaminated.values_list("split", flat=True)) == {"test"}


def test_two_samples_of_one_image_land_in_one_split_the_most_held_out(verified_dataset):
    # A public sample and a partner's of the same bytes (catalog/dedup.py): never one in train and
    # the other in test, whichever of them a version holds.
    plan = {"seed": 3}
    before = dict(dataset_version_create(title="before", split_plan=plan).items.values_list("sample_id", "split"))
    tested = next(s for s, split in before.items() if split == "test")
    trained = next(s for s, split in before.items() if split == "train")
    partner = Source.objects.create(name="partner", visibility=Visibility.RESTRICTED)
    image = Sample.objects.get(pk=tested).sha256
    Sample.objects.filter(pk=trained).update(source=partner, dedup_scope=partner, sha256=image)

    after = dict(
        dataset_version_create(
            title="after", selection={"include_restricted": True}, split_plan=plan
        ).items.values_list("sample_id", "split")
    )

    assert after == {**before, trained: "test"}


def test_one_split_per_image_moves_only_samples_that_share_bytes():
    splits = {1: "train", 2: "val", 3: "train", 4: "test", 5: "train"}
    images = {1: "a", 2: "a", 3: "b", 4: "b", 5: "c"}
    assert one_split_per_image(splits, images) == {1: "val", 2: "val", 3: "test", 4: "test", 5: "train"}


def test_stratified_splits_give_every_class_a_share():
    items = [SplitItem(i, frozenset({f"def-{i % 3}"}), "") for i in range(300)]
    splits = assign_splits(items, SplitPlan(stratify=True, seed=5))
    for defect in ("def-0", "def-1", "def-2"):
        counts = {
            s: sum(1 for it in items if defect in it.defect_types and splits[it.sample_id] == s)
            for s in ("train", "val", "test")
        }
        assert counts == {"train": 80, "val": 10, "test": 10}


def test_unseen_domain_split_and_bad_ratios():
    items = [SplitItem(i, frozenset(), "dom-mvtec" if i < 10 else "dom-steel") for i in range(100)]
    splits = assign_splits(items, SplitPlan(held_out_domains=frozenset({"dom-mvtec"})))
    assert {splits[i] for i in range(10)} == {"test"}
    with pytest.raises(ValueError, match="sum to 1"):
        SplitPlan(train=0.9, val=0.2, test=0.1)


def test_a_published_version_does_not_change_when_a_sample_is_edited(verified_dataset):
    version = dataset_version_publish(version=dataset_version_create(title="v"))
    frozen = list(version.items.values_list("sample_id", "revision_id"))
    annotation = Annotation.objects.order_by("pk").first()
    # A later edit makes a new revision and points the annotation at it.
    from annotation.revision_content import content_of, revision_write

    revision_write(
        annotation=annotation,
        content=content_of(annotation.current_revision),
        stage="consensus",
        author=None,
        vocabulary_version=None,
    )
    annotation.final_revision = annotation.current_revision
    annotation.save()

    assert list(version.items.values_list("sample_id", "revision_id")) == frozen
    later = dataset_version_create(title="later")
    assert dataset_version_diff(old=version, new=later) == {"added": [], "removed": [], "changed": [annotation.pk]}
    with pytest.raises(VersionError, match="published already"):
        dataset_version_publish(version=version)


def test_unknown_selection_keys_are_refused(verified_dataset):
    with pytest.raises(VersionError, match="unknown selection key"):
        dataset_version_create(title="x", selection={"colour": "red"})


def test_version_statistics_agree_with_each_samples_content(verified_dataset):
    version = dataset_version_create(title="bottle", split_plan={"seed": 3})

    domains, defect_types, regions, captions = Counter(), Counter(), Counter(), Counter()
    for item in version.items.select_related("sample"):
        content = content_of(revisions_with_content().get(pk=item.revision_id))
        product = content.fields["product"]
        domains[(product[0].parent.slug if product and product[0].parent_id else "") or item.sample.domain] += 1
        types = {t.slug for t in content.fields["defect_types"]} | {
            r.defect_type.slug for r in content.regions if r.defect_type
        }
        defect_types.update(types or {"(defect-free)"})
        regions[str(min(len(content.regions), 5)) + ("+" if len(content.regions) >= 5 else "")] += 1
        captions.update(content.captions.keys())
        assert item.sha256 == item.sample.sha256 and item.revision_id == item.sample.annotation.final_revision_id

    stats = version.statistics
    assert stats["per_domain"] == dict(domains) and stats["per_defect_type"] == dict(defect_types)
    assert stats["regions_per_sample"] == dict(regions) and stats["captions_per_language"] == dict(captions)


def test_create_version_with_a_publish_that_fails_leaves_no_draft_and_no_number_taken(verified_dataset):
    Source.objects.update(visibility=Visibility.RESTRICTED)  # the default selection then holds no sample

    with pytest.raises(CommandError, match="nothing to publish"):
        call_command("create_version", "--title", "empty", "--publish", stdout=io.StringIO())

    assert not DatasetVersion.objects.exists()
    call_command(
        "create_version", "--title", "next", "--selection", '{"include_restricted": true}', stdout=io.StringIO()
    )
    assert DatasetVersion.objects.get().number == 1


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        ({"defect_types": ["scratch", "def-large-breakage"]}, "no defect type scratch"),
        ({"domains": ["nowhere"]}, "no domain nowhere"),
        ({"sources": [999999]}, r"no source with id\(s\) 999999"),
    ],
)
def test_selection_values_that_match_nothing_are_refused_by_name(verified_dataset, selection, message):
    with pytest.raises(VersionError, match=message):
        dataset_version_create(title="x", selection=selection)
    with pytest.raises(CommandError, match=message):
        call_command("create_version", "--title", "x", "--selection", json.dumps(selection), stdout=io.StringIO())

    assert not DatasetVersion.objects.exists()


def test_a_version_of_no_sample_is_reported_without_a_dangling_separator(verified_dataset):
    Source.objects.update(visibility=Visibility.RESTRICTED)
    out = io.StringIO()

    call_command("create_version", "--title", "none", stdout=out)

    assert out.getvalue().strip() == "v1 (draft): 0 samples"


def test_a_domain_is_a_domain_terms_slug_or_a_samples_domain(verified_dataset):
    from catalog.models import Sample
    from vocabulary.models import Facet, Term

    term = Term.objects.filter(facet=Facet.DOMAIN).first()
    Sample.objects.filter(pk=Sample.objects.first().pk).update(domain="glassware")

    assert dataset_version_create(title="term", selection={"domains": [term.slug]}).pk
    assert dataset_version_create(title="free", selection={"domains": ["glassware"]}).sample_count == 1


def test_a_split_plan_leaving_out_a_ratio_says_which_default_it_got(db):
    # The user meant no test split; test keeps its default 0.1, and the message must say so.
    with pytest.raises(VersionError) as refused:
        dataset_version_create(title="x", split_plan={"train": 0.8, "val": 0.2})

    message = str(refused.value)
    assert "(got train 0.8, val 0.2, test 0.1)" in message and "at their defaults: test" in message
    assert not DatasetVersion.objects.exists()


def test_publishing_an_empty_version_says_only_verified_annotations_are_picked(db):
    # Freshly imported samples have no VERIFIED annotation yet: the message must point there.
    with pytest.raises(CommandError, match="no VERIFIED annotation matches its selection"):
        call_command("create_version", "--title", "first", "--publish", stdout=io.StringIO())

    assert not DatasetVersion.objects.exists()
