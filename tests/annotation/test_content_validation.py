"""Bad input: a 400 naming each bad field, and nothing saved, not even partly."""

import base64
import io

import numpy as np
import pytest
from PIL import Image

from annotation.models import Annotation, AnnotationRevision, AuditEvent, Region
from catalog.rle import mask_to_rle
from vocabulary.models import TermStatus

from .conftest import complete_content, enqueue
from .factories import box_mask, make_sample
from .helpers import act, claim_next

pytestmark = pytest.mark.django_db


@pytest.fixture
def holder(annotation, people, client_for):
    """The annotator's client, holding the annotation in stage 1."""
    api = client_for(user=people.annotator)
    assert claim_next(api, "annotation").status_code == 200
    return api


def snapshot(sample_id: int) -> tuple:
    annotation = Annotation.objects.get(pk=sample_id)
    return (
        annotation.version,
        annotation.state,
        AnnotationRevision.objects.count(),
        Region.objects.count(),
        AuditEvent.objects.count(),
    )


def refused(api, sample_id: int, verb: str, content: dict) -> dict:
    before = snapshot(sample_id)
    response = act(api, sample_id, verb, content=content)
    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "invalid"
    assert snapshot(sample_id) == before, "nothing may be saved"
    return response.json()["errors"]


@pytest.mark.parametrize(
    ("fields", "path", "message"),
    [
        ({"product": "glass"}, "fields.product", "is a material term, not a product term"),
        ({"defect_types": ["old_dent"]}, "fields.defect_types", "is deprecated; use def-crack"),
        ({"defect_types": ["proposed"]}, "fields.defect_types", "is proposed, not approved"),
        ({"product": ["bottle", "gear"]}, "fields.product", "takes one term"),
        ({"colour": ["bottle"]}, "fields.colour", "unknown template field"),
        ({"materials": ["not-an-id"]}, "fields.materials", "term ids"),
    ],
)
def test_bad_template_terms(fields, path, message, annotation, holder, vocab):
    payload = {
        name: (
            [getattr(vocab, v).pk if v != "not-an-id" else v for v in value]
            if isinstance(value, list)
            else getattr(vocab, value).pk
        )
        for name, value in fields.items()
    }
    errors = refused(holder, annotation.pk, "save", {"fields": payload, "notes": "would be saved otherwise"})
    assert list(errors) == [path] and message in errors[path][0]


def test_an_unknown_term_id_is_named(annotation, holder):
    errors = refused(holder, annotation.pk, "save", {"fields": {"locations": [987654]}})
    assert errors == {"fields.locations": ["no term 987654"]}


def test_a_mask_that_does_not_match_the_image_size(annotation, holder, vocab):
    wrong = mask_to_rle(box_mask(41, 30, 1, 1, 5, 5))
    errors = refused(holder, annotation.pk, "save", {"regions": [{"defect_type": vocab.scratch.pk, "mask_rle": wrong}]})
    assert "does not match the image (30x40" in errors["regions[0].mask_rle"][0]


def test_rle_counts_must_cover_the_image(annotation, holder, vocab):
    errors = refused(
        holder,
        annotation.pk,
        "save",
        {"regions": [{"defect_type": vocab.scratch.pk, "mask_rle": {"size": [30, 40], "counts": [5, 5]}}]},
    )
    assert "counts sum to 10" in errors["regions[0].mask_rle"][0]


def test_an_empty_mask_and_a_box_outside_the_image(annotation, holder, vocab):
    empty = mask_to_rle(np.zeros((30, 40), dtype=bool))
    errors = refused(
        holder,
        annotation.pk,
        "save",
        {
            "regions": [
                {"defect_type": vocab.scratch.pk, "mask_rle": empty},
                {"defect_type": vocab.scratch.pk, "bbox": [35, 0, 10, 5]},
                {"defect_type": vocab.scratch.pk},
            ]
        },
    )
    assert errors == {
        "regions[0].mask_rle": ["the mask is empty"],
        "regions[1].bbox": ["bbox [35, 0, 10, 5] lies outside the 40x30 image"],
        "regions[2]": ["give mask_rle, mask_png or bbox"],
    }


