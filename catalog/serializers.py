from django.urls import reverse
from rest_framework import serializers

from base.strict_input import InputSerializer, RefuseUnknownKeys

from .importers import IMPORTERS
from .models import ImportJob, ImportRow, Sample, Source, SourceKind, SourceRegion


class SourceSerializer(RefuseUnknownKeys, serializers.ModelSerializer):
    class Meta:
        model = Source
        fields = ["id", "name", "kind", "license", "visibility", "provenance", "created_at"]


class SourceRegionSerializer(serializers.ModelSerializer):
    class Meta:
        model = SourceRegion
        fields = ["id", "label", "bbox", "area", "mask_rle"]


class SampleListSerializer(serializers.ModelSerializer):
    source_name = serializers.CharField(source="source.name", read_only=True)
    files = serializers.SerializerMethodField()

    class Meta:
        model = Sample
        fields = [
            "id",
            "source",
            "source_name",
            "external_id",
            "sha256",
            "phash",
            "width",
            "height",
            "original_format",
            "domain",
            "product",
            "is_synthetic",
            "source_text_language",
            "created_at",
            "files",
        ]

    def get_files(self, sample) -> dict[str, str]:
        # Files are served through an access-checked view, never as public media URLs.
        request = self.context.get("request")
        urls = {kind: reverse("api:sample-file", args=[sample.pk, kind]) for kind in ("original", "asset", "thumbnail")}
        return {kind: request.build_absolute_uri(url) if request else url for kind, url in urls.items()}


class SampleDetailSerializer(SampleListSerializer):
    source_regions = SourceRegionSerializer(many=True, read_only=True)

    class Meta(SampleListSerializer.Meta):
        fields = SampleListSerializer.Meta.fields + ["source_text", "source_regions"]


class ImportJobSerializer(serializers.ModelSerializer):
    source_name = serializers.CharField(source="source.name", read_only=True)
    options = serializers.DictField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "format",
            "path",
            "options",
            "source",
            "source_name",
            "status",
            "total",
            "processed",
            "imported",
            "duplicates",
            "rejected",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "heartbeat_at",
            "next_batch",
        ]
        read_only_fields = fields


class ImportJobCreateSerializer(InputSerializer):
    format = serializers.ChoiceField(choices=sorted(IMPORTERS))
    path = serializers.CharField(max_length=1000)
    source = serializers.CharField(max_length=200, help_text="Source name; created if new.")
    kind = serializers.ChoiceField(choices=SourceKind.choices, default=SourceKind.BENCHMARK)
    license = serializers.CharField(allow_blank=True, default="")
    restricted = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="A new source: visible to its members only. An existing source keeps its visibility "
        "(asking for another is refused: an admin changes it).",
    )
    product = serializers.CharField(
        max_length=200, allow_blank=True, default="", help_text="Product of every item whose layout names none."
    )
    domain = serializers.CharField(
        max_length=200, allow_blank=True, default="", help_text="Domain of every item whose layout names none."
    )
    images = serializers.CharField(
        max_length=500, allow_blank=True, default="", help_text="COCO: the image folder, relative to the dataset root."
    )


class ImportRowSerializer(serializers.ModelSerializer):
    """Reads rows annotated by selectors.with_visible_sample: a sample the reader may not see is null."""

    warnings = serializers.ListField(child=serializers.CharField(), read_only=True)
    sample = serializers.IntegerField(source="visible_sample_id", allow_null=True, read_only=True)

    class Meta:
        model = ImportRow
        fields = ["id", "item", "outcome", "reason", "warnings", "sample"]


class NeighbourSerializer(serializers.Serializer):
    sample = serializers.IntegerField()
    cosine_distance = serializers.FloatField()


class EmbeddingSpaceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    model = serializers.CharField()
    weights = serializers.CharField()
    random_init = serializers.BooleanField(
        help_text="True: a random image tower; its distances are not used for near-duplicates (pHash only)."
    )


class SampleNeighboursSerializer(serializers.Serializer):
    space = EmbeddingSpaceSerializer(allow_null=True, help_text="The embedding space searched; null: none yet.")
    warnings = serializers.ListField(child=serializers.CharField())
    neighbours = NeighbourSerializer(many=True, help_text="Nearest first.")
