from django.core.files.storage import default_storage
from django.http import FileResponse, HttpResponseRedirect
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from base.ids import parse_id
from base.job_views import ResumeJobMixin
from base.permissions import ModelPermissions

from . import selectors, services
from .importers import IMPORTERS
from .importers.base import ImportOptions
from .models import ImportJob, Sample, Source, SourceKind, Visibility
from .near_duplicates import sample_neighbours
from .serializers import (
    ImportJobCreateSerializer,
    ImportJobSerializer,
    ImportRowSerializer,
    SampleDetailSerializer,
    SampleListSerializer,
    SampleNeighboursSerializer,
    SourceSerializer,
)


class SourceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    serializer_class = SourceSerializer
    permission_classes = [ModelPermissions]
    queryset = Source.objects.none()  # tells the permission class the model

    def get_queryset(self):
        return selectors.sources_visible_to(self.request.user)

    def perform_create(self, serializer):
        data = serializer.validated_data
        try:
            serializer.instance = services.source_create(
                name=data["name"],
                kind=data.get("kind", SourceKind.BENCHMARK),
                license=data.get("license", ""),
                restricted=data.get("visibility") == Visibility.RESTRICTED,
                provenance=data.get("provenance", ""),
                by=self.request.user,
            )
        except services.ImportRequestError as error:
            raise ValidationError({error.field: str(error)}) from None


SAMPLE_FILTERS = {
    "source": "source_id",
    "domain": "domain",
    "product": "product",
    "is_synthetic": "is_synthetic",
    "sha256": "sha256",
    "source_kind": "source__kind",
}


@extend_schema(parameters=[OpenApiParameter(name, str, required=False) for name in SAMPLE_FILTERS])
class SampleViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [ModelPermissions]
    queryset = Sample.objects.none()

    def get_serializer_class(self):
        return SampleDetailSerializer if self.action == "retrieve" else SampleListSerializer

    def get_queryset(self):
        samples = selectors.samples_visible_to(self.request.user)
        if self.action == "retrieve":
            return samples.prefetch_related("source_regions")
        for parameter, lookup in SAMPLE_FILTERS.items():
            value = self.request.query_params.get(parameter)
            if value is None:
                continue
            if lookup == "is_synthetic":
                if value.lower() not in ("true", "false", "1", "0"):
                    raise ValidationError({parameter: "use true or false"})
                value = value.lower() in ("true", "1")
            if lookup == "source_id" and parse_id(value) is None:
                raise ValidationError({parameter: "a source id (integer)"})
            samples = samples.filter(**{lookup: value})
        return samples

    @extend_schema(
        parameters=[OpenApiParameter("k", int, required=False, description="How many neighbours (1-100, default 10).")],
        responses={200: SampleNeighboursSerializer},
    )
    @action(detail=True, methods=["get"], url_path="near-duplicates")
    def near_duplicates(self, request, pk=None):
        """The samples nearest to this one in the embedding space, among those you may see, with their
        cosine distances (0: the same direction). `space.random_init` true means a random image tower."""
        k = parse_id(request.query_params.get("k", "10"))
        if k is None or not 1 <= k <= 100:
            raise ValidationError({"k": "an integer from 1 to 100"})
        sample = selectors.access_sample(request.user, pk)
        return Response(sample_neighbours(sample=sample, samples=selectors.samples_visible_to(request.user), k=k))


class SampleFileView(APIView):
    """The sample's original, 512x512 asset or thumbnail, after the same access check as the API."""

    permission_classes = [ModelPermissions]
    queryset = Sample.objects.none()

    @extend_schema(responses={(200, "image/*"): bytes})
    def get(self, request, pk: int, kind: str):
        if kind not in ("original", "asset", "thumbnail"):
            raise NotFound(f"unknown file kind {kind!r}")
        sample = selectors.access_sample(request.user, pk)
        name = getattr(sample, kind).name
        if not name:
            raise NotFound(f"sample {pk} has no {kind}")
        url = default_storage.url(name)
        if url.startswith("http"):  # object storage: a short-lived presigned URL
            return HttpResponseRedirect(url)
        return FileResponse(default_storage.open(name, "rb"))


class ImportJobViewSet(ResumeJobMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Imports: start one (batches on the Celery 'ingest' queue), follow it, read its per-row report,
    resume a failed or lost one."""

    permission_classes = [ModelPermissions]
    queryset = ImportJob.objects.none()
    serializer_class = ImportJobSerializer

    def get_queryset(self):
        return selectors.visible_to(ImportJob.objects.select_related("source"), self.request.user, "source_id")

    @extend_schema(request=ImportJobCreateSerializer, responses={201: ImportJobSerializer})
    def create(self, request):
        params = ImportJobCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        try:
            job = services.import_request(
                source_name=data["source"],
                kind=data["kind"],
                license=data["license"],
                restricted=data.get("restricted"),
                format=data["format"],
                path=data["path"],
                created_by=request.user,
                restrict_to_import_roots=True,
                options=ImportOptions(product=data["product"], domain=data["domain"], images=data["images"]),
            )
        except services.ImportRequestError as error:
            raise ValidationError({error.field: str(error)}) from None
        services.import_job_enqueue(job=job)
        return Response(ImportJobSerializer(job).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses=ImportRowSerializer(many=True),
        parameters=[OpenApiParameter("outcome", str), OpenApiParameter("warnings", bool)],
    )
    @action(detail=True, methods=["get"])
    def rows(self, request, pk=None):
        """The per-row report: imported, duplicate or rejected, with the reason and any warnings."""
        job = self.get_object()
        rows = selectors.with_visible_sample(job.rows.all(), request.user)
        outcome = request.query_params.get("outcome")
        if outcome:
            rows = rows.filter(outcome=outcome)
        warnings = request.query_params.get("warnings")
        if warnings is not None:
            if warnings.lower() not in ("true", "false", "1", "0"):
                raise ValidationError({"warnings": "use true or false"})
            with_warnings = rows.exclude(warnings=[])
            rows = with_warnings if warnings.lower() in ("true", "1") else rows.filter(warnings=[])
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(ImportRowSerializer(page, many=True).data)


class ImporterSerializer(serializers.Serializer):
    format = serializers.CharField()
    description = serializers.CharField()


class ImporterListView(generics.GenericAPIView):
    """The import formats this platform reads."""

    pagination_class = None

    @extend_schema(responses={200: ImporterSerializer(many=True)})
    def get(self, request):
        return Response([{"format": name, "description": cls.description} for name, cls in sorted(IMPORTERS.items())])
