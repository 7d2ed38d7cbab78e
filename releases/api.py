from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from base.ids import ID_PATTERN, parse_id
from base.permissions import ModelPermissions
from base.strict_input import InputSerializer, takes_no_body
from catalog.embedding_index import EmbeddingError
from catalog.serializers import EmbeddingSpaceSerializer

from . import exports, selectors, versions
from .models import DatasetVersion, Export, ExportFormat
from .near_duplicates import selection_near_duplicates, version_near_duplicates

NEAR_DUPLICATE_GROUPS_LISTED = 100


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


class NearDuplicateGroupSerializer(serializers.Serializer):
    sample_ids = serializers.ListField(child=serializers.IntegerField())
    min_cosine_distance = serializers.FloatField(allow_null=True, help_text="Closest embedding pair; null: none.")
    min_hamming = serializers.IntegerField(allow_null=True, help_text="Closest pHash pair in bits; null: none.")


class NearDuplicateReportSerializer(serializers.Serializer):
    """Near-duplicate groups among the samples of a selection or version that the requester may see."""

    group_count = serializers.IntegerField()
    samples_in_groups = serializers.IntegerField()
    groups = NearDuplicateGroupSerializer(many=True, help_text="The largest groups first, at most `limit`.")
    groups_listed = serializers.IntegerField()
    samples = serializers.IntegerField(help_text="Samples looked at.")
    without_embedding = serializers.IntegerField(help_text="Of those, without an embedding: compared by pHash only.")
    space = EmbeddingSpaceSerializer(allow_null=True)
    warnings = serializers.ListField(child=serializers.CharField())
    max_cosine_distance = serializers.FloatField()
    max_hamming = serializers.IntegerField()


class DatasetVersionCreatedSerializer(DatasetVersionSerializer):
    near_duplicates = NearDuplicateReportSerializer(read_only=True)

    class Meta(DatasetVersionSerializer.Meta):
        fields = DatasetVersionSerializer.Meta.fields + ["near_duplicates"]
        read_only_fields = fields


class NearDuplicatePreviewSerializer(InputSerializer):
    selection = serializers.DictField(default=dict, help_text="The selection of a version, as when creating one.")
    limit = serializers.IntegerField(min_value=1, max_value=10_000, default=NEAR_DUPLICATE_GROUPS_LISTED)


class DatasetVersionCreateSerializer(InputSerializer):
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


class ExportCreateSerializer(InputSerializer):
    format = serializers.ChoiceField(choices=ExportFormat.choices, default=ExportFormat.WEBDATASET)
    target = serializers.CharField(
        max_length=500,
        help_text="A folder under EXPORT_ROOTS (relative: under the first), or s3://bucket/prefix under "
        "EXPORT_S3_LOCATIONS.",
    )
    include_restricted = serializers.BooleanField(default=False)
    shard_max_samples = serializers.IntegerField(min_value=1, max_value=2**31 - 1, default=10_000)
    shard_max_bytes = serializers.IntegerField(min_value=1, max_value=2**63 - 1, default=1_000_000_000)


def _refused(error: versions.VersionError | exports.ExportError) -> ValidationError:
    """A service's refusal as a 400: its message as the detail, and under the field it names."""
    body = {"detail": str(error)}
    if error.field:
        body[error.field] = str(error)
    return ValidationError(body)


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

    @extend_schema(request=DatasetVersionCreateSerializer, responses={201: DatasetVersionCreatedSerializer})
    def create(self, request):
        """Freeze a selection into a draft version; the response lists the near-duplicate groups inside
        it (the largest 100), so the data manager sees them before publishing."""
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
            raise _refused(error) from None
        body = DatasetVersionSerializer(version).data
        report = version_near_duplicates(version=version, requested_by=request.user)
        body["near_duplicates"] = report.to_json(limit=NEAR_DUPLICATE_GROUPS_LISTED)
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=NearDuplicatePreviewSerializer, responses={200: NearDuplicateReportSerializer})
    @action(detail=False, methods=["post"], url_path="near-duplicates")
    def near_duplicates_preview(self, request):
        """Before cutting a version: the near-duplicate groups (similar embeddings, close pHashes) among
        the samples that `selection` would freeze, as far as you may see them."""
        params = NearDuplicatePreviewSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        try:
            report = selection_near_duplicates(selection=params.validated_data["selection"], requested_by=request.user)
        except (versions.VersionError, EmbeddingError) as error:
            raise ValidationError({"selection": str(error)}) from None
        return Response(report.to_json(limit=params.validated_data["limit"]))

    @extend_schema(
        parameters=[OpenApiParameter("limit", int, required=False)], responses={200: NearDuplicateReportSerializer}
    )
    @action(detail=True, methods=["get"], url_path="near-duplicates")
    def near_duplicates(self, request, number=None):
        """The near-duplicate groups among a version's samples."""
        limit = parse_id(request.query_params.get("limit", str(NEAR_DUPLICATE_GROUPS_LISTED)))
        if limit is None or not 1 <= limit <= 10_000:
            raise ValidationError({"limit": "an integer from 1 to 10000"})
        report = version_near_duplicates(version=self.get_object(), requested_by=request.user)
        return Response(report.to_json(limit=limit))

    @extend_schema(responses=DatasetVersionSerializer)
    @takes_no_body
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
            raise _refused(error) from None
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

    @extend_schema(responses=ExportSerializer)
    @takes_no_body
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
