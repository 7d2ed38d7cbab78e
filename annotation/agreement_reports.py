"""Agreement reports: the statistics of agreement_statistics.py over reviewed annotations, per template
field, per dataset (a source, or everything) and per annotator; read back from AgreementReport.result.

A dataset may hold a million annotations, so a report is computed in batches of
AGREEMENT_REPORT_BATCH_SIZE annotations (sample-id order) by Celery tasks, then a finishing step.
A batch loads its annotations' revisions and masks, adds them to running tallies
(agreement_tallies.py: counts and sums whose size does not grow with the dataset) and stores the
tallies with the report; the finishing step turns the tallies into the figures. Nothing holds
more than one batch of annotations or masks. This module computes; it never queues a task.

Raters of one sample: stage 1 (the submitted revision), stage 2 (the reviewed revision) and each
consensus expert (the revision they approved or produced; a reject rates nothing). "Final" is
the verified revision.

"Model vs final" compares a sample's newest model pre-annotation (ModelPrediction) with its final
revision: agreement on each template field the model proposed, and the IoU of the predicted
regions' union with the final regions' union — how good the model is on the team's own data.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from base.jobs import JobStatus, job_batch_begin, job_batch_done, job_batch_lock, job_finish
from vocabulary.models import LANGUAGES

from . import agreement_statistics
from .agreement_tallies import AlphaTally, MeanTally, PairTally
from .models import (
    AgreementReport,
    Annotation,
    AnnotationRevision,
    AnnotationState,
    ConsensusVote,
    ModelPrediction,
    ReportScope,
    Stage,
    VoteDecision,
)
from .region_geometry import region_mask
from .revision_content import Content, content_of, revisions_with_content
from .template_fields import TEMPLATE_FIELDS

MASK_PAIRS = ("stage1_vs_stage2", "stage2_vs_final", "stage1_vs_final")
CAPTION_PAIRS = ("draft_vs_stage1", "stage1_vs_final", "draft_vs_final")


@dataclass
class Rated:
    """One reviewed annotation's stage results, as the statistics need them."""

    annotation: Annotation
    stage1: Content
    stage2: Content
    final: Content | None
    draft: Content | None
    experts: list[Content | None] = field(default_factory=list)
    prediction: "PredictedLayer | None" = None


@dataclass
class PredictedLayer:
    """A model's pre-annotation as the report compares it: the fields it proposed, as _label writes
    them, and its regions' geometry."""

    fields: dict[str, str]
    regions: list[tuple[dict | None, list]]  # (mask_rle, bbox) per predicted region


def report_selection(
    *, scope: str, source_id: int | None, user_id: int | None, source_ids: QuerySet | None = None
) -> QuerySet:
    """source_ids: the sources the report may read (AgreementReport.sources); None: every one."""
    annotations = Annotation.objects.filter(reviewed_revision__isnull=False).select_related("sample", "annotator")
    if source_ids is not None:
        annotations = annotations.filter(source_id__in=source_ids)
    if source_id is not None:
        annotations = annotations.filter(source_id=source_id)
    if scope == ReportScope.ANNOTATOR:
        annotations = annotations.filter(annotator_id=user_id)
    return annotations.order_by("pk")


# -- the job: batches, then the finishing step ------------------------------------------------


def agreement_report_batch(*, report_id: int, batch: int) -> bool | None:
    """Add batch `batch` to the report's tallies. True when more batches follow, False after the
    last, None when there was nothing to do (a redelivered batch, a finished report)."""
    report = job_batch_begin(AgreementReport, report_id, batch)
    if report is None:
        return None
    size = settings.AGREEMENT_REPORT_BATCH_SIZE
    selection = report_selection(
        scope=report.scope,
        source_id=report.source_id,
        user_id=report.user_id,
        source_ids=report.sources.values("pk"),
    )
    chunk = list(selection.filter(pk__gt=report.cursor)[: size + 1])
    more = len(chunk) > size
    chunk = chunk[:size]
    tally = tally_annotations(chunk)
    with job_batch_lock(AgreementReport, report_id, batch) as current:
        if not current:
            return None
        stored = AgreementReport.objects.values_list("tallies", flat=True).get(pk=report_id)
        total = ReportTally.from_json(stored) if stored else ReportTally()
        total.merge(tally)
        cursor = chunk[-1].pk if chunk else report.cursor
        job_batch_done(AgreementReport, report_id, batch, cursor=cursor, tallies=total.to_json())
    return more


def agreement_report_finish(report_id: int) -> None:
    report = AgreementReport.objects.filter(pk=report_id, status=JobStatus.RUNNING).first()
    if report is None:
        return
    tally = ReportTally.from_json(report.tallies) if report.tallies else ReportTally()
    result = _result(tally, scope=report.scope, source_id=report.source_id, user_id=report.user_id)
    AgreementReport.objects.filter(pk=report_id, status=JobStatus.RUNNING).update(result=result, tallies=None)
    job_finish(report, status=JobStatus.SUCCEEDED)


