"""Model pre-annotations: storing a model's prediction beside a sample's annotation, and a person
accepting or discarding it region by region.

A prediction is a layer of its own (ModelPrediction, PredictedRegion), never a revision: what an
annotator sees as the sample's content stays what people made. Accepting a region copies it into
the annotation through the ordinary save (SaveContent: lease, version, audit) and adds its defect
type to the `defect_types` field, the template field a predicted region implies. The writer of
predictions (modeling's pre-annotation job) is a higher layer; it calls prediction_store and this
module knows the model only by the names it is given.
"""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from vocabulary.models import Term

from . import actions
from .audit import audit_record
from .error_codes import AnnotationErrorCode as Code
from .error_codes import WorkflowError
from .models import (
    Annotation,
    AnnotationRevision,
    AnnotationState,
    AuditEvent,
    ModelPrediction,
    PredictedRegion,
    PredictionDecision,
    QueueOrder,
    QueueSetting,
    Stage,
    StageClaim,
)
from .revision_content import content_of, revisions_with_content
from .selectors import access_annotation


@dataclass(frozen=True)
class PredictedRegionInput:
    """One predicted region as the model gives it: mask in the sample's original pixels."""

    defect_type: Term
    mask_rle: dict
    bbox: list[int]
    area: int
    score: float


@dataclass(frozen=True)
class StoreOutcome:
    stored: bool
    reason: str = ""  # why not, when not stored


@dataclass(frozen=True)
class SamplePrediction:
    """What a model predicted for one sample."""

    sample_id: int
    regions: list[PredictedRegionInput]
    uncertainty: float


def human_work_reasons(annotations: list[Annotation]) -> dict[int, str]:
    """Why a model may not propose a draft for each of these annotations (absent: it may): a person
    has started it (it left the annotation queue), claimed it at some point, or authored any
    revision of it. Three queries whatever the number of annotations."""
    reasons = {
        a.pk: f"a person has started it (state {a.state})" for a in annotations if a.state != AnnotationState.UNASSIGNED
    }
    waiting = [a.pk for a in annotations if a.pk not in reasons]
    for annotation_id in StageClaim.objects.filter(annotation_id__in=waiting).values_list("annotation_id", flat=True):
        reasons.setdefault(annotation_id, "a person claimed it before")
    edited = AnnotationRevision.objects.filter(annotation_id__in=waiting, author__isnull=False)
    for annotation_id in edited.values_list("annotation_id", flat=True):
        reasons.setdefault(annotation_id, "a person edited it")
    return reasons


def human_work_reason(annotation: Annotation) -> str:
    """human_work_reasons for one annotation ("" when a model may propose a draft)."""
    return human_work_reasons([annotation]).get(annotation.pk, "")


def predictions_store(
    *, model_key: str, model_version: str, predictions: list[SamplePrediction]
) -> dict[int, StoreOutcome]:
    """Store a model's predictions, each as its sample's prediction layer, except where a person has
    begun the sample (checked with the annotation rows locked, so a claim that came while the model
    ran wins). Returns the outcome per sample id.

    Idempotent per (sample, model_key): a sample the same model predicted before is not stored
    again, and says so. The caller is the system; visibility was checked when the job that calls
    this was requested. Writes in bulk: a batch costs a fixed number of queries."""
    for prediction in predictions:
        if not 0.0 <= prediction.uncertainty <= 1.0:
            raise ValueError(
                f"sample {prediction.sample_id}: uncertainty is a normalised entropy between 0 and 1, "
                f"got {prediction.uncertainty}"
            )
    ids = [prediction.sample_id for prediction in predictions]
    with transaction.atomic():
        annotations = Annotation.objects.select_for_update().in_bulk(ids)
        outcomes = {
            sample_id: StoreOutcome(False, "the sample has no annotation yet: a data manager enqueues it first")
            for sample_id in ids
            if sample_id not in annotations
        }
        for sample_id, reason in human_work_reasons(list(annotations.values())).items():
            outcomes[sample_id] = StoreOutcome(False, reason)
        done = ModelPrediction.objects.filter(annotation_id__in=ids, model_key=model_key)
        for sample_id in done.values_list("annotation_id", flat=True):
            outcomes.setdefault(sample_id, StoreOutcome(False, f"already predicted by {model_version}"))
        wanted = [p for p in predictions if p.sample_id not in outcomes]
        rows = ModelPrediction.objects.bulk_create(
            ModelPrediction(
                annotation_id=p.sample_id,
                model_key=model_key,
                model_version=model_version,
                uncertainty=p.uncertainty,
                proposed_fields=_proposed_fields(p.regions),
            )
            for p in wanted
        )
        PredictedRegion.objects.bulk_create(
            PredictedRegion(
                prediction=row,
                defect_type=region.defect_type,
                mask_rle=region.mask_rle,
                bbox=region.bbox,
                area=region.area,
                score=region.score,
            )
            for row, p in zip(rows, wanted, strict=True)
            for region in p.regions
        )
        for p in wanted:
            annotations[p.sample_id].model_uncertainty = p.uncertainty
        Annotation.objects.bulk_update([annotations[p.sample_id] for p in wanted], ["model_uncertainty"])
        now = timezone.now()
        AuditEvent.objects.bulk_create(
            AuditEvent(
                annotation=annotations[p.sample_id],
                actor=None,
                action="predict",
                field="prediction",
                after={"model": model_version, "regions": len(p.regions), "uncertainty": round(p.uncertainty, 4)},
                version=annotations[p.sample_id].version,
                created_at=now,
            )
            for p in wanted
        )
        outcomes.update({p.sample_id: StoreOutcome(True) for p in wanted})
    return outcomes


