from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from base.ids import ID_PATTERN, parse_id
from base.permissions import ModelPermissions
from base.strict_input import takes_no_body

from . import selectors, services
from .models import Facet, Term, TermStatus, VocabularyVersion
from .records import TermRecord, VocabularyFileError
from .serializers import (
    DeprecateSerializer,
    NormalizeSerializer,
    ReleaseSerializer,
    TermDetailSerializer,
    TermProposeSerializer,
    TermSerializer,
    ValidateCaptionsSerializer,
    VersionDetailSerializer,
    VersionSerializer,
)


class TermPagination(CursorPagination):
    ordering = "slug"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


@extend_schema(
    parameters=[
        OpenApiParameter("facet", str, enum=Facet.values),
        OpenApiParameter("status", str, enum=TermStatus.values),
        OpenApiParameter(
            "q",
            str,
            description="a label or alias, any language: from a word start, or anywhere in Chinese and Japanese",
        ),
    ]
)
class TermViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Terms. Creating one proposes it; a curator approves or deprecates it."""

    permission_classes = [ModelPermissions]
    queryset = Term.objects.none()
    lookup_field = "slug"
    pagination_class = TermPagination

    def get_serializer_class(self):
        return TermDetailSerializer if self.action == "retrieve" else TermSerializer

    def get_queryset(self):
        terms = Term.objects.select_related("parent", "replaced_by")
        if self.action == "retrieve":
            return terms.prefetch_related("names", "children")
        params = self.request.query_params
        statuses = [params["status"]] if params.get("status") else TermStatus.values
        facet = params.get("facet")
        if facet and facet not in Facet.values:
            raise ValidationError({"facet": f"unknown facet {facet!r}"})
        ids = selectors.term_search(query=params.get("q", ""), facet=facet, statuses=statuses).values("id")
        return terms.filter(id__in=ids)

    @extend_schema(request=TermProposeSerializer, responses={201: TermDetailSerializer})
    def create(self, request):
        params = TermProposeSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        record = TermRecord(
            slug=data["slug"],
            facet=data["facet"],
            parent=data["parent"] or None,
            labels=data["labels"],
            aliases=data["aliases"],
            definition=data["definition"],
            status=TermStatus.PROPOSED,
        )
        if Term.objects.filter(slug=record.slug).exists():
            raise ValidationError({"slug": f"{record.slug} exists already"})
        try:
            services.vocabulary_load(records=[record])
        except VocabularyFileError as error:
            raise ValidationError({"term": error.problems}) from None
        term = Term.objects.get(slug=record.slug)
        return Response(TermDetailSerializer(term).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=TermDetailSerializer)
    @takes_no_body
    @action(detail=True, methods=["post"])
    def approve(self, request, slug=None):
        self._require("vocabulary.change_term")
        term = self.get_object()
        try:
            services.term_approve(term=term)
        except services.TermLifecycleError as error:
            raise ValidationError({"status": str(error)}) from None
        return Response(TermDetailSerializer(term).data)

    @extend_schema(request=DeprecateSerializer, responses=TermDetailSerializer)
    @action(detail=True, methods=["post"])
    def deprecate(self, request, slug=None):
        self._require("vocabulary.change_term")
        params = DeprecateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        term = self.get_object()
        replacement = get_object_or_404(Term, slug=params.validated_data["replacement"])
        try:
            services.term_deprecate(term=term, replacement=replacement)
        except services.TermLifecycleError as error:
            raise ValidationError({"replacement": str(error)}) from None
        return Response(TermDetailSerializer(term).data)

    def _require(self, permission: str) -> None:
        if not self.request.user.has_perm(permission):
            self.permission_denied(self.request, message=f"needs the {permission} permission")


class AutocompleteView(APIView):
    """Typeahead for the review pages: the terms selectors.term_search finds for q, best match first."""

    permission_classes = [ModelPermissions]
    queryset = Term.objects.none()

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, required=True),
            OpenApiParameter("facet", str, enum=Facet.values),
            OpenApiParameter("limit", int),
        ],
        responses=TermSerializer(many=True),
    )
    def get(self, request):
        limit = request.query_params.get("limit", "10")
        if not limit.isdigit() or not 1 <= int(limit) <= 50:
            raise ValidationError({"limit": "an integer from 1 to 50"})
        facet = request.query_params.get("facet") or None
        if facet and facet not in Facet.values:
            raise ValidationError({"facet": f"unknown facet {facet!r}"})
        terms = selectors.term_search(query=request.query_params.get("q", ""), facet=facet)
        terms = terms.select_related("parent", "replaced_by")[: int(limit)]
        return Response(TermSerializer(terms, many=True).data)


class VersionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [ModelPermissions]
    queryset = VocabularyVersion.objects.all()
    lookup_field = "number"
    lookup_value_regex = ID_PATTERN
    pagination_class = None

    def get_serializer_class(self):
        return VersionDetailSerializer if self.action == "retrieve" else VersionSerializer

    def get_queryset(self):
        if self.action == "list":
            return VocabularyVersion.objects.defer("terms").select_related("created_by")
        return VocabularyVersion.objects.select_related("created_by")

    @extend_schema(request=ReleaseSerializer, responses={201: VersionSerializer})
    def create(self, request):
        params = ReleaseSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        try:
            version = services.vocabulary_version_release(note=params.validated_data["note"], created_by=request.user)
        except services.TermLifecycleError as error:
            raise ValidationError({"terms": str(error)}) from None
        return Response(VersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[
            OpenApiParameter("from", int, required=True),
            OpenApiParameter("to", str, required=True, description="a version number, or 'current'"),
        ],
        responses={200: dict},
    )
    @action(detail=False, methods=["get"])
    def diff(self, request):
        """Added, changed, deprecated and removed terms between two versions (or a version and
        the working vocabulary)."""
        old = self._terms_of(request.query_params.get("from"), "from")
        new = self._terms_of(request.query_params.get("to"), "to")
        return Response(selectors.version_diff(old, new))

    def _terms_of(self, value: str | None, parameter: str) -> list[dict]:
        if value == "current":
            return [
                r.as_dict() for r in services.vocabulary_records(statuses=(TermStatus.APPROVED, TermStatus.DEPRECATED))
            ]
        if parse_id(value) is None:
            raise ValidationError({parameter: "a version number (or 'current' for 'to')"})
        return get_object_or_404(VocabularyVersion, number=parse_id(value)).terms


class CanReadVocabulary(BasePermission):
    """The normalizer and validator are reads, though called with POST (the text is the body)."""

    message = "needs the vocabulary.view_term permission"

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.has_perm("vocabulary.view_term"))


class NormalizeView(APIView):
    """The controlled terms a text mentions, with character spans (EN, ZH, JA or mixed). A mention
    inside a negation ("no visible cracks") comes with negated: true and is not a finding; an
    ambiguous alias ("copper") counts only with support (facet_hint, context, a term in the text)."""

    permission_classes = [CanReadVocabulary]

    @extend_schema(request=NormalizeSerializer, responses={200: dict})
    def post(self, request):
        params = NormalizeSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        mentions = selectors.vocabulary_matcher().find(
            data["text"],
            facets=data.get("facets"),
            context=data["context"],
            facet_hint=data.get("facet_hint"),
            languages=data.get("languages"),
        )
        return Response(
            {
                "mentions": [m._asdict() for m in mentions],
                "findings": sorted({m.term for m in mentions if not m.negated}),
                "negated": sorted({m.term for m in mentions if m.negated}),
            }
        )


class ValidateCaptionsView(NormalizeView):
    """The caption validator: language, controlled terms, cross-language gaps, unknown words, length."""

    @extend_schema(request=ValidateCaptionsSerializer, responses={200: dict})
    def post(self, request):
        params = ValidateCaptionsSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        report = selectors.caption_validator().validate(
            data["captions"],
            annotation_terms={"defect_type": set(data["defect_types"])} if "defect_types" in data else None,
            required_languages=data.get("required_languages", settings.ANNOTATION_REQUIRED_LANGUAGES),
            context=data["context"],
        )
        return Response(report.as_dict())