def png_base64(mask: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(mask.astype(np.uint8) * 255).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_masks_as_png_and_bbox_derived_from_the_mask(annotation, holder, vocab):
    errors = refused(
        holder,
        annotation.pk,
        "save",
        {"regions": [{"defect_type": vocab.crack.pk, "mask_png": png_base64(box_mask(20, 20, 1, 1, 2, 2))}]},
    )
    assert "does not match the image" in errors["regions[0].mask_png"][0]

    saved = act(
        holder,
        annotation.pk,
        "save",
        content={
            "regions": [
                {
                    "defect_type": vocab.crack.pk,
                    "mask_png": png_base64(box_mask(40, 30, 3, 4, 6, 2)),
                    "bbox": [0, 0, 1, 1],
                },
                {"defect_type": vocab.stain.pk, "bbox": [10, 10, 4.5, 3]},
            ]
        },
    ).json()["content"]["regions"]

    assert (saved[0]["bbox"], saved[0]["area"], saved[0]["mask_rle"]["size"]) == ([3, 4, 6, 2], 12, [30, 40])
    assert (saved[1]["bbox"], saved[1]["area"], saved[1]["mask_rle"]) == ([10, 10, 4.5, 3], 14, None)


def test_a_qa_pair_pointing_to_another_samples_region(annotation, holder, vocab):
    other = enqueue(make_sample(regions=(("scratch", [1, 1, 3, 3]),)))[0]
    foreign = other.current_revision.regions.get().pk

    errors = refused(
        holder,
        annotation.pk,
        "save",
        {"qa_pairs": [{"question": "Where?", "answer": "There.", "language": "en", "regions": [foreign, "nope"]}]},
    )

    assert errors == {
        "qa_pairs[0].regions": [
            f"region {foreign} belongs to another sample",
            "no new region with key 'nope' in this payload",
        ]
    }


def test_keeping_another_samples_region_is_refused(annotation, holder):
    other = enqueue(make_sample(regions=(("scratch", [1, 1, 3, 3]),)))[0]
    foreign = other.current_revision.regions.get().pk

    errors = refused(holder, annotation.pk, "save", {"regions": [{"id": foreign}]})

    assert errors == {"regions[0].id": [f"region {foreign} belongs to another sample"]}


def test_removing_a_region_a_qa_pair_points_to(annotation, holder, vocab):
    region = annotation.current_revision.regions.get().pk
    pair = {"question": "Where?", "answer": "Top left.", "language": "en", "regions": [region]}
    assert act(holder, annotation.pk, "save", content={"qa_pairs": [pair]}).status_code == 200

    errors = refused(holder, annotation.pk, "save", {"regions": []})

    assert errors == {"qa_pairs[0].regions": [f"region {region} was removed; update qa_pairs"]}


@pytest.mark.parametrize("blank", ["", "   ", None])
def test_an_empty_caption_in_a_required_language_at_submit(blank, annotation, holder, vocab):
    content = complete_content(vocab)
    content["captions"] = {**content["captions"], "ja": blank}

    errors = refused(holder, annotation.pk, "submit", content)

    assert errors == {"captions.ja": ["required"]}


def test_required_languages_are_a_setting(annotation, holder, vocab, settings):
    settings.ANNOTATION_REQUIRED_LANGUAGES = ["en"]
    content = complete_content(vocab)
    content["captions"] = {"en": "A scratch."}
    assert act(holder, annotation.pk, "submit", content=content).json()["state"] == "submitted"


def test_submit_names_every_missing_part_at_once(annotation, holder, vocab):
    imported = annotation.current_revision.regions.get().pk
    content = {
        "fields": {"product": None},
        "regions": [{"id": imported}, {"bbox": [1, 1, 2, 2]}],
        "captions": {"en": "x"},
    }

    # a malformed payload is refused first; a well-formed but incomplete one names every gap
    assert refused(holder, annotation.pk, "submit", {**content, "captions": {"fr": "y"}}) == {
        "captions.fr": ["unknown language; one of en, zh, ja"]
    }
    errors = refused(holder, annotation.pk, "submit", content)

    assert set(errors) == {"fields.product", "regions[1].defect_type", "captions.zh", "captions.ja"}


def test_unmapped_imported_regions_must_be_typed_before_submit(vocab, people, client_for):
    annotation = enqueue(make_sample(regions=(("weird_blob", [1, 1, 3, 3]),), product="bottle"))[0]
    api = client_for(user=people.annotator)
    claim_next(api, "annotation")

    errors = refused(api, annotation.pk, "submit", complete_content(vocab))

    assert "the source's label 'weird_blob' is not in the vocabulary" in errors["regions[0].defect_type"][0]


def test_a_term_deprecated_after_it_was_chosen_blocks_submit(annotation, holder, vocab):
    assert act(holder, annotation.pk, "save", content={"fields": {"locations": [vocab.edge.pk]}}).status_code == 200
    vocab.edge.status = TermStatus.DEPRECATED
    vocab.edge.replaced_by = vocab.center
    vocab.edge.save()

    errors = refused(holder, annotation.pk, "submit", complete_content(vocab))

    assert "is deprecated; use loc-center" in errors["fields.locations"][0]


def test_unknown_parts_and_shapes(annotation, holder):
    errors = refused(holder, annotation.pk, "save", {"colour": "red", "regions": {"id": 1}, "captions": ["en"]})
    assert set(errors) == {"colour", "regions", "captions"}


def test_unknown_keys_inside_regions_and_qa_pairs_are_named_with_their_path(annotation, holder, vocab):
    region = {"key": "r1", "defect_type": vocab.scratch.pk, "bbox": [1, 1, 3, 3], "colour": "red"}
    pair = {"question": "Where?", "anwser": "There.", "language": "en"}

    errors = refused(holder, annotation.pk, "save", {"regions": [region], "qa_pairs": [pair]})

    assert errors["regions[0].colour"] == ["unknown field; expected one of: key, defect_type, mask_rle, mask_png, bbox"]
    assert errors["qa_pairs[0].anwser"] == ["unknown field; expected one of: question, answer, language, regions"]


def test_the_version_is_required(annotation, holder):
    response = holder.post(f"/api/annotation/annotations/{annotation.pk}/save/", {"content": {}}, format="json")
    assert response.status_code == 400 and "version" in response.json()["errors"]


def test_field_edits_are_audited_with_before_and_after(annotation, holder, vocab):
    response = act(
        holder, annotation.pk, "save", content={"fields": {"product": vocab.gear.pk}, "notes": "gear, not bottle"}
    )

    events = {e.field: (e.before, e.after) for e in AuditEvent.objects.filter(annotation=annotation, action="edit")}
    assert events == {"fields.product": (["prod-bottle"], ["prod-gear"]), "notes": ("", "gear, not bottle")}
    assert response.json()["content"]["number"] == 2
