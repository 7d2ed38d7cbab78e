""""Filter by defect type" means one thing everywhere: the API's annotation list, the sample browser
and the work queues return the same samples — the current revision names the type in its template
or on a region, and a defect category stands for each of its types."""

import pytest

from accounts.roles import Role
from annotation.queue import QueueFilters, claim_candidates_for
from annotation.web.sample_browser import SampleFilters, sample_page

from .conftest import enqueue
from .factories import box_mask, make_sample

pytestmark = pytest.mark.django_db


@pytest.fixture
def typed_samples(vocab):
    scratched = make_sample(regions=(("scratch", box_mask(40, 30, 5, 5, 10, 3)),))
    cracked = make_sample(regions=(("crack", box_mask(40, 30, 1, 1, 4, 9)),))
    stained = make_sample(regions=(("stain", box_mask(40, 30, 20, 10, 6, 6)),))
    enqueue(scratched, cracked, stained)
    return {"scratch": scratched.pk, "crack": cracked.pk, "stain": stained.pk}


@pytest.mark.parametrize(
    "term, expected",
    [("surface", {"scratch", "crack"}), ("scratch", {"scratch"}), ("stain", {"stain"}), ("linear", set())],
)
def test_the_api_the_browser_and_the_queue_agree_on_a_defect_type(typed_samples, vocab, make_user, client_for, term, expected):
    term_id = getattr(vocab, term).pk
    manager = make_user(Role.DATA_MANAGER)
    annotator = make_user(Role.ANNOTATOR)
    wanted = {typed_samples[name] for name in expected}

    listed = client_for(user=manager).get(f"/api/annotation/annotations/?defect_type={term_id}").json()["results"]
    browsed = sample_page(manager, SampleFilters.from_query({"defect_type": str(term_id)})).samples
    queued = claim_candidates_for(annotator, stage="annotation", filters=QueueFilters(defect_type=term_id))

    assert {row["sample"] for row in listed} == wanted
    assert {sample.pk for sample in browsed} == wanted
    assert set(queued.values_list("pk", flat=True)) == wanted