def agreement_report_compute(*, scope: str, source_id: int | None = None, user_id: int | None = None) -> dict:
    """The whole report in this process, without a job row: the same batches and tallies."""
    selection = report_selection(scope=scope, source_id=source_id, user_id=user_id)
    size = settings.AGREEMENT_REPORT_BATCH_SIZE
    total, last = ReportTally(), 0
    while chunk := list(selection.filter(pk__gt=last)[:size]):
        total.merge(tally_annotations(chunk))
        last = chunk[-1].pk
    return _result(total, scope=scope, source_id=source_id, user_id=user_id)


def _result(tally: "ReportTally", *, scope: str, source_id: int | None, user_id: int | None) -> dict:
    usernames = dict(User.objects.filter(pk__in=[int(pk) for pk in tally.annotators]).values_list("pk", "username"))
    return {
        "scope": scope,
        "source": source_id,
        "user": user_id,
        "computed_at": timezone.now().isoformat(),
        **tally.summary(),
        "annotators": tally.annotator_rows(usernames),
    }


def tally_annotations(chunk: list[Annotation]) -> "ReportTally":
    tally = ReportTally()
    masks = _MaskCache()  # one batch's masks, dropped with the batch
    for rated in _load(chunk):
        tally.add(rated, masks)
    return tally


# -- tallies --------------------------------------------------------------------------------


@dataclass
class AnnotatorTally:
    """One annotator's stage-1 work against the final result (the reviewed one until then)."""

    items: int = 0
    changes_requested: int = 0
    rejected: int = 0
    fields: dict = field(default_factory=lambda: {spec.name: PairTally() for spec in TEMPLATE_FIELDS})
    iou: MeanTally = field(default_factory=MeanTally)
    captions: dict = field(default_factory=lambda: {language: MeanTally() for language in LANGUAGES})

    def add(self, rated: Rated, masks: "_MaskCache") -> None:
        reference = rated.final or rated.stage2
        self.items += 1
        self.changes_requested += bool(rated.annotation.review_round)
        self.rejected += rated.annotation.state == AnnotationState.REJECTED
        for spec in TEMPLATE_FIELDS:
            self.fields[spec.name].add(_label(rated.stage1, spec.name), _label(reference, spec.name))
        _add_iou(self.iou, masks, rated.stage1, reference, rated.annotation.sample)
        for language in LANGUAGES:
            _add_caption_distance(self.captions[language], rated.stage1, reference, language)

    def merge(self, other: "AnnotatorTally") -> None:
        self.items += other.items
        self.changes_requested += other.changes_requested
        self.rejected += other.rejected
        for name, pair in other.fields.items():
            self.fields[name].merge(pair)
        self.iou.merge(other.iou)
        for language, distance in other.captions.items():
            self.captions[language].merge(distance)

    def to_json(self) -> dict:
        return {
            "items": self.items,
            "changes_requested": self.changes_requested,
            "rejected": self.rejected,
            "fields": {name: pair.to_json() for name, pair in self.fields.items()},
            "iou": self.iou.to_json(),
            "captions": {language: distance.to_json() for language, distance in self.captions.items()},
        }

    @classmethod
    def from_json(cls, data: dict) -> "AnnotatorTally":
        return cls(
            items=data["items"],
            changes_requested=data["changes_requested"],
            rejected=data["rejected"],
            fields={name: PairTally.from_json(pair) for name, pair in data["fields"].items()},
            iou=MeanTally.from_json(data["iou"]),
            captions={language: MeanTally.from_json(d) for language, d in data["captions"].items()},
        )


