from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from base.ids import ID_PATTERN, parse_id
from base.permissions import ModelPermissions

from . import exports, selectors, versions
from .models import DatasetVersion, Export, ExportFormat


class DatasetVersionSerializer(serializers.ModelSerializer):
    name = serializers.CharField(read_only=True)

    class Meta:
        model = DatasetVersion
        fields = [
            "number",
            "name",
            "title",
            "description",
            "status",
            "selection",
            "split_plan",
            "vocabulary_version",
            "sample_count",
            "statistics",
            "created_at",
            "published_at",
        ]
        read_only_fields = fields


class DatasetVersionCreateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(allow_blank=True, default="")
    selection = serializers.DictField(default=dict)
    split_plan = serializers.DictField(default=dict)
    publish = serializers.BooleanField(default=False)


class ExportSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="version.number", read_only=True)

    class Meta:
        model = Export
        fields = [
            "id",
            "version",
            "format",
            "target",
            "include_restricted",
            "shard_max_samples",
            "shard_max_bytes",
            "status",
            "shards_total",
            "shards_done",
            "samples_written",
            "manifest_sha256",
            "error",
            "created_at",
            "started_at",
            "heartbeat_at",
            "finished_at",
        ]
        read_only_fields = fields


class ExportCreateSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=ExportFormat.choices, default=ExportFormat.WEBDATASET)
    target = serializers.CharField(
        max_length=500,
        help_text="A folder under EXPORT_ROOTS (relative: under the first), or s3://bucket/prefix under "
        "EXPORT_S3_LOCATIONS.",
    )
    include_restricted = serializers.BooleanField(default=False)
    shard_max_samples = serializers.IntegerField(min_value=1, max_value=2**31 - 1, default=10_000)
    shard_max_bytes = serializers.IntegerField(min_value=1, max_value=2**63 - 1, default=1_000_000_000)


class DatasetVersionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Dataset versions: freeze a selection, publish it, export it, compare two."""

    permission_classes = [ModelPermissions]
    queryset = DatasetVersion.objects.none()  # tells the permission class the model
    serializer_class = DatasetVersionSerializer
    lookup_field = "number"
    lookup_value_regex = ID_PATTERN
    pagination_class = None

    def get_queryset(self):
        return selectors.versions_visible_to(self.request.user)

    @extend_schema(request=DatasetVersionCreateSerializer, responses={201: DatasetVersionSerializer})
    def create(self, request):
        params = DatasetVersionCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        try:
            version = versions.dataset_version_create(
                title=data["title"],
                description=data["description"],
                selection=data["selection"],
                split_plan=data["split_plan"],
                created_by=request.user,
            )
            if data["publish"]:
                versions.dataset_version_publish(version=version)
        except versions.VersionError as error:
            raise ValidationError({"detail": str(error)}) from None
        return Response(DatasetVersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=DatasetVersionSerializer)
    @action(detail=True, methods=["post"])
    def publish(self, request, number=None):
        try:
            version = versions.dataset_version_publish(version=self.get_object())
        except versions.VersionError as error:
            raise ValidationError({"detail": str(error)}) from None
        return Response(DatasetVersionSerializer(version).data)

    @extend_schema(request=ExportCreateSerializer, responses={201: ExportSerializer})
    @action(detail=True, methods=["post"])
    def exports(self, request, number=None):
        """Start an export on the Celery 'export' queue; follow it at /api/releases/exports/{id}/."""
        params = ExportCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        try:
            export = exports.export_create(version=self.get_object(), created_by=request.user, **params.validated_data)
        except exports.ExportError as error:
            raise ValidationError({"detail": str(error)}) from None
        exports.export_start(export=export)
        return Response(ExportSerializer(export).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[OpenApiParameter("from", int, required=True), OpenApiParameter("to", int, required=True)],
        responses={200: dict},
    )
    @action(detail=False, methods=["get"])
    def diff(self, request):
        """Samples added, removed and changed between two versions."""
        found = {}
        for parameter in ("from", "to"):
            value = request.query_params.get(parameter, "")
            number = parse_id(value)
            found[parameter] = self.get_queryset().filter(number=number).first() if number is not None else None
            if found[parameter] is None:
                raise ValidationError({parameter: "an existing version number"})
        return Response(versions.dataset_version_diff(old=found["from"], new=found["to"]))


class ExportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [ModelPermissions]
    queryset = Export.objects.none()
    serializer_class = ExportSerializer

    def get_queryset(self):
        return selectors.exports_visible_to(self.request.user)

    @extend_schema(request=None, responses=ExportSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        """Run a failed or interrupted export again: committed shards with matching checksums are kept.
        Safe while its workers are still writing; a succeeded export is refused."""
        export = self.get_object()
        try:
            exports.export_start(export=export)
        except exports.ExportError as error:
            raise ValidationError({"detail": str(error)}) from None
        export.refresh_from_db()
        return Response(ExportSerializer(export).data)
