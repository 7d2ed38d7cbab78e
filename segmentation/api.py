"""POST /api/annotation/segment/ and GET /api/annotation/segment/backends/: parse, check access, call, serialize."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from base.api_errors import ApiErrorSerializer
from base.ids import MAX_ID, IdField
from base.strict_input import InputSerializer, unknown_key_errors
from catalog.rle import mask_bbox, mask_to_rle
from catalog.selectors import access_sample

from .backends import known_backends
from .services import DEFAULT_BACKEND, SegmentationError, segment_sample


class CanAnnotate(BasePermission):
    """The workflow's people (annotators, reviewers, experts, managers) draw masks; others may not."""

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm("annotation.view_annotation"))


# These serializers document the contract for /api/docs/; requests are checked by the services'
# check_* functions instead, which name the offending click and the image size in their messages
# (only the top level's unknown keys are refused here, by the API's one rule).
class ClickSerializer(InputSerializer):
    x = serializers.IntegerField()
    y = serializers.IntegerField()
    positive = serializers.BooleanField()


class RLESerializer(InputSerializer):
    size = serializers.ListField(child=serializers.IntegerField(), help_text="[height, width]")
    counts = serializers.ListField(child=serializers.IntegerField(), help_text="COCO RLE runs, column-major")


class SegmentRequestSerializer(InputSerializer):
    sample = IdField()
    backend = serializers.CharField(default=DEFAULT_BACKEND)
    clicks = ClickSerializer(many=True)
    previous_mask = RLESerializer(required=False, allow_null=True)
    box = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        allow_null=True,
        help_text="[x, y, w, h]: a box prompt, for backends that take one (accepts_box); clicks may then be []",
    )


class SegmentResponseSerializer(serializers.Serializer):
    mask = RLESerializer()
    bbox = serializers.ListField(child=serializers.IntegerField(), allow_null=True, help_text="[x, y, w, h]")
    area = serializers.IntegerField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    backend = serializers.CharField()
    elapsed_ms = serializers.FloatField()


class BackendSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    default = serializers.BooleanField()
    accepts_box = serializers.BooleanField()


class SegmentView(APIView):
    permission_classes = [CanAnnotate]

    @extend_schema(
        summary="Propose a defect mask from positive/negative clicks",
        description=(
            "Clicks are pixels of the sample's stored 512x512 image, in the order made; the first must be "
            "positive. Send the previous answer as `previous_mask` to refine it with the last click. "
            "Backends that list `accepts_box` also take `box` ([x, y, w, h]), with or without clicks. "
            "An empty proposal is an answer (area 0, bbox null), not an error."
        ),
        request=SegmentRequestSerializer,
        responses={
            200: SegmentResponseSerializer,
            400: OpenApiResponse(ApiErrorSerializer, description="bad input; `errors` names the field"),
            404: OpenApiResponse(description="no such sample, or not visible to you"),
        },
    )
    def post(self, request):
        data = request.data if isinstance(request.data, dict) else {}
        unknown = unknown_key_errors(data, accepted=SegmentRequestSerializer().fields)
        if unknown:
            raise ValidationError(unknown)
        sample_id = data.get("sample")
        if not isinstance(sample_id, int) or isinstance(sample_id, bool) or not 0 < sample_id <= MAX_ID:
            raise SegmentationError("a sample id (integer)", field="sample")
        sample = access_sample(request.user, sample_id)
        result = segment_sample(
            sample=sample,
            backend_name=data.get("backend"),
            clicks=data.get("clicks"),
            previous_mask=data.get("previous_mask"),
            box=data.get("box"),
        )
        height, width = result.mask.shape
        return Response(
            {
                "mask": mask_to_rle(result.mask),
                "bbox": mask_bbox(result.mask),
                "area": int(result.mask.sum()),
                "width": width,
                "height": height,
                "backend": result.backend,
                "elapsed_ms": round(result.elapsed_ms, 1),
            }
        )


class SegmentBackendsView(APIView):
    permission_classes = [CanAnnotate]

    @extend_schema(
        summary="The registered click-segmentation backends",
        responses=BackendSerializer(many=True),
    )
    def get(self, request):
        return Response(
            [
                {
                    "name": name,
                    "description": backend.description,
                    "default": name == DEFAULT_BACKEND,
                    "accepts_box": bool(getattr(backend, "accepts_box", False)),
                }
                for name, backend in sorted(known_backends().items())
            ]
        )
