"""Agreement reports: the statistics of agreement_statistics.py over reviewed annotations, per template
field, per dataset (a source, or everything) and per annotator. Computed by a Celery task,
since a dataset may hold a million annotations; read back from AgreementReport.result.

Raters of one sample: stage 1 (the submitted revision), stage 2 (the reviewed revision) and each
consensus expert (the revision they approved or produced; a reject rates nothing). "Final" is
the verified revision.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from catalog.models import Source
from catalog.selectors import sources_visible_to
from vocabulary.models import LANGUAGES

from . import agreement_statistics
from .models import (
    AgreementReport,
    Annotation,
    AnnotationRevision,
    AnnotationState,
    ConsensusVote,
    ReportScope,
    ReportStatus,
    Stage,
    VoteDecision,
)
from .region_geometry import region_mask
from .revision_content import Content, content_of, revisions_with_content
from .template_fields import TEMPLATE_FIELDS

CHUNK = 500


@dataclass
class Rated:
    """One reviewed annotation's stage results, as the statistics need them."""

    annotation: Annotation
    stage1: Content
    stage2: Content
    final: Content | None
    draft: Content | None
    experts: list[Content | None] = field(default_factory=list)


def agreement_report_request(
    *, by: User, scope: str, source: Source | None = None, user: User | None = None
) -> AgreementReport:
    with transaction.atomic():
        report = AgreementReport.objects.create(scope=scope, source=source, user=user, requested_by=by)
        report.sources.set([source] if source is not None else sources_visible_to(by))
    agreement_report_enqueue(report=report)
    return report


def agreement_report_enqueue(*, report: AgreementReport) -> None:
    from .tasks import agreement_report_compute

    transaction.on_commit(lambda: agreement_report_compute.delay(report.pk))


def agreement_report_run(*, report: AgreementReport) -> AgreementReport:
    try:
        report.result = agreement_report_compute(
            scope=report.scope,
            source_id=report.source_id,
            user_id=report.user_id,
            source_ids=list(report.sources.values_list("pk", flat=True)),
        )
        report.status = ReportStatus.DONE
    except Exception as error:  # a report that cannot be computed says why instead of staying pending
        report.status = ReportStatus.FAILED
        report.error = f"{type(error).__name__}: {error}"
    report.finished_at = timezone.now()
    report.save(update_fields=["result", "status", "error", "finished_at"])
    return report


def agreement_report_compute(
    *, scope: str, source_id: int | None = None, user_id: int | None = None, source_ids: list[int] | None = None
) -> dict:
    """source_ids: the sources the report may read (those its requester may see); None: every one."""
    annotations = Annotation.objects.filter(reviewed_revision__isnull=False).select_related("sample", "annotator")
    if source_ids is not None:
        annotations = annotations.filter(source_id__in=source_ids)
    if source_id is not None:
        annotations = annotations.filter(source_id=source_id)
    if scope == ReportScope.ANNOTATOR:
        annotations = annotations.filter(annotator_id=user_id)
    rated = [item for chunk in _chunks(annotations) for item in _load(chunk)]
    masks = _MaskCache()
    result = {
        "scope": scope,
        "source": source_id,
        "user": user_id,
        "computed_at": timezone.now().isoformat(),
        **_summary(rated, masks),
        "annotators": _by_annotator(rated, masks),
    }
    return result


def _chunks(annotations):
    last = 0
    while True:
        chunk = list(annotations.filter(pk__gt=last).order_by("pk")[:CHUNK])
        if not chunk:
            return
        last = chunk[-1].pk
        yield chunk


def _load(chunk: list[Annotation]) -> list[Rated]:
    votes_by_annotation = defaultdict(dict)
    for vote in ConsensusVote.objects.filter(annotation__in=chunk).order_by("id"):
        votes_by_annotation[vote.annotation_id][vote.expert_id] = vote  # each expert's latest vote
    drafts = {}
    for revision in AnnotationRevision.objects.filter(annotation__in=chunk, stage=Stage.DRAFT).order_by("number"):
        drafts[revision.annotation_id] = revision.pk  # the last draft before stage 1
    wanted = set(drafts.values())
    for annotation in chunk:
        wanted |= {annotation.submitted_revision_id, annotation.reviewed_revision_id, annotation.final_revision_id}
        wanted |= {
            v.revision_id for v in votes_by_annotation[annotation.pk].values() if v.decision != VoteDecision.REJECT
        }
    wanted.discard(None)
    contents = {revision.pk: content_of(revision) for revision in revisions_with_content().filter(pk__in=wanted)}
    rated = []
    for annotation in chunk:
        votes = votes_by_annotation[annotation.pk].values()
        rated.append(
            Rated(
                annotation=annotation,
                stage1=contents[annotation.submitted_revision_id],
                stage2=contents[annotation.reviewed_revision_id],
                final=contents.get(annotation.final_revision_id),
                draft=contents.get(drafts.get(annotation.pk)),
                experts=[contents[v.revision_id] if v.decision != VoteDecision.REJECT else None for v in votes],
            )
        )
    return rated


def _value(content: Content | None, name: str):
    return None if content is None else frozenset(term.pk for term in content.fields[name])


def _pair_stats(pairs: list[tuple]) -> dict:
    first = [a for a, _ in pairs]
    second = [b for _, b in pairs]
    return {
        "n": len(pairs),
        "observed": _round(agreement_statistics.observed_agreement(first, second)),
        "cohen_kappa": _round(agreement_statistics.cohen_kappa(first, second)),
    }


