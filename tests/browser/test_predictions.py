"""The model's proposals on the work page: drawn as their own layer, accepted into the regions or
discarded, one by one, in a real browser."""

import re

import numpy as np
import pytest

from accounts.roles import Role
from annotation.models import PredictedRegion, PredictionDecision
from annotation.predictions import PredictedRegionInput, prediction_store
from catalog.rle import mask_bbox, mask_to_rle
from vocabulary.models import Term

from .conftest import screenshot, wait_for_work_page

pytestmark = pytest.mark.slow


def proposal(sample, term, box) -> PredictedRegionInput:
    mask = np.zeros((sample.height, sample.width), dtype=bool)
    x, y, w, h = box
    mask[y : y + h, x : x + w] = True
    return PredictedRegionInput(
        defect_type=term, mask_rle=mask_to_rle(mask), bbox=mask_bbox(mask), area=int(mask.sum()), score=0.87
    )


def test_an_annotator_accepts_one_proposal_and_discards_the_other(open_as, make_user, make_samples):
    (annotation,) = make_samples(1)
    sample = annotation.sample
    dent, crack = Term.objects.get(slug="def-dent"), Term.objects.get(slug="def-crack")
    prediction_store(
        sample_id=annotation.pk,
        model_key="checkpoint:7",
        model_version="checkpoint 7 (run 2, step 400)",
        regions=[proposal(sample, dent, (20, 20, 40, 30)), proposal(sample, crack, (100, 40, 30, 10))],
        uncertainty=0.3,
    )
    page = open_as(make_user(Role.ANNOTATOR))
    page.click("form[action='/next/annotation/'] button")
    page.wait_for_url(re.compile(rf"/work/{annotation.pk}/$"))
    wait_for_work_page(page)

    page.locator("#predictions-panel:not([hidden]) li.prediction").nth(1).wait_for()
    assert "checkpoint 7 (run 2, step 400)" in page.inner_text("#predictions")
    screenshot(page, "work-model-proposals")
    regions_before = page.evaluate("() => window.imddWork.store.state.regions.length")

    dent_row = page.locator(f'li.prediction[data-prediction="{PredictedRegion.objects.get(defect_type=dent).pk}"]')
    dent_row.get_by_role("button", name="Accept").click()
    page.wait_for_function(f"() => window.imddWork.store.state.regions.length === {regions_before + 1}")
    crack_row = page.locator(f'li.prediction[data-prediction="{PredictedRegion.objects.get(defect_type=crack).pk}"]')
    crack_row.get_by_role("button", name="Discard").click()
    page.locator("#predictions", has_text="No proposals left.").wait_for()

    decisions = dict(PredictedRegion.objects.values_list("defect_type__slug", "decision"))
    assert decisions == {"def-dent": PredictionDecision.ACCEPTED, "def-crack": PredictionDecision.DISCARDED}
    assert page.script_errors == []
