"""Model pre-annotations as a layer beside the annotation: stored only where no person has started,
accepted or discarded region by region by the person holding the sample; and the queue ordered by
model uncertainty."""

import pytest

from accounts.roles import Role
from annotation.models import (
    Annotation,
    AuditEvent,
    ModelPrediction,
    PredictedRegion,
    PredictionDecision,
    QueueOrder,
)
from annotation.predictions import PredictedRegionInput, prediction_store, queue_order_set
from annotation.queue import annotation_claim_next
from annotation.revision_content import content_of
from catalog.rle import mask_bbox, mask_to_rle

from .conftest import enqueue
from .factories import box_mask, make_sample, make_source
from .helpers import act, detail, post

pytestmark = pytest.mark.django_db


def predicted(term, *, width=40, height=30, box=(20, 10, 8, 6), score=0.9) -> PredictedRegionInput:
    mask = box_mask(width, height, *box)
    return PredictedRegionInput(
        defect_type=term, mask_rle=mask_to_rle(mask), bbox=mask_bbox(mask), area=int(mask.sum()), score=score
    )


def store(sample_id, *regions, uncertainty=0.4, key="checkpoint:1"):
    return prediction_store(
        sample_id=sample_id,
        model_key=key,
        model_version="checkpoint 1 (run 1, step 4)",
        regions=list(regions),
        uncertainty=uncertainty,
    )


def test_a_prediction_of_an_unstarted_sample_is_a_layer_with_scores_and_model_version(annotation, vocab):
    before = content_of(annotation.current_revision)

    outcome = store(annotation.pk, predicted(vocab.crack, score=0.8), uncertainty=0.25)

    assert outcome.stored
    prediction = ModelPrediction.objects.get(annotation=annotation)
    assert prediction.model_version == "checkpoint 1 (run 1, step 4)"
    assert prediction.proposed_fields == {"defect_types": [vocab.crack.pk]}
    assert [(r.defect_type, r.score) for r in prediction.regions.all()] == [(vocab.crack, 0.8)]
    annotation.refresh_from_db()
    assert annotation.model_uncertainty == 0.25
    # the annotation's own content is what it was: the prediction is not a revision
    assert annotation.revisions.count() == 1
    assert len(content_of(annotation.current_revision).regions) == len(before.regions)


def test_a_sample_a_person_has_claimed_is_never_predicted(annotation, vocab, people):
    annotation_claim_next(user=people.annotator, stage="annotation")

    outcome = store(annotation.pk, predicted(vocab.crack))

    assert not outcome.stored and "started" in outcome.reason
    assert not ModelPrediction.objects.exists()


def test_a_sample_claimed_and_released_stays_human_work(annotation, vocab, people):
    held = annotation_claim_next(user=people.annotator, stage="annotation")
    from annotation import services

    services.annotation_release(user=people.annotator, sample_id=held.pk, version=held.version)

    outcome = store(annotation.pk, predicted(vocab.crack))

    assert not outcome.stored and outcome.reason == "a person claimed it before"


def test_the_same_model_predicts_a_sample_once(annotation, vocab):
    assert store(annotation.pk, predicted(vocab.crack)).stored

    again = store(annotation.pk, predicted(vocab.scratch))

    assert not again.stored and "already predicted" in again.reason
    assert PredictedRegion.objects.count() == 1


def test_an_uncertainty_outside_0_to_1_is_refused(annotation, vocab):
    with pytest.raises(ValueError, match="uncertainty"):
        store(annotation.pk, uncertainty=1.5)


def test_accepting_a_predicted_region_copies_it_into_the_annotation_through_a_save(
    annotation, vocab, people, client_for
):
    store(annotation.pk, predicted(vocab.crack), predicted(vocab.stain, box=(1, 1, 3, 3), score=0.4))
    api = client_for(user=people.annotator)
    act(api, annotation.pk, "claim")
    layer = api.get(f"/api/annotation/annotations/{annotation.pk}/prediction/").json()
    crack = next(r for r in layer["regions"] if r["defect_type"]["id"] == vocab.crack.pk)
    version = detail(api, annotation.pk)["version"]

    response = act(api, annotation.pk, "prediction/accept", region=crack["id"], version=version)

    assert response.status_code == 200, response.content
    assert response.json()["version"] == version + 1
    annotation.refresh_from_db()
    content = content_of(annotation.current_revision)
    accepted = PredictedRegion.objects.get(pk=crack["id"])
    assert accepted.decision == PredictionDecision.ACCEPTED and accepted.decided_by == people.annotator
    assert accepted.accepted_as in [draft.existing for draft in content.regions]
    assert accepted.accepted_as.mask_rle == accepted.mask_rle
    assert accepted.accepted_as.created_by == people.annotator
    assert vocab.crack in content.fields["defect_types"]  # the template field the region implies
    assert len(content.regions) == 2  # the imported scratch stays
    actions = set(AuditEvent.objects.filter(annotation=annotation).values_list("action", flat=True))
    assert {"edit", "prediction_accept"} <= actions


def test_discarding_a_predicted_region_leaves_the_content_and_version(annotation, vocab, people, client_for):
    store(annotation.pk, predicted(vocab.crack))
    region = PredictedRegion.objects.get()
    api = client_for(user=people.annotator)
    act(api, annotation.pk, "claim")
    version = detail(api, annotation.pk)["version"]

    response = act(api, annotation.pk, "prediction/discard", region=region.pk, version=version)

    assert response.status_code == 200, response.content
    assert response.json()["version"] == version
    region.refresh_from_db()
    assert region.decision == PredictionDecision.DISCARDED
    again = act(api, annotation.pk, "prediction/accept", region=region.pk, version=version)
    assert again.status_code == 400 and "already discarded" in again.json()["detail"]


