from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from base.ids import parse_id
from base.job_views import ResumeJobMixin
from base.permissions import ModelPermissions
from base.strict_input import InputSerializer, takes_no_body
from catalog.selectors import visible_to, without_hidden

from . import services
from .inputs import LANGUAGES
from .models import CaptionAttempt, CaptionDraft, CaptionerKind, CaptionJob


class CaptionJobSerializer(serializers.ModelSerializer):
    estimated_cost = serializers.FloatField(read_only=True)

    class Meta:
        model = CaptionJob
        fields = [
            "id",
            "captioner",
            "languages",
            "filters",
            "retry_failed_of",
            "status",
            "total",
            "processed",
            "drafted",
            "skipped",
            "failed",
            "flagged",
            "requests",
            "prompt_tokens",
            "completion_tokens",
            "estimated_cost",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "heartbeat_at",
            "next_batch",
        ]
        read_only_fields = fields


class CaptionJobCreateSerializer(InputSerializer):
    captioner = serializers.ChoiceField(choices=CaptionerKind.choices, default=CaptionerKind.TEMPLATE)
    languages = serializers.ListField(
        child=serializers.ChoiceField(choices=LANGUAGES),
        default=list(LANGUAGES),
        allow_empty=False,
        max_length=len(LANGUAGES),
        help_text="Each of en, zh, ja at most once.",
    )
    filters = serializers.DictField(required=False, default=dict, help_text="sources, states, samples, limit")

    def validate_languages(self, languages: list[str]) -> list[str]:
        repeated = sorted({code for code in languages if languages.count(code) > 1})
        if repeated:
            raise serializers.ValidationError(f"{', '.join(repeated)} listed more than once")
        return languages


class CaptionAttemptSerializer(serializers.ModelSerializer):
    sample = serializers.IntegerField(source="annotation_id")

    class Meta:
        model = CaptionAttempt
        fields = ["id", "sample", "outcome", "error", "retryable", "draft", "created_at"]


class CaptionDraftSerializer(serializers.ModelSerializer):
    sample = serializers.IntegerField(source="annotation_id")

    class Meta:
        model = CaptionDraft
        fields = [
            "id",
            "sample",
            "job",
            "generator",
            "prompt_version",
            "captions",
            "terms_used",
            "proposed_fields",
            "settings",
            "usage",
            "validation",
            "passed",
            "created_at",
        ]


class CaptionJobViewSet(ResumeJobMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Caption jobs: start one (it runs on the Celery 'caption' queue), follow its progress and usage;
    resume a failed, cancelled or lost one."""

    permission_classes = [ModelPermissions]
    queryset = CaptionJob.objects.none()
    serializer_class = CaptionJobSerializer

    def get_queryset(self):
        return without_hidden(CaptionJob.objects.all(), self.request.user, "sources")

    @extend_schema(request=CaptionJobCreateSerializer, responses={201: CaptionJobSerializer})
    def create(self, request):
        params = CaptionJobCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        job = self._create(**params.validated_data)
        return Response(CaptionJobSerializer(job).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={201: CaptionJobSerializer})
    @takes_no_body
    @action(detail=True, methods=["post"], url_path="retry-failed")
    def retry_failed(self, request, pk=None):
        """A new job over the samples that failed in this one."""
        original = self.get_object()
        job = self._create(
            captioner=original.captioner, languages=list(original.language_list), filters={}, retry_failed_of=original
        )
        return Response(CaptionJobSerializer(job).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=CaptionJobSerializer)
    @takes_no_body
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return Response(CaptionJobSerializer(services.caption_job_cancel(job=self.get_object())).data)

    @extend_schema(responses=CaptionAttemptSerializer(many=True), parameters=[OpenApiParameter("outcome", str)])
    @action(detail=True, methods=["get"])
    def attempts(self, request, pk=None):
        """Per sample: drafted, skipped or failed, with the error."""
        attempts = self.get_object().attempts.all()
        if request.query_params.get("outcome"):
            attempts = attempts.filter(outcome=request.query_params["outcome"])
        page = self.paginate_queryset(attempts)
        return self.get_paginated_response(CaptionAttemptSerializer(page, many=True).data)

    def _create(self, *, captioner, languages, filters, retry_failed_of=None) -> CaptionJob:
        try:
            job = services.caption_job_create(
                captioner=captioner,
                languages=tuple(languages),
                filters=filters,
                retry_failed_of=retry_failed_of,
                created_by=self.request.user,
            )
        except services.CaptionJobError as error:
            raise ValidationError({"detail": str(error)}) from None
        services.caption_job_enqueue(job=job)
        return job


@extend_schema(parameters=[OpenApiParameter("sample", int, required=True)])
class CaptionDraftViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """A sample's caption drafts, newest (current) first, with the validator's findings."""

    permission_classes = [ModelPermissions]
    queryset = CaptionDraft.objects.none()
    serializer_class = CaptionDraftSerializer

    def get_queryset(self):
        drafts = visible_to(CaptionDraft.objects.all(), self.request.user, "annotation__source_id")
        if self.action == "list":
            sample = self.request.query_params.get("sample", "")
            if parse_id(sample) is None:
                raise ValidationError({"sample": "a sample id is required"})
            drafts = drafts.filter(annotation_id=parse_id(sample))
        return drafts
