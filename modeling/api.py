"""Pre-annotation jobs in the API (/api/modeling/preannotation-jobs/): a data manager starts one,
follows it, reads what it did per sample, cancels or resumes it. Jobs of sources the user may not
see do not exist for them (catalog's visibility rule)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from base.ids import IdField
from base.job_views import ResumeJobMixin
from base.jobs import JobStatus, job_finish
from base.permissions import ModelPermissions
from base.strict_input import InputSerializer, takes_no_body
from catalog.selectors import sources_visible_to

from .models import PreannotationItem, PreannotationJob, PreannotationOutcome
from .preannotation_services import (
    PreannotationError,
    checkpoint_resolve,
    preannotation_jobs_visible_to,
    preannotation_request,
)


class PreannotationJobSerializer(serializers.ModelSerializer):
    class Meta:
        model = PreannotationJob
        fields = [
            "id",
            "checkpoint",
            "source",
            "classes",
            "limit",
            "score_threshold",
            "status",
            "total",
            "processed",
            "predicted",
            "skipped",
            "failed",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "heartbeat_at",
            "next_batch",
        ]
        read_only_fields = fields


class PreannotationJobCreateSerializer(InputSerializer):
    checkpoint = serializers.CharField(help_text='A checkpoint id ("12"), or a run\'s newest checkpoint ("run:3").')
    source = IdField()
    limit = serializers.IntegerField(required=False, min_value=1)
    score_threshold = serializers.FloatField(required=False, default=0.3, min_value=0.0, max_value=0.99)


class PreannotationItemSerializer(serializers.ModelSerializer):
    sample = serializers.IntegerField(source="annotation_id")

    class Meta:
        model = PreannotationItem
        fields = ["sample", "outcome", "reason", "regions"]


class PreannotationJobViewSet(
    ResumeJobMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Start a pre-annotation (it runs on the Celery 'train' queue), follow it, cancel or resume it."""

    permission_classes = [ModelPermissions]
    queryset = PreannotationJob.objects.none()
    serializer_class = PreannotationJobSerializer

    def get_queryset(self):
        return preannotation_jobs_visible_to(self.request.user)

    @extend_schema(request=PreannotationJobCreateSerializer, responses={201: PreannotationJobSerializer})
    def create(self, request):
        params = PreannotationJobCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        source = sources_visible_to(request.user).filter(pk=data["source"]).first()
        if source is None:
            raise ValidationError({"source": [f"no source {data['source']}"]})
        try:
            job = preannotation_request(
                checkpoint=checkpoint_resolve(data["checkpoint"], requester=request.user),
                source=source,
                requester=request.user,
                limit=data.get("limit"),
                score_threshold=data["score_threshold"],
            )
        except PreannotationError as error:
            raise ValidationError({error.field: [str(error)]}) from None
        return Response(PreannotationJobSerializer(job).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=PreannotationJobSerializer)
    @takes_no_body
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Stops before the next sample; the predictions made stay."""
        job = self.get_object()
        job_finish(job, status=JobStatus.CANCELLED)
        return Response(PreannotationJobSerializer(job).data)

    @extend_schema(
        responses=PreannotationItemSerializer(many=True),
        parameters=[OpenApiParameter("outcome", str, enum=PreannotationOutcome.values)],
    )
    @action(detail=True, methods=["get"])
    def items(self, request, pk=None):
        """Per sample: predicted, skipped (with the reason) or failed."""
        items = self.get_object().items.all()
        if request.query_params.get("outcome"):
            items = items.filter(outcome=request.query_params["outcome"])
        page = self.paginate_queryset(items)
        return self.get_paginated_response(PreannotationItemSerializer(page, many=True).data)
