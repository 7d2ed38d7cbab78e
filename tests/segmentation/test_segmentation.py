"""Click-assisted segmentation: POST /api/annotation/segment/ and its backends list."""

import shutil

import numpy as np
import pytest
from PIL import Image

from accounts.roles import Role
from catalog.images import letterbox_geometry
from catalog.models import Sample
from catalog.rle import mask_to_rle, rle_to_mask
from segmentation.backends import Click, known_backends
from segmentation.evaluation import iou, next_click, simulate_clicks
from tests.catalog.helpers import run_import

pytestmark = pytest.mark.django_db

URL = "/api/annotation/segment/"
ASSET = 512


def import_mvtec_image(root, real_data, defect: str, number: str, *, restricted: bool = False) -> Sample:
    """One MVTec AD bottle image and its ground-truth mask, imported as the platform imports them."""
    bottle = real_data / "mvtec_ad" / "bottle"
    (root / "bottle" / "test" / defect).mkdir(parents=True)
    (root / "bottle" / "ground_truth" / defect).mkdir(parents=True)
    shutil.copy(bottle / "test" / defect / f"{number}.png", root / "bottle" / "test" / defect)
    shutil.copy(bottle / "ground_truth" / defect / f"{number}_mask.png", root / "bottle" / "ground_truth" / defect)
    job = run_import("mvtec", root, source="Partner" if restricted else "MVTec AD", restricted=restricted)
    assert job.imported == 1
    return Sample.objects.get(external_id__endswith=f"{defect}/{number}.png")


def truth_on_asset(sample: Sample) -> np.ndarray:
    """The imported ground truth moved onto the 512x512 asset grid, as the asset itself was made."""
    original = rle_to_mask(sample.source_regions.get().mask_rle)
    _, new_w, new_h, offset_x, offset_y = letterbox_geometry(sample.width, sample.height, ASSET)
    resized = Image.fromarray(original.astype(np.uint8) * 255).resize((new_w, new_h), Image.Resampling.BILINEAR)
    truth = np.zeros((ASSET, ASSET), dtype=bool)
    truth[offset_y : offset_y + new_h, offset_x : offset_x + new_w] = np.asarray(resized) >= 128
    return truth


@pytest.fixture
def sample(tmp_path, real_data) -> Sample:
    return import_mvtec_image(tmp_path / "mvtec", real_data, "contamination", "002")


@pytest.fixture
def api(client_for):
    return client_for(Role.ANNOTATOR)


def segment(api, sample_id, clicks, **extra):
    body = {"sample": sample_id, "clicks": [{"x": x, "y": y, "positive": p} for x, y, p in clicks], **extra}
    return api.post(URL, body, format="json")


def test_clicks_on_a_real_defect_reach_a_useful_mask_within_five_clicks(api, sample):
    truth = truth_on_asset(sample)
    answers = []

    def through_the_endpoint(clicks, previous):
        body = {"sample": sample.pk, "clicks": [{"x": c.x, "y": c.y, "positive": c.positive} for c in clicks]}
        if previous is not None:
            body["previous_mask"] = mask_to_rle(previous)
        response = api.post(URL, body, format="json")
        assert response.status_code == 200, response.json()
        answers.append(response.json())
        return rle_to_mask(response.json()["mask"])

    run = simulate_clicks(through_the_endpoint, truth, max_clicks=5)

    assert max(run.ious) >= 0.5, run.ious
    last = answers[-1]
    assert (last["width"], last["height"], last["backend"]) == (ASSET, ASSET, "grabcut")
    assert last["area"] == int(rle_to_mask(last["mask"]).sum()) > 0
    assert last["bbox"] is not None and last["elapsed_ms"] > 0


def test_sending_the_previous_mask_gives_the_same_answer_as_replaying_the_clicks(api, sample):
    clicks = [(300, 250, True), (320, 240, True), (310, 262, False)]
    first_two = segment(api, sample.pk, clicks[:2]).json()["mask"]

    refined = segment(api, sample.pk, clicks, previous_mask=first_two).json()
    replayed = segment(api, sample.pk, clicks).json()

    assert refined["mask"] == replayed["mask"]


def test_no_clicks_is_refused_naming_clicks(api, sample):
    response = segment(api, sample.pk, [])

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["clicks"]
    assert "at least one click" in response.json()["detail"]


def test_a_negative_first_click_is_refused(api, sample):
    response = segment(api, sample.pk, [(10, 10, False), (20, 20, True)])

    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid",
        "detail": "the first click must be positive (on the defect)",
        "errors": {"clicks": ["the first click must be positive (on the defect)"]},
    }