def _field_stats(rated: list[Rated]) -> dict:
    stats = {}
    for spec in TEMPLATE_FIELDS:
        name = spec.name
        units = [[_value(r.stage1, name), _value(r.stage2, name)] + [_value(e, name) for e in r.experts] for r in rated]
        stats[name] = {
            "stage1_vs_stage2": _pair_stats([(_value(r.stage1, name), _value(r.stage2, name)) for r in rated]),
            "stage1_vs_final": _pair_stats(
                [(_value(r.stage1, name), _value(r.final, name)) for r in rated if r.final is not None]
            ),
            "all_raters": {
                "units": sum(1 for unit in units if sum(v is not None for v in unit) >= 2),
                "krippendorff_alpha": _round(agreement_statistics.krippendorff_alpha_nominal(units)),
            },
        }
    return stats


class _MaskCache:
    """Foreground masks of revisions, decoded once per region."""

    def __init__(self):
        self.regions = {}

    def foreground(self, content: Content, sample):
        mask = None
        for draft in content.regions:
            key = draft.existing.pk
            if key not in self.regions:
                self.regions[key] = region_mask(draft.mask_rle, draft.bbox, width=sample.width, height=sample.height)
            mask = self.regions[key] if mask is None else mask | self.regions[key]
        return mask

    def iou(self, first: Content, second: Content, sample) -> float | None:
        ids_first = {d.existing.pk for d in first.regions}
        ids_second = {d.existing.pk for d in second.regions}
        if not ids_first and not ids_second:
            return None  # nothing to outline: says nothing about agreement
        if ids_first == ids_second:
            return 1.0
        a, b = self.foreground(first, sample), self.foreground(second, sample)
        if a is None or b is None:
            return 0.0
        return agreement_statistics.mask_iou(a, b)


def _iou_stats(pairs, masks: _MaskCache) -> dict:
    values = [v for first, second, sample in pairs if (v := masks.iou(first, second, sample)) is not None]
    return {"n": len(values), "mean_iou": _round(agreement_statistics.mean(values))}


def _caption_stats(pairs: list[tuple[Content | None, Content | None]], language: str) -> dict:
    values = []
    for first, second in pairs:
        if first is None or second is None:
            continue
        a, b = first.captions.get(language), second.captions.get(language)
        if a is not None and b is not None:
            values.append(agreement_statistics.normalized_edit_distance(a.text, b.text))
    return {"n": len(values), "mean_normalized_edit_distance": _round(agreement_statistics.mean(values))}


def _summary(rated: list[Rated], masks: _MaskCache) -> dict:
    states = defaultdict(int)
    for r in rated:
        states[r.annotation.state] += 1

    def generated(content: Content | None, language: str) -> Content | None:
        """The draft only where a generator wrote the caption (an LLM or template draft)."""
        if content is None or language not in content.captions or not content.captions[language].generator:
            return None
        return content

    return {
        "items": {
            "reviewed": len(rated),
            "verified": states[AnnotationState.VERIFIED],
            "rejected": states[AnnotationState.REJECTED],
            "in_consensus": states[AnnotationState.REVIEWED] + states[AnnotationState.IN_CONSENSUS],
            "changes_requested": sum(1 for r in rated if r.annotation.review_round),
            "disagreements": sum(1 for r in rated if r.annotation.has_disagreement),
        },
        "fields": _field_stats(rated),
        "masks": {
            "stage1_vs_stage2": _iou_stats([(r.stage1, r.stage2, r.annotation.sample) for r in rated], masks),
            "stage2_vs_final": _iou_stats(
                [(r.stage2, r.final, r.annotation.sample) for r in rated if r.final is not None], masks
            ),
            "stage1_vs_final": _iou_stats(
                [(r.stage1, r.final, r.annotation.sample) for r in rated if r.final is not None], masks
            ),
        },
        "captions": {
            language: {
                "draft_vs_stage1": _caption_stats([(generated(r.draft, language), r.stage1) for r in rated], language),
                "stage1_vs_final": _caption_stats([(r.stage1, r.final) for r in rated], language),
                "draft_vs_final": _caption_stats([(generated(r.draft, language), r.final) for r in rated], language),
            }
            for language in LANGUAGES
        },
    }


def _by_annotator(rated: list[Rated], masks: _MaskCache) -> list[dict]:
    """Each annotator's stage-1 work against the final result (the reviewed one until then)."""
    groups = defaultdict(list)
    for r in rated:
        if r.annotation.annotator_id is not None:
            groups[r.annotation.annotator_id].append(r)
    rows = []
    for user_id, items in sorted(groups.items()):
        reference = [(r.stage1, r.final or r.stage2) for r in items]
        fields = {
            spec.name: _pair_stats([(_value(a, spec.name), _value(b, spec.name)) for a, b in reference])
            for spec in TEMPLATE_FIELDS
        }
        rows.append(
            {
                "user": user_id,
                "username": items[0].annotation.annotator.username,
                "items": len(items),
                "changes_requested": sum(1 for r in items if r.annotation.review_round),
                "rejected": sum(1 for r in items if r.annotation.state == AnnotationState.REJECTED),
                "fields_vs_final": fields,
                "mean_iou_vs_final": _iou_stats(
                    [(a, b, r.annotation.sample) for (a, b), r in zip(reference, items, strict=True)], masks
                )["mean_iou"],
                "caption_distance_vs_final": {
                    language: _caption_stats(reference, language)["mean_normalized_edit_distance"]
                    for language in LANGUAGES
                },
            }
        )
    return rows


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