def _proposed_fields(regions: list[PredictedRegionInput]) -> dict:
    """The template fields predicted regions imply: their defect types."""
    defect_types = list(dict.fromkeys(region.defect_type.pk for region in regions))
    return {"defect_types": defect_types} if defect_types else {}


def prediction_store(
    *,
    sample_id: int,
    model_key: str,
    model_version: str,
    regions: list[PredictedRegionInput],
    uncertainty: float,
) -> StoreOutcome:
    """predictions_store for one sample."""
    outcomes = predictions_store(
        model_key=model_key,
        model_version=model_version,
        predictions=[SamplePrediction(sample_id=sample_id, regions=regions, uncertainty=uncertainty)],
    )
    return outcomes[sample_id]


def latest_prediction(annotation: Annotation) -> ModelPrediction | None:
    """The newest model prediction of the annotation, with its regions and their terms."""
    return (
        ModelPrediction.objects.filter(annotation=annotation)
        .prefetch_related("regions__defect_type")
        .order_by("-id")
        .first()
    )


def _pending_region(annotation: Annotation, region_id) -> PredictedRegion:
    region = (
        PredictedRegion.objects.select_for_update(of=("self",))  # defect_type is an outer join
        .select_related("prediction", "defect_type")
        .filter(pk=region_id, prediction__annotation=annotation)
        .first()
        if isinstance(region_id, int) and not isinstance(region_id, bool)
        else None
    )
    if region is None:
        raise WorkflowError(
            Code.INVALID,
            f"sample {annotation.pk} has no predicted region {region_id!r}",
            errors={"region": ["the id of one of the sample's predicted regions"]},
        )
    if region.decision != PredictionDecision.PENDING:
        raise WorkflowError(
            Code.INVALID,
            f"predicted region {region.pk} was already {region.decision}",
            errors={"region": [f"already {region.decision}"]},
        )
    return region


def predicted_region_accept(*, user: User, sample_id: int, version: int, region_id: int) -> Annotation:
    """Copy a predicted region into the annotation the user holds (a save: new revision, version
    bump, audited edits) and add its defect type to the defect_types field when missing."""
    with transaction.atomic():
        annotation = access_annotation(user, sample_id, lock=True)
        region = _pending_region(annotation, region_id)
        current = content_of(revisions_with_content().filter(pk=annotation.current_revision_id).first())
        defect_types = [term.pk for term in current.fields.get("defect_types", [])]
        if region.defect_type_id is not None and region.defect_type_id not in defect_types:
            defect_types.append(region.defect_type_id)
        content = {
            "regions": [{"id": draft.existing.pk} for draft in current.regions if draft.existing is not None]
            + [{"defect_type": region.defect_type_id, "mask_rle": region.mask_rle}],
            "fields": {"defect_types": defect_types},
        }
        if not isinstance(version, int) or isinstance(version, bool) or version != annotation.version:
            raise WorkflowError(
                Code.STALE_VERSION,
                f"sample {annotation.pk} is at version {annotation.version}, not {version}: reload and retry",
            )
        actions.SaveContent(annotation=annotation, user=user, content_data=content).run()
        kept = {draft.existing.pk for draft in current.regions if draft.existing is not None}
        made = annotation.current_revision.regions.exclude(pk__in=kept).order_by("-id").first()
        region.decision, region.decided_by, region.decided_at = PredictionDecision.ACCEPTED, user, timezone.now()
        region.accepted_as = made
        region.save(update_fields=["decision", "decided_by", "decided_at", "accepted_as"])
        audit_record(
            annotation=annotation,
            actor=user,
            action="prediction_accept",
            field="prediction",
            after={"predicted_region": region.pk, "region": made.pk if made else None},
        )
    return annotation


def predicted_region_discard(*, user: User, sample_id: int, version: int, region_id: int) -> Annotation:
    """Mark a predicted region as wrong. Only the person holding the sample decides, as for edits;
    the annotation's content and version do not change."""
    with transaction.atomic():
        annotation = access_annotation(user, sample_id, lock=True)
        if not isinstance(version, int) or isinstance(version, bool) or version != annotation.version:
            raise WorkflowError(
                Code.STALE_VERSION,
                f"sample {annotation.pk} is at version {annotation.version}, not {version}: reload and retry",
            )
        region = _pending_region(annotation, region_id)
        # The holder's rules (lease live, the right person, stage 1 or 2), as a save would check them.
        actions.SaveContent(annotation=annotation, user=user, content_data=None).check()
        region.decision, region.decided_by, region.decided_at = PredictionDecision.DISCARDED, user, timezone.now()
        region.save(update_fields=["decision", "decided_by", "decided_at"])
        audit_record(
            annotation=annotation,
            actor=user,
            action="prediction_discard",
            field="prediction",
            after={"predicted_region": region.pk},
        )
    return annotation


def queue_order_set(*, user: User, stage: str, order: str) -> QueueSetting:
    """A data manager orders a stage's queue by age or by model uncertainty."""
    if not user.has_perm("annotation.assign_annotation"):
        raise WorkflowError(Code.ROLE_REQUIRED, "ordering a queue needs the data manager role")
    errors = {}
    if stage not in Stage.values or stage == Stage.DRAFT:
        errors["stage"] = ["one of annotation, review, consensus"]
    if order not in QueueOrder.values:
        errors["order"] = [f"one of {', '.join(QueueOrder.values)}"]
    if errors:
        raise WorkflowError(Code.INVALID, f"invalid {', '.join(errors)}", errors=errors)
    setting, _ = QueueSetting.objects.update_or_create(stage=stage, defaults={"order": order, "updated_by": user})
    return setting
