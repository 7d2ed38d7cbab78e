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
    AnnotationState,
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


def human_work_reason(annotation: Annotation) -> str:
    """Why a model may not propose a draft for this annotation ("" when it may): a person has
    claimed it at some point, or authored any revision of it, or it left the annotation queue."""
    if annotation.state != AnnotationState.UNASSIGNED:
        return f"a person has started it (state {annotation.state})"
    if StageClaim.objects.filter(annotation=annotation).exists():
        return "a person claimed it before"
    if annotation.revisions.filter(author__isnull=False).exists():
        return "a person edited it"
    return ""


def prediction_store(
    *,
    sample_id: int,
    model_key: str,
    model_version: str,
    regions: list[PredictedRegionInput],
    uncertainty: float,
) -> StoreOutcome:
    """Store a model's prediction for the sample's annotation, unless a person has begun it.

    Idempotent per (sample, model_key): a second call for the same model stores nothing and says so.
    The caller is the system; visibility was checked when the job that calls this was requested."""
    if not 0.0 <= uncertainty <= 1.0:
        raise ValueError(f"uncertainty is a normalised entropy between 0 and 1, got {uncertainty}")
    with transaction.atomic():
        annotation = Annotation.objects.select_for_update().filter(pk=sample_id).first()
        if annotation is None:
            return StoreOutcome(False, "the sample has no annotation yet: a data manager enqueues it first")
        reason = human_work_reason(annotation)
        if reason:
            return StoreOutcome(False, reason)
        if ModelPrediction.objects.filter(annotation=annotation, model_key=model_key).exists():
            return StoreOutcome(False, f"already predicted by {model_version}")
        defect_types = list(dict.fromkeys(region.defect_type.pk for region in regions))
        prediction = ModelPrediction.objects.create(
            annotation=annotation,
            model_key=model_key,
            model_version=model_version,
            uncertainty=uncertainty,
            proposed_fields={"defect_types": defect_types} if defect_types else {},
        )
        PredictedRegion.objects.bulk_create(
            PredictedRegion(
                prediction=prediction,
                defect_type=region.defect_type,
                mask_rle=region.mask_rle,
                bbox=region.bbox,
                area=region.area,
                score=region.score,
            )
            for region in regions
        )
        Annotation.objects.filter(pk=annotation.pk).update(model_uncertainty=uncertainty)
        audit_record(
            annotation=annotation,
            actor=None,
            action="predict",
            field="prediction",
            after={"model": model_version, "regions": len(regions), "uncertainty": round(uncertainty, 4)},
        )
    return StoreOutcome(True)


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
        PredictedRegion.objects.select_for_update()
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
