"""Embedding jobs in the API (/api/modeling/embedding-jobs/): a data manager starts one over sources
they may see, follows its progress, cancels or resumes it. A job that reads a source the user may not
see does not exist for them (catalog's visibility rule, as for pre-annotation jobs)."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from base.ids import ID_PATTERN, IdField
from base.job_views import ResumeJobMixin
from base.jobs import JobStatus, job_finish
from base.permissions import ModelPermissions
from base.strict_input import InputSerializer, takes_no_body

from .embeddings import EmbeddingJobError, embedding_job_create, embedding_job_enqueue, embedding_jobs_visible_to
from .models import EmbeddingJob
from .preannotation_services import PreannotationError, checkpoint_resolve


class EmbeddingJobSerializer(serializers.ModelSerializer):
    sources = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    space_random_init = serializers.BooleanField(
        source="space.random_init", read_only=True, allow_null=True, help_text="None until the first batch."
    )

    class Meta:
        model = EmbeddingJob
        fields = [
            "id",
            "sources",
            "model_name",
            "weights",
            "checkpoint",
            "allow_random_init",
            "space",
            "space_random_init",
            "status",
            "processed",
            "embedded",
            "failed",
            "failures",
            "error",
            "index_report",
            "created_at",
            "started_at",
            "finished_at",
            "heartbeat_at",
            "next_batch",
        ]
        read_only_fields = fields


CHECKPOINT_REFERENCE = rf"^(checkpoint:|run:)?{ID_PATTERN}$"


class EmbeddingJobCreateSerializer(InputSerializer):
    sources = serializers.ListField(child=IdField(), allow_empty=False)
    weights = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=1000,
        help_text="An open_clip weights file under MODEL_WEIGHTS_ROOTS (default CURATION_CLIP_WEIGHTS).",
    )
    checkpoint = serializers.RegexField(
        CHECKPOINT_REFERENCE,
        required=False,
        error_messages={"invalid": 'give a checkpoint id ("12", "checkpoint:12") or a run ("run:3")'},
        help_text='A training checkpoint whose image tower embeds: its id ("12") or a run ("run:3").',
    )
    model_name = serializers.CharField(
        required=False, max_length=200, help_text="The open_clip model (default CURATION_CLIP_MODEL)."
    )
    allow_random_init = serializers.BooleanField(required=False, default=False)


def _checkpoint_path(reference: str, user) -> str:
    """The folder of a checkpoint the user may see (its run's dataset version is visible to them)."""
    try:
        return checkpoint_resolve(reference, requester=user).path
    except PreannotationError as error:
        raise ValidationError({"checkpoint": [str(error)]}) from None


class EmbeddingJobViewSet(ResumeJobMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Start an embedding job (it runs on the Celery 'train' queue), follow it, cancel or resume it."""

    permission_classes = [ModelPermissions]
    queryset = EmbeddingJob.objects.none()
    serializer_class = EmbeddingJobSerializer

    def get_queryset(self):
        jobs = embedding_jobs_visible_to(self.request.user)
        return jobs.select_related("space").prefetch_related("sources").order_by("-id")

    @extend_schema(request=EmbeddingJobCreateSerializer, responses={201: EmbeddingJobSerializer})
    def create(self, request):
        params = EmbeddingJobCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        checkpoint = _checkpoint_path(data["checkpoint"], request.user) if data.get("checkpoint") else None
        try:
            job = embedding_job_create(
                created_by=request.user,
                source_ids=data["sources"],
                model_name=data.get("model_name"),
                weights=data.get("weights"),
                checkpoint=checkpoint,
                allow_random_init=data["allow_random_init"],
            )
        except EmbeddingJobError as error:
            raise ValidationError({error.field or "detail": [str(error)]}) from None
        embedding_job_enqueue(job=job)
        return Response(EmbeddingJobSerializer(job).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=EmbeddingJobSerializer)
    @takes_no_body
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Stops before the next batch; the vectors stored stay."""
        job = self.get_object()
        job_finish(job, status=JobStatus.CANCELLED)
        return Response(EmbeddingJobSerializer(job).data)
