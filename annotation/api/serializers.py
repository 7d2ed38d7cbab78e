"""Serializers: plain output for annotations and their content, and input shapes for the
workflow's requests. Content itself is checked by revision_content.py and content_edits.py, which names each bad field."""

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import User
from base.ids import IdField, NumberField
from base.strict_input import InputSerializer, RefuseUnknownKeys

from ..consensus import consensus_tally
from ..models import (
    AgreementReport,
    Annotation,
    AnnotationRevision,
    AuditEvent,
    ModelPrediction,
    PredictedRegion,
    QueueOrder,
    QueueSetting,
    ReportScope,
    Stage,
    VoteDecision,
)
from ..revision_content import Content, content_of, revisions_with_content, term_ref
from ..selectors import consensus_votes_of, identities_hidden_from, review_comments_of

LIST_OF_OBJECTS = {"type": "array", "items": {"type": "object", "additionalProperties": True}}


class People:
    """Who the viewer may see: in blind mode only themselves (and everyone for data managers)."""

    def __init__(self, viewer: User):
        self.viewer = viewer
        self.hidden = identities_hidden_from(viewer)

    def show(self, user_id: int | None) -> int | None:
        if user_id is None or not self.hidden or user_id == self.viewer.pk:
            return user_id
        return None


def _people(serializer) -> People:
    return serializer.context["people"]