@dataclass
class ReportTally:
    """Everything a report needs, as running counts and sums."""

    items: Counter = field(default_factory=Counter)
    fields: dict = field(
        default_factory=lambda: {
            spec.name: {"stage1_vs_stage2": PairTally(), "stage1_vs_final": PairTally(), "all_raters": AlphaTally()}
            for spec in TEMPLATE_FIELDS
        }
    )
    masks: dict = field(default_factory=lambda: {pair: MeanTally() for pair in MASK_PAIRS})
    captions: dict = field(
        default_factory=lambda: {language: {pair: MeanTally() for pair in CAPTION_PAIRS} for language in LANGUAGES}
    )
    annotators: dict = field(default_factory=dict)  # str(user id) -> AnnotatorTally
    model_fields: dict = field(default_factory=lambda: {spec.name: PairTally() for spec in TEMPLATE_FIELDS})
    model_masks: MeanTally = field(default_factory=MeanTally)

    def add(self, rated: Rated, masks: "_MaskCache") -> None:
        annotation = rated.annotation
        if rated.prediction is not None and rated.final is not None:
            self.items["model_vs_final"] += 1
            for name, label in rated.prediction.fields.items():
                self.model_fields[name].add(label, _label(rated.final, name))
            value = masks.prediction_iou(rated.prediction, rated.final, annotation.sample)
            if value is not None:
                self.model_masks.add(value)
        self.items["reviewed"] += 1
        self.items["verified"] += annotation.state == AnnotationState.VERIFIED
        self.items["rejected"] += annotation.state == AnnotationState.REJECTED
        self.items["in_consensus"] += annotation.state in (AnnotationState.REVIEWED, AnnotationState.IN_CONSENSUS)
        self.items["changes_requested"] += bool(annotation.review_round)
        self.items["disagreements"] += bool(annotation.has_disagreement)
        for spec in TEMPLATE_FIELDS:
            name, tallies = spec.name, self.fields[spec.name]
            tallies["stage1_vs_stage2"].add(_label(rated.stage1, name), _label(rated.stage2, name))
            if rated.final is not None:
                tallies["stage1_vs_final"].add(_label(rated.stage1, name), _label(rated.final, name))
            tallies["all_raters"].add(
                [_label(rated.stage1, name), _label(rated.stage2, name)] + [_label(e, name) for e in rated.experts]
            )
        sample = annotation.sample
        _add_iou(self.masks["stage1_vs_stage2"], masks, rated.stage1, rated.stage2, sample)
        if rated.final is not None:
            _add_iou(self.masks["stage2_vs_final"], masks, rated.stage2, rated.final, sample)
            _add_iou(self.masks["stage1_vs_final"], masks, rated.stage1, rated.final, sample)
        for language in LANGUAGES:
            draft = _generated(rated.draft, language)
            distances = self.captions[language]
            _add_caption_distance(distances["draft_vs_stage1"], draft, rated.stage1, language)
            _add_caption_distance(distances["stage1_vs_final"], rated.stage1, rated.final, language)
            _add_caption_distance(distances["draft_vs_final"], draft, rated.final, language)
        if annotation.annotator_id is not None:
            self.annotators.setdefault(str(annotation.annotator_id), AnnotatorTally()).add(rated, masks)

    def merge(self, other: "ReportTally") -> None:
        self.items.update(other.items)
        for name, tallies in other.fields.items():
            for key, tally in tallies.items():
                self.fields[name][key].merge(tally)
        for pair, tally in other.masks.items():
            self.masks[pair].merge(tally)
        for language, pairs in other.captions.items():
            for pair, tally in pairs.items():
                self.captions[language][pair].merge(tally)
        for user_id, tally in other.annotators.items():
            self.annotators.setdefault(user_id, AnnotatorTally()).merge(tally)
        for name, pair in other.model_fields.items():
            self.model_fields[name].merge(pair)
        self.model_masks.merge(other.model_masks)

    def summary(self) -> dict:
        return {
            "items": {
                key: self.items[key]
                for key in ("reviewed", "verified", "rejected", "in_consensus", "changes_requested", "disagreements")
            },
            "fields": {
                name: {
                    "stage1_vs_stage2": _pair_stats(tallies["stage1_vs_stage2"]),
                    "stage1_vs_final": _pair_stats(tallies["stage1_vs_final"]),
                    "all_raters": {
                        "units": tallies["all_raters"].units,
                        "krippendorff_alpha": _round(tallies["all_raters"].krippendorff_alpha()),
                    },
                }
                for name, tallies in self.fields.items()
            },
            "masks": {pair: {"n": tally.n, "mean_iou": _round(tally.mean())} for pair, tally in self.masks.items()},
            "captions": {
                language: {
                    pair: {"n": tally.n, "mean_normalized_edit_distance": _round(tally.mean())}
                    for pair, tally in pairs.items()
                }
                for language, pairs in self.captions.items()
            },
            "model_vs_final": {
                "samples": self.items["model_vs_final"],
                # only the fields a model proposed on some sample (defect types, from its regions)
                "fields": {name: _pair_stats(pair) for name, pair in self.model_fields.items() if pair.n},
                "masks": {"n": self.model_masks.n, "mean_iou": _round(self.model_masks.mean())},
            },
        }

    def annotator_rows(self, usernames: dict[int, str]) -> list[dict]:
        rows = []
        for user_id in sorted(self.annotators, key=int):
            tally = self.annotators[user_id]
            rows.append(
                {
                    "user": int(user_id),
                    "username": usernames.get(int(user_id), ""),
                    "items": tally.items,
                    "changes_requested": tally.changes_requested,
                    "rejected": tally.rejected,
                    "fields_vs_final": {name: _pair_stats(pair) for name, pair in tally.fields.items()},
                    "mean_iou_vs_final": _round(tally.iou.mean()),
                    "caption_distance_vs_final": {
                        language: _round(distance.mean()) for language, distance in tally.captions.items()
                    },
                }
            )
        return rows

    def to_json(self) -> dict:
        return {
            "items": dict(self.items),
            "fields": {name: {k: t.to_json() for k, t in tallies.items()} for name, tallies in self.fields.items()},
            "masks": {pair: tally.to_json() for pair, tally in self.masks.items()},
            "captions": {
                language: {pair: t.to_json() for pair, t in pairs.items()} for language, pairs in self.captions.items()
            },
            "annotators": {user_id: tally.to_json() for user_id, tally in self.annotators.items()},
            "model_fields": {name: pair.to_json() for name, pair in self.model_fields.items()},
            "model_masks": self.model_masks.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict) -> "ReportTally":
        tally = cls(items=Counter(data["items"]))
        for name, tallies in data["fields"].items():
            tally.fields[name] = {
                "stage1_vs_stage2": PairTally.from_json(tallies["stage1_vs_stage2"]),
                "stage1_vs_final": PairTally.from_json(tallies["stage1_vs_final"]),
                "all_raters": AlphaTally.from_json(tallies["all_raters"]),
            }
        tally.masks = {pair: MeanTally.from_json(t) for pair, t in data["masks"].items()}
        tally.captions = {
            language: {pair: MeanTally.from_json(t) for pair, t in pairs.items()}
            for language, pairs in data["captions"].items()
        }
        tally.annotators = {user_id: AnnotatorTally.from_json(t) for user_id, t in data["annotators"].items()}
        # tallies stored by a batch before the report knew of predictions have none
        for name, pair in data.get("model_fields", {}).items():
            tally.model_fields[name] = PairTally.from_json(pair)
        if "model_masks" in data:
            tally.model_masks = MeanTally.from_json(data["model_masks"])
        return tally