def test_only_the_person_holding_the_sample_decides_on_its_predictions(annotation, vocab, people, client_for):
    store(annotation.pk, predicted(vocab.crack))
    region = PredictedRegion.objects.get()
    act(client_for(user=people.annotator), annotation.pk, "claim")
    other = client_for(user=people.annotator2)

    response = act(other, annotation.pk, "prediction/discard", region=region.pk)

    assert response.status_code == 403
    assert PredictedRegion.objects.get().decision == PredictionDecision.PENDING


def test_a_restricted_samples_prediction_is_invisible_to_outsiders(vocab, people, client_for):
    secret = make_sample(make_source("partner", restricted=True))
    enqueue(secret)
    store(secret.pk, predicted(vocab.crack))

    response = client_for(user=people.annotator).get(f"/api/annotation/annotations/{secret.pk}/prediction/")

    assert response.status_code == 404


def test_a_sample_without_prediction_answers_204(annotation, people, client_for):
    response = client_for(user=people.annotator).get(f"/api/annotation/annotations/{annotation.pk}/prediction/")

    assert response.status_code == 204


# -- the queue ordered by uncertainty ---------------------------------------------------------------


def claim_order(make_user, count: int) -> list[int]:
    return [annotation_claim_next(user=make_user(Role.ANNOTATOR), stage="annotation").pk for _ in range(count)]


@pytest.fixture
def predicted_queue(vocab):
    """Five samples: a gold one and one nobody predicted, three with uncertainties 0.2, 0.9, 0.5."""
    samples = [make_sample() for _ in range(5)]
    enqueue(*samples[:4])
    enqueue(samples[4], is_gold=True)
    sure, unsure, middling, unseen, gold = samples
    for sample, uncertainty in ((sure, 0.2), (unsure, 0.9), (middling, 0.5), (gold, 0.1)):
        store(sample.pk, uncertainty=uncertainty)
    return sure, unsure, middling, unseen, gold


def test_by_default_the_queue_serves_gold_then_oldest(predicted_queue, make_user):
    sure, unsure, middling, unseen, gold = predicted_queue

    assert claim_order(make_user, 5) == [gold.pk, sure.pk, unsure.pk, middling.pk, unseen.pk]


def test_an_uncertainty_ordered_queue_serves_gold_then_the_least_sure_then_the_unseen(
    predicted_queue, make_user, people
):
    sure, unsure, middling, unseen, gold = predicted_queue
    queue_order_set(user=people.manager, stage="annotation", order=QueueOrder.UNCERTAINTY)

    assert claim_order(make_user, 5) == [gold.pk, unsure.pk, middling.pk, sure.pk, unseen.pk]


def test_priority_still_comes_before_uncertainty(predicted_queue, make_user, people):
    sure, unsure, middling, unseen, gold = predicted_queue
    Annotation.objects.filter(pk=sure.pk).update(priority=3)
    queue_order_set(user=people.manager, stage="annotation", order=QueueOrder.UNCERTAINTY)

    assert claim_order(make_user, 3) == [gold.pk, sure.pk, unsure.pk]


def test_the_queue_order_is_a_data_managers_choice(people, client_for):
    annotator = client_for(user=people.annotator)
    manager = client_for(user=people.manager)

    refused = post(annotator, "/queue-order/", {"stage": "annotation", "order": "uncertainty"})
    bad = post(manager, "/queue-order/", {"stage": "annotation", "order": "random"})
    done = post(manager, "/queue-order/", {"stage": "annotation", "order": "uncertainty"})

    assert refused.status_code == 403
    assert bad.status_code == 400 and "order" in bad.json()["errors"]
    assert done.status_code == 200
    orders = {row["stage"]: row["order"] for row in manager.get("/api/annotation/queue-order/").json()}
    assert orders == {"annotation": "uncertainty", "review": "age", "consensus": "age"}


# -- the agreement report's "model vs final" ----------------------------------------------------------


def test_the_agreement_report_scores_the_model_against_the_final_annotation(vocab, people):
    from annotation.agreement_reports import agreement_report_compute

    from .conftest import drive

    right, wrong, unpredicted = (
        make_sample(regions=(("scratch", box_mask(40, 30, 5, 5, 10, 3)),), product="bottle") for _ in range(3)
    )
    annotations = enqueue(right, wrong, unpredicted)
    store(right.pk, predicted(vocab.scratch, box=(5, 5, 10, 3)))  # what the experts will verify
    store(wrong.pk, predicted(vocab.crack, box=(30, 20, 5, 5)))  # another type, elsewhere
    for annotation in annotations:
        drive(annotation, people, vocab, "verified")

    report = agreement_report_compute(scope="dataset")

    model = report["model_vs_final"]
    assert model["samples"] == 2  # the unpredicted sample is not counted
    assert model["fields"]["defect_types"]["n"] == 2
    assert model["fields"]["defect_types"]["observed"] == 0.5
    assert set(model["fields"]) == {"defect_types"}  # the only field the model proposed
    assert model["masks"] == {"n": 2, "mean_iou": 0.5}