class AnnotationListSerializer(serializers.ModelSerializer):
    # "" when the annotation waits in no queue (someone holds it, or it is finished).
    queue = serializers.ChoiceField(choices=Stage.choices, allow_blank=True, read_only=True)
    assignee = serializers.SerializerMethodField()
    annotator = serializers.SerializerMethodField()
    reviewer = serializers.SerializerMethodField()
    lease_holder = serializers.SerializerMethodField()

    class Meta:
        model = Annotation
        fields = [
            "sample",
            "source",
            "domain",
            "language",
            "state",
            "queue",
            "version",
            "priority",
            "is_gold",
            "assignee",
            "annotator",
            "reviewer",
            "lease_holder",
            "lease_expires_at",
            "review_round",
            "has_disagreement",
            "consensus_reason",
            "created_at",
            "updated_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_assignee(self, annotation) -> int | None:
        return _people(self).show(annotation.assignee_id)

    def get_annotator(self, annotation) -> int | None:
        return _people(self).show(annotation.annotator_id)

    def get_reviewer(self, annotation) -> int | None:
        return _people(self).show(annotation.reviewer_id)

    def get_lease_holder(self, annotation) -> int | None:
        return _people(self).show(annotation.lease_holder_id)


def content_json(revision: AnnotationRevision | None, content: Content, people: People) -> dict:
    return {
        "revision": revision.pk if revision else None,
        "number": revision.number if revision else None,
        "stage": revision.stage if revision else None,
        "author": people.show(revision.author_id) if revision else None,
        "created_at": revision.created_at.isoformat() if revision else None,
        "vocabulary_version": revision.vocabulary_version_id if revision else None,
        "fields": {name: [term_ref(term) for term in terms] for name, terms in content.fields.items()},
        "notes": content.notes,
        "regions": [
            {
                "id": region.existing.pk,
                "defect_type": term_ref(region.defect_type),
                "raw_label": region.raw_label,
                "bbox": region.bbox,
                "area": region.area,
                "mask_rle": region.mask_rle,
            }
            for region in content.regions
        ],
        "captions": {
            language: {"text": caption.text, "author": people.show(caption.author_id), "generator": caption.generator}
            for language, caption in sorted(content.captions.items())
        },
        "qa_pairs": [
            {
                "question": pair.question,
                "answer": pair.answer,
                "language": pair.language,
                "regions": [region.existing.pk for region in pair.regions],
            }
            for pair in content.qa_pairs
        ],
    }


def revision_json(revision: AnnotationRevision | None, people: People) -> dict:
    if revision is not None:
        revision = revisions_with_content().get(pk=revision.pk)
    return content_json(revision, content_of(revision), people)


class AnnotationDetailSerializer(AnnotationListSerializer):
    sample_info = serializers.SerializerMethodField()
    revisions = serializers.SerializerMethodField()
    content = serializers.SerializerMethodField()
    review_comments = serializers.SerializerMethodField()
    votes = serializers.SerializerMethodField()
    consensus = serializers.SerializerMethodField()

    class Meta(AnnotationListSerializer.Meta):
        fields = AnnotationListSerializer.Meta.fields + [
            "vocabulary_version",
            "consensus_voters",
            "sample_info",
            "revisions",
            "content",
            "review_comments",
            "votes",
            "consensus",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_sample_info(self, annotation) -> dict:
        sample = annotation.sample
        request = self.context.get("request")
        files = {}
        for kind in ("original", "asset", "thumbnail"):
            url = reverse("api:sample-file", args=[sample.pk, kind])
            files[kind] = request.build_absolute_uri(url) if request else url
        return {
            "external_id": sample.external_id,
            "width": sample.width,
            "height": sample.height,
            "domain": sample.domain,
            "product": sample.product,
            "source_text": sample.source_text,
            "source_text_language": sample.source_text_language,
            "files": files,
        }

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_revisions(self, annotation) -> dict:
        return {
            "current": annotation.current_revision_id,
            "submitted": annotation.submitted_revision_id,
            "reviewed": annotation.reviewed_revision_id,
            "final": annotation.final_revision_id,
        }

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_content(self, annotation) -> dict:
        return revision_json(annotation.current_revision, _people(self))

    @extend_schema_field(LIST_OF_OBJECTS)
    def get_review_comments(self, annotation) -> list:
        people = _people(self)
        return [
            {
                "round": c.round,
                "revision": c.revision_id,
                "author": people.show(c.author_id),
                "field": c.field,
                "region": c.region_id,
                "text": c.text,
                "created_at": c.created_at.isoformat(),
            }
            for c in review_comments_of(annotation)
        ]

    @extend_schema_field(LIST_OF_OBJECTS)
    def get_votes(self, annotation) -> list:
        people = _people(self)
        return [
            {
                "expert": people.show(v.expert_id),
                "decision": v.decision,
                "revision": v.revision_id,
                "comment": v.comment,
                "created_at": v.created_at.isoformat(),
            }
            for v in consensus_votes_of(annotation)
        ]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_consensus(self, annotation) -> dict:
        """The tally of stage 3 ("1 of 2 approvals"): quorum, panel, approvals, rejections, voters, stale."""
        return consensus_tally(annotation, consensus_votes_of(annotation)).as_json()


class RevisionSummarySerializer(serializers.ModelSerializer):
    author = serializers.SerializerMethodField()

    class Meta:
        model = AnnotationRevision
        fields = ["id", "number", "stage", "author", "based_on", "vocabulary_version", "created_at"]
        read_only_fields = fields

    def get_author(self, revision) -> int | None:
        return _people(self).show(revision.author_id)


class AuditEventSerializer(serializers.ModelSerializer):
    sample = serializers.IntegerField(source="annotation_id", read_only=True)
    actor_name = serializers.SerializerMethodField()

    class Meta:
        model = AuditEvent
        fields = ["id", "sample", "actor", "actor_name", "action", "field", "before", "after", "version", "created_at"]
        read_only_fields = fields

    def get_actor_name(self, event) -> str:
        return event.actor.username if event.actor else "system"


class AgreementReportSerializer(serializers.ModelSerializer):
    class Meta:
        model = AgreementReport
        fields = [
            "id",
            "scope",
            "source",
            "user",
            "status",
            "result",
            "error",
            "created_at",
            "started_at",
            "heartbeat_at",
            "finished_at",
            "next_batch",
        ]
        read_only_fields = fields


# -- inputs ------------------------------------------------------------------------------------


class QueueFiltersSerializer(InputSerializer):
    """The filters a person works a queue under: claim-next takes them, and so does skip, so that
    the sample handed over after a skip comes from the same filtered queue."""

    source = IdField(required=False)
    domain = serializers.CharField(required=False)
    defect_type = IdField(required=False, help_text="A defect type, or a defect category.")
    language = serializers.CharField(required=False, help_text="The language of the sample's source text.")


class ClaimNextSerializer(QueueFiltersSerializer):
    """claim-next's body: the filters alone."""


class BasedOnVersionSerializer(InputSerializer):
    version = NumberField(help_text="The annotation version this request is based on.")


class SkipSerializer(BasedOnVersionSerializer, QueueFiltersSerializer):
    """Skip's body: the version, a reason, and the filters you claimed with (those of claim-next)."""

    reason = serializers.CharField(help_text="Why you skip it (kept in the audit trail).")


class ClaimSerializer(InputSerializer):
    version = NumberField(required=False)


class SaveContentSerializer(BasedOnVersionSerializer):
    content = serializers.JSONField(
        help_text="Any of fields, notes, regions, captions, qa_pairs; the parts left out are kept."
    )


class StageResultSerializer(BasedOnVersionSerializer):
    content = serializers.JSONField(required=False)


class RequestChangesSerializer(BasedOnVersionSerializer):
    comments = serializers.JSONField(help_text="[{text, field?, region?}, ...]")


class VoteSerializer(BasedOnVersionSerializer):
    decision = serializers.ChoiceField(choices=VoteDecision.choices)
    content = serializers.JSONField(required=False, help_text="Only with decision=edit.")
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class EnqueueSerializer(InputSerializer):
    sample_ids = serializers.ListField(child=IdField(), required=False, max_length=10_000)
    source = IdField(required=False)
    domain = serializers.CharField(required=False)
    priority = serializers.IntegerField(required=False, default=0, min_value=-32768, max_value=32767)
    is_gold = serializers.BooleanField(required=False, default=False)
    limit = serializers.IntegerField(required=False, default=10_000, min_value=1, max_value=10_000)
    diverse = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Pick `limit` samples that cover the embedding space (k-center greedy) instead of the oldest.",
    )
    seed = serializers.IntegerField(required=False, default=0, min_value=0, max_value=2**31 - 1)

    def validate(self, data):
        if not any(key in data for key in ("sample_ids", "source", "domain")):
            raise serializers.ValidationError({"sample_ids": ["give sample_ids, source or domain"]})
        return data


class AssignSerializer(InputSerializer):
    sample_ids = serializers.ListField(child=IdField(), min_length=1, max_length=5_000)
    annotator = IdField(allow_null=True, help_text="A user id; null puts the samples back in the pool.")
    priority = serializers.IntegerField(required=False, min_value=-32768, max_value=32767)
    is_gold = serializers.BooleanField(required=False)


class PrioritySerializer(InputSerializer):
    sample_ids = serializers.ListField(child=IdField(), min_length=1, max_length=5_000)
    priority = serializers.IntegerField(required=False, min_value=-32768, max_value=32767)
    is_gold = serializers.BooleanField(required=False)

    def validate(self, data):
        if "priority" not in data and "is_gold" not in data:
            raise serializers.ValidationError({"priority": ["give priority, is_gold or both"]})
        return data


class AgreementReportRequestSerializer(InputSerializer):
    scope = serializers.ChoiceField(choices=ReportScope.choices, default=ReportScope.DATASET)
    source = IdField(required=False, help_text="Dataset scope: one source (default: all).")
    user = IdField(required=False, help_text="Annotator scope: the annotator.")

    def validate(self, data):
        if data["scope"] == ReportScope.ANNOTATOR and "user" not in data:
            raise serializers.ValidationError({"user": ["the annotator scope needs a user"]})
        return data


# -- model pre-annotations and the queue's order -----------------------------------------------------


class PredictedRegionSerializer(serializers.ModelSerializer):
    defect_type = serializers.SerializerMethodField()

    class Meta:
        model = PredictedRegion
        fields = ["id", "defect_type", "mask_rle", "bbox", "area", "score", "decision", "accepted_as"]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_defect_type(self, region) -> dict | None:
        return term_ref(region.defect_type)


class ModelPredictionSerializer(serializers.ModelSerializer):
    sample = serializers.IntegerField(source="annotation_id")
    regions = PredictedRegionSerializer(many=True)

    class Meta:
        model = ModelPrediction
        fields = ["id", "sample", "model_version", "uncertainty", "proposed_fields", "created_at", "regions"]


class PredictedRegionDecisionSerializer(BasedOnVersionSerializer):
    region = IdField(help_text="The id of one of the sample's predicted regions.")


class QueueSettingSerializer(RefuseUnknownKeys, serializers.ModelSerializer):
    stage = serializers.ChoiceField(choices=[Stage.ANNOTATION, Stage.REVIEW, Stage.CONSENSUS])
    order = serializers.ChoiceField(choices=QueueOrder.choices)
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True, help_text="Null: never set (age).")

    class Meta:
        model = QueueSetting
        fields = ["stage", "order", "updated_at"]
        read_only_fields = ["updated_at"]