def _label(content: Content | None, name: str) -> str | None:
    """A field's value as a label: the set of chosen term ids, written in one canonical order."""
    if content is None:
        return None
    return ",".join(str(pk) for pk in sorted(term.pk for term in content.fields[name]))


def _generated(content: Content | None, language: str) -> Content | None:
    """The draft only where a generator wrote the caption (an LLM or template draft)."""
    if content is None or language not in content.captions or not content.captions[language].generator:
        return None
    return content


def _add_iou(tally: MeanTally, masks: "_MaskCache", first: Content, second: Content, sample) -> None:
    value = masks.iou(first, second, sample)
    if value is not None:
        tally.add(value)


def _add_caption_distance(tally: MeanTally, first: Content | None, second: Content | None, language: str) -> None:
    if first is None or second is None:
        return
    a, b = first.captions.get(language), second.captions.get(language)
    if a is not None and b is not None:
        tally.add(agreement_statistics.normalized_edit_distance(a.text, b.text))


def _pair_stats(pair: PairTally) -> dict:
    return {"n": pair.n, "observed": _round(pair.observed()), "cohen_kappa": _round(pair.cohen_kappa())}


# -- loading one batch ------------------------------------------------------------------------


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
    predictions = _predicted_layers(chunk)
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
                prediction=predictions.get(annotation.pk),
            )
        )
    return rated


def _predicted_layers(chunk: list[Annotation]) -> dict[int, PredictedLayer]:
    """The newest model prediction of each annotation of the batch that has one."""
    layers = {}
    newest_first = ModelPrediction.objects.filter(annotation__in=chunk).prefetch_related("regions").order_by("-id")
    for prediction in newest_first:
        if prediction.annotation_id in layers:
            continue
        fields = {
            name: ",".join(str(pk) for pk in sorted(set(ids))) for name, ids in prediction.proposed_fields.items()
        }
        if "defect_types" not in fields:  # a prediction of no region proposes "no defect type"
            fields["defect_types"] = ""
        layers[prediction.annotation_id] = PredictedLayer(
            fields=fields, regions=[(region.mask_rle, region.bbox) for region in prediction.regions.all()]
        )
    return layers


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

    def prediction_iou(self, prediction: PredictedLayer, final: Content, sample) -> float | None:
        """IoU of the predicted regions' union with the final regions' union; None when neither has one."""
        if not prediction.regions and not final.regions:
            return None
        predicted = None
        for mask_rle, bbox in prediction.regions:
            mask = region_mask(mask_rle, bbox, width=sample.width, height=sample.height)
            predicted = mask if predicted is None else predicted | mask
        actual = self.foreground(final, sample)
        if predicted is None or actual is None:
            return 0.0
        return agreement_statistics.mask_iou(predicted, actual)

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


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
