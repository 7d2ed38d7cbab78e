"""Raw class names of public datasets, read as each dataset means them (vocabulary/data/label_maps)."""

import pytest

from annotation.revision_content import draft_content_for_sample
from catalog.models import Source
from catalog.services import source_dataset_default
from tests.annotation.factories import box_mask, make_sample
from vocabulary.label_maps import dataset_named, label_maps, label_term_slug
from vocabulary.models import Facet
from vocabulary.selectors import term_for_source_label

from .conftest import bundled_records_cached

DATASETS = ["mvtec-ad", "visa", "mvtec-loco", "mvtec-ad-2", "real-iad", "goodsad", "deeppcb", "kolektorsdd",
            "neu-det", "magnetic-tile", "defect-spectrum"]  # fmt: skip


def test_there_is_one_label_map_per_public_dataset_the_issue_names():
    assert set(DATASETS) <= set(label_maps())


@pytest.mark.parametrize("dataset", sorted(label_maps()))
def test_every_mapped_label_names_an_approved_defect_type_of_the_bundled_vocabulary(dataset):
    defect_types = {r.slug for r in bundled_records_cached() if r.facet == Facet.DEFECT_TYPE and r.status == "approved"}
    targets = {slug for slug in label_maps()[dataset].labels.values() if slug is not None}
    assert targets - defect_types == set()


@pytest.mark.parametrize(
    "dataset, label, slug",
    [
        ("mvtec-ad", "broken_large", "def-large-breakage"),
        ("mvtec-ad", "thread", "def-stray-thread"),
        ("mvtec-ad", "defective", "def-bristle-defect"),
        ("mvtec-ad", "good", "def-defect-free"),
        ("visa", "chunk of wax missing", "def-missing-material"),
        ("visa", "different colour spot", "def-color-defect"),
        ("visa", "corner or edge breakage", "def-chipped-edge"),
        ("visa", "stuck together", "def-stuck-together"),
        ("visa", "wrong place", "def-misplaced-component"),
        ("visa", "normal", "def-defect-free"),
        ("mvtec-loco", "logical_anomalies", "def-logical-anomaly"),
        ("mvtec-loco", "structural_anomalies", "def-structural-anomaly"),
        ("mvtec-ad-2", "good", "def-defect-free"),
        ("real-iad", "HS", "def-scratch"),
        ("real-iad", "QS", "def-missing-component"),
        ("goodsad", "torn", "def-tear"),
        ("deeppcb", "copper", "def-spurious-copper"),
        ("deeppcb", "5", "def-spurious-copper"),
        ("deeppcb", "mousebite", "def-mouse-bite"),
        ("kolektorsdd", "defect", "def-crack"),
        ("neu-det", "rolled-in_scale", "def-rolled-in-scale"),
        ("neu-det", "Sc", "def-scratch"),
        ("magnetic-tile", "MT_Uneven", "def-uneven-surface"),
        ("magnetic-tile", "MT_Free", "def-defect-free"),
        ("defect-spectrum", "broken_small", "def-small-breakage"),
    ],
)
def test_a_raw_label_maps_to_the_term_its_dataset_means(dataset, label, slug):
    assert label_term_slug(label, dataset=dataset) == (True, slug)


def test_copper_is_spurious_copper_only_in_a_pcb_dataset():
    assert label_term_slug("copper", dataset="deeppcb") == (True, "def-spurious-copper")
    assert label_term_slug("copper", dataset="mvtec-ad") == (False, None)
    assert label_term_slug("copper") == (False, None)


def test_labels_that_name_a_defect_of_no_type_are_known_but_map_to_no_term():
    assert label_term_slug("bad", dataset="mvtec-ad-2") == (True, None)
    assert label_term_slug("defective", dataset="kolektorsdd2") == (True, None)


def test_a_comma_joined_label_maps_only_when_its_parts_agree():
    assert label_term_slug("small scratches,scratches", dataset="visa") == (True, "def-scratch")
    assert label_term_slug("chunk of wax missing,different colour spot", dataset="visa") == (True, None)
    assert label_term_slug("chunk of wax missing,no such thing", dataset="visa") == (False, None)


def test_dataset_names_as_people_write_them():
    assert dataset_named("MVTec AD") == "mvtec-ad"
    assert dataset_named("mvtec_loco") == "mvtec-loco"
    assert dataset_named("DeepPCB") == "deeppcb"
    assert dataset_named("Partner A") == ""


@pytest.mark.django_db
def test_the_selector_reads_the_dataset_map_then_the_vocabulary(vocabulary):
    assert term_for_source_label("copper", dataset="deeppcb").slug == "def-spurious-copper"
    assert term_for_source_label("copper", dataset="") is None  # an ambiguous alias maps nothing alone
    assert term_for_source_label("scratch", dataset="").slug == "def-scratch"  # an unambiguous name
    assert term_for_source_label("good", dataset="").slug == "def-defect-free"
    assert term_for_source_label("bad", dataset="mvtec-ad-2") is None


@pytest.mark.django_db
def test_the_first_draft_maps_region_labels_through_the_sources_dataset(vocabulary):
    pcb = Source.objects.create(name="DeepPCB test", dataset="deeppcb")
    other = Source.objects.create(name="Partner PCB")
    mask = box_mask(40, 30, 5, 5, 10, 3)
    in_pcb = make_sample(pcb, regions=(("copper", mask), ("open", mask)))
    elsewhere = make_sample(other, regions=(("copper", mask),))

    drafts = {
        sample.pk: draft_content_for_sample(sample, label_terms={}, product_terms={}, dataset=sample.source.dataset)
        for sample in (in_pcb, elsewhere)
    }

    assert [r.defect_type.slug for r in drafts[in_pcb.pk].regions] == ["def-spurious-copper", "def-open-circuit"]
    assert [(r.defect_type, r.raw_label) for r in drafts[elsewhere.pk].regions] == [(None, "copper")]


@pytest.mark.django_db
def test_a_source_gets_its_dataset_from_its_importer_or_its_name():
    mvtec = Source.objects.create(name="Bottles")
    source_dataset_default(source=mvtec, format="mvtec")
    named = Source.objects.create(name="DeepPCB")
    source_dataset_default(source=named, format="coco")
    by_hand = Source.objects.create(name="VisA", dataset="defect-spectrum")
    source_dataset_default(source=by_hand, format="folder")
    assert [s.dataset for s in (mvtec, named, by_hand)] == ["mvtec-ad", "deeppcb", "defect-spectrum"]