@pytest.mark.parametrize(
    "click",
    [
        {"x": 10.5, "y": 3, "positive": True},
        {"x": "10", "y": 3, "positive": True},
        {"x": True, "y": 3, "positive": True},
    ],
)
def test_coordinates_that_are_not_integers_are_refused(api, sample, click):
    response = api.post(URL, {"sample": sample.pk, "clicks": [click]}, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["clicks"]
    assert "clicks[0]: x and y must be integers" in response.json()["detail"]


@pytest.mark.parametrize("click", [{"x": 3, "positive": True}, {"x": 3, "y": 4, "positive": 1}, [3, 4, True]])
def test_malformed_clicks_are_refused_saying_what_is_wrong(api, sample, click):
    response = api.post(URL, {"sample": sample.pk, "clicks": [click]}, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["clicks"]
    assert response.json()["detail"].startswith("clicks[0]")


@pytest.mark.parametrize("x, y", [(512, 10), (10, -1), (600, 600)])
def test_a_click_outside_the_image_is_refused_naming_it_and_the_image_size(api, sample, x, y):
    response = segment(api, sample.pk, [(5, 5, True), (x, y, False)])

    assert response.status_code == 400
    detail = response.json()["detail"]
    assert list(response.json()["errors"]) == ["clicks"]
    assert f"clicks[1] at ({x}, {y}) lies outside the 512x512 image" in detail


def test_an_unknown_backend_is_refused_listing_the_known_ones(api, sample):
    response = segment(api, sample.pk, [(5, 5, True)], backend="sam-xl")

    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid",
        "detail": "unknown backend 'sam-xl'; known: grabcut",
        "errors": {"backend": ["unknown backend 'sam-xl'; known: grabcut"]},
    }


def test_a_previous_mask_of_another_size_is_refused(api, sample):
    wrong = mask_to_rle(np.zeros((100, 80), dtype=bool))

    response = segment(api, sample.pk, [(5, 5, True)], previous_mask=wrong)

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["previous_mask"]
    assert "does not match the image (512x512" in response.json()["detail"]


def test_unknown_keys_and_a_missing_sample_id_are_refused(api, sample):
    assert list(api.post(URL, {"clicks": []}, format="json").json()["errors"]) == ["sample"]
    response = api.post(URL, {"sample": sample.pk, "clicks": [], "points": []}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid",
        "detail": "invalid points",
        "errors": {"points": ["unknown field; expected one of: sample, backend, clicks, previous_mask, box"]},
    }


def test_an_empty_proposal_is_an_answer_not_an_error(api, sample):
    """A negative click on the only region of the previous mask removes all of it."""
    previous = np.zeros((ASSET, ASSET), dtype=bool)
    previous[100:110, 100:110] = True

    response = segment(api, sample.pk, [(400, 400, True), (105, 105, False)], previous_mask=mask_to_rle(previous))

    assert response.status_code == 200
    body = response.json()
    assert body["area"] == 0 and body["bbox"] is None
    assert not rle_to_mask(body["mask"]).any()


def test_an_empty_previous_mask_is_accepted(api, sample):
    empty = mask_to_rle(np.zeros((ASSET, ASSET), dtype=bool))

    response = segment(api, sample.pk, [(300, 250, True)], previous_mask=empty)

    assert response.status_code == 200
    assert response.json()["area"] > 0


def test_an_unknown_sample_is_404(api, sample):
    assert segment(api, sample.pk + 1000, [(5, 5, True)]).status_code == 404


def test_a_restricted_sample_is_404_for_outsiders_and_served_to_members(client_for, make_user, tmp_path, real_data):
    restricted = import_mvtec_image(tmp_path / "partner", real_data, "broken_small", "001", restricted=True)
    member = make_user(Role.ANNOTATOR)
    restricted.source.members.add(member)

    assert segment(client_for(Role.ANNOTATOR), restricted.pk, [(5, 5, True)]).status_code == 404
    assert segment(client_for(user=member), restricted.pk, [(5, 5, True)]).status_code == 200


def test_anonymous_and_roleless_users_are_refused(client_for, sample):
    from rest_framework.test import APIClient

    assert segment(APIClient(), sample.pk, [(5, 5, True)]).status_code in (401, 403)
    assert segment(client_for(None), sample.pk, [(5, 5, True)]).status_code == 403
    assert client_for(None).get(URL + "backends/").status_code == 403


def test_the_backends_are_listed_with_a_description(api):
    response = api.get(URL + "backends/")

    assert response.status_code == 200
    assert response.json() == [
        {
            "name": name,
            "description": backend.description,
            "default": name == "grabcut",
            "accepts_box": getattr(backend, "accepts_box", False),
        }
        for name, backend in sorted(known_backends().items())
    ]
    assert all(item["description"] for item in response.json())


def test_the_simulated_annotator_clicks_the_centre_of_the_largest_error():
    truth = np.zeros((40, 40), dtype=bool)
    truth[5:25, 5:15] = True  # 200 px
    prediction = np.zeros_like(truth)
    prediction[5:25, 5:10] = True  # misses 100 px on the right
    prediction[30:34, 30:34] = True  # adds 16 px elsewhere

    click = next_click(prediction, truth)

    # the middle column of the missed 5-px-wide strip: every pixel of it is 3 px from the strip's edge
    assert click.positive and click.x == 12 and 7 <= click.y <= 22
    prediction[5:25, 10:15] = True
    assert next_click(prediction, truth) == Click(x=31, y=31, positive=False)
    assert iou(prediction, truth) == pytest.approx(200 / 216)
