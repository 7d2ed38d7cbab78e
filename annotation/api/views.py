"""Views: parse, call a service or selector, serialize. A WorkflowError becomes its HTTP status
with {"code", "detail", "errors"?}; a stale write (409) also carries the current annotation."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from base.ids import parse_id
from base.job_views import ResumeJobMixin
from base.pagination import KeysetPagination
from base.permissions import ModelPermissions
from base.strict_input import takes_no_body
from catalog.selectors import samples_visible_to, sources_visible_to, without_hidden

from .. import predictions, services
from ..consensus import consensus_tally
from ..error_codes import AnnotationErrorCode as Code
from ..error_codes import WorkflowError
from ..models import AgreementReport, Annotation, AuditEvent, QueueSetting, Stage
from ..queue import QueueFilters, annotation_claim_next
from ..selectors import (
    access_annotation,
    annotations_visible_to,
    audit_events_visible_to,
    names_defect_type,
    revisions_of,
)
from ..timeline import annotation_timeline
from . import serializers as s


class AnnotationPagination(KeysetPagination):
    ordering = "-sample_id"


class HasPermission(BasePermission):
    permission = ""

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm(self.permission))


class WorkflowPermission(HasPermission):
    """Anyone in the workflow may ask; each transition then checks its own role, the lease and
    the "own work" rules."""

    permission = "annotation.view_annotation"


class CanReadAudit(HasPermission):
    permission = "annotation.view_auditevent"


class CanManageAnnotations(HasPermission):
    permission = "annotation.assign_annotation"


def _context(request) -> dict:
    return {"request": request, "people": s.People(request.user)}


def _detail(request, sample_id: int) -> dict:
    annotation = access_annotation(request.user, sample_id)
    return s.AnnotationDetailSerializer(annotation, context=_context(request)).data


def _parse(serializer_class, data) -> dict:
    params = serializer_class(data=data)
    params.is_valid(raise_exception=True)  # a 400 in the API's one error shape (base/api_errors.py)
    return params.validated_data


def _int_param(value: str, parameter: str) -> int:
    number = parse_id(value)
    if number is None:
        raise ValidationError({parameter: ["an integer id"]})
    return number


def _person_param(value: str, user: User, parameter: str) -> int:
    return user.pk if value == "me" else _int_param(value, parameter)


LIST_FILTERS = [
    "state",
    "queue",
    "source",
    "domain",
    "language",
    "defect_type",
    "is_gold",
    "assignee",
    "annotator",
    "reviewer",
    "held",
]
WRITE_RESPONSES = {
    200: s.AnnotationDetailSerializer,
    400: OpenApiResponse(description="invalid input or transition not allowed: {code, detail, errors}"),
    403: OpenApiResponse(description="role, own work, lease or assignment rule"),
    409: OpenApiResponse(description="stale version or expired lease: {code, detail, current}"),
}


@extend_schema(parameters=[OpenApiParameter(name, str, required=False) for name in LIST_FILTERS])
class AnnotationViewSet(viewsets.ReadOnlyModelViewSet):
    """Annotations by sample id, newest first (keyset pagination: follow `next`)."""

    queryset = Annotation.objects.none()
    permission_classes = [ModelPermissions]
    pagination_class = AnnotationPagination
    serializer_class = s.AnnotationListSerializer

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "people": s.People(self.request.user)}

    def conflict_state(self, request, kwargs) -> dict | None:
        """What a 409 carries as `current`: the annotation as it is now (base/api_errors.py)."""
        return _detail(request, kwargs["pk"]) if "pk" in kwargs else None

    def get_queryset(self):
        annotations = annotations_visible_to(self.request.user)
        params = self.request.query_params
        user = self.request.user
        for name in ("state", "queue", "domain", "language"):
            if name in params:
                annotations = annotations.filter(**{name: params[name]})
        if "source" in params:
            annotations = annotations.filter(source_id=_int_param(params["source"], "source"))
        if "is_gold" in params:
            annotations = annotations.filter(is_gold=params["is_gold"].lower() in ("true", "1"))
        if "held" in params:
            annotations = annotations.filter(lease_holder_id=_person_param(params["held"], user, "held"))
        for name in ("assignee", "annotator", "reviewer"):
            if name in params:
                person = _person_param(params[name], user, name)
                if person != user.pk and s.People(user).hidden:
                    raise ValidationError({name: ["blind mode: only 'me'"]})
                annotations = annotations.filter(**{f"{name}_id": person})
        if "defect_type" in params:
            annotations = annotations.filter(names_defect_type(_int_param(params["defect_type"], "defect_type")))
        return annotations

    def retrieve(self, request, pk=None):
        return Response(_detail(request, pk))

    @extend_schema(request=s.ClaimSerializer, responses=WRITE_RESPONSES)
    @action(detail=True, methods=["post"], permission_classes=[WorkflowPermission])
    def claim(self, request, pk=None):
        """Lease this sample in the stage it waits for (annotation, review or consensus)."""
        data = _parse(s.ClaimSerializer, request.data)
        services.annotation_claim(user=request.user, sample_id=pk, version=data.get("version"))
        return Response(_detail(request, pk))

    @extend_schema(request=s.BasedOnVersionSerializer, responses=WRITE_RESPONSES)
    @action(detail=True, methods=["post"], permission_classes=[WorkflowPermission])
    def release(self, request, pk=None):
        """Hand the sample back to its queue unfinished (saved work stays)."""
        data = _parse(s.BasedOnVersionSerializer, request.data)
        services.annotation_release(user=request.user, sample_id=pk, version=data["version"])
        return Response(_detail(request, pk))

    @extend_schema(request=s.SkipSerializer, responses={**WRITE_RESPONSES, 200: dict})
    @action(detail=True, methods=["post"], permission_classes=[WorkflowPermission])
    def skip(self, request, pk=None):
        """Hand the sample back with a reason and lease the next one of the same stage, under the
        same filters as claim-next (pass the ones you claimed with):
        {"skipped": <sample id>, "next": <sample id> | null} (null: nothing else is left for you)."""
        data = _parse(s.SkipSerializer, request.data)
        following = services.annotation_skip(
            user=request.user,
            sample_id=pk,
            version=data["version"],
            reason=data["reason"],
            filters=QueueFilters.among(data),
        )
        return Response({"skipped": int(pk), "next": following.pk if following else None})

    @extend_schema(responses=WRITE_RESPONSES)
    @takes_no_body
    @action(detail=True, methods=["post"], url_path="renew-lease", permission_classes=[WorkflowPermission])
    def renew_lease(self, request, pk=None):
        """Extend the lease (a heartbeat); does not change the version."""
        services.annotation_renew_lease(user=request.user, sample_id=pk)
        return Response(_detail(request, pk))

    @extend_schema(responses={200: s.ModelPredictionSerializer, 204: None})
    @action(detail=True, methods=["get"], pagination_class=None)
    def prediction(self, request, pk=None):
        """The newest model pre-annotation of the sample (a layer beside its content), or 204 when none."""
        found = predictions.latest_prediction(access_annotation(request.user, pk))
        if found is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(s.ModelPredictionSerializer(found).data)

    @extend_schema(request=s.PredictedRegionDecisionSerializer, responses=WRITE_RESPONSES)
    @action(detail=True, methods=["post"], url_path="prediction/accept", permission_classes=[WorkflowPermission])
    def accept_prediction(self, request, pk=None):
        """Copy one predicted region into the held sample's regions (a save: new revision, audited)."""
        data = _parse(s.PredictedRegionDecisionSerializer, request.data)
        predictions.predicted_region_accept(
            user=request.user, sample_id=pk, version=data["version"], region_id=data["region"]
        )
        return Response(_detail(request, pk))

    @extend_schema(request=s.PredictedRegionDecisionSerializer, responses=WRITE_RESPONSES)
    @action(detail=True, methods=["post"], url_path="prediction/discard", permission_classes=[WorkflowPermission])
    def discard_prediction(self, request, pk=None):
        """Mark one predicted region as wrong (audited; the content and version stay)."""
        data = _parse(s.PredictedRegionDecisionSerializer, request.data)
        predictions.predicted_region_discard(
            user=request.user, sample_id=pk, version=data["version"], region_id=data["region"]
        )
        return Response(_detail(request, pk))

    @extend_schema(request=s.SaveContentSerializer, responses=WRITE_RESPONSES)
    @action(detail=True, methods=["post"], permission_classes=[WorkflowPermission])
    def save(self, request, pk=None):
        """Save work in progress (stage 1 or 2) as a new revision."""
        data = _parse(s.SaveContentSerializer, request.data)
        services.annotation_save(user=request.user, sample_id=pk, version=data["version"], content=data["content"])
        return Response(_detail(request, pk))

    @extend_schema(request=s.StageResultSerializer, responses=WRITE_RESPONSES)
    @action(detail=True, methods=["post"], permission_classes=[WorkflowPermission])
    def submit(self, request, pk=None):
        """Stage 1 done: to the review queue. Checks the template, regions and required captions."""
        data = _parse(s.StageResultSerializer, request.data)
        services.annotation_submit(
            annotator=request.user, sample_id=pk, version=data["version"], content=data.get("content")
        )
        return Response(_detail(request, pk))

    @extend_schema(request=s.StageResultSerializer, responses=WRITE_RESPONSES)
    @action(detail=True, methods=["post"], permission_classes=[WorkflowPermission])
    def approve(self, request, pk=None):
        """Stage 2: approve, or edit and approve (send `content`)."""
        data = _parse(s.StageResultSerializer, request.data)
        services.review_approve(
            reviewer=request.user, sample_id=pk, version=data["version"], content=data.get("content")
        )
        return Response(_detail(request, pk))

    @extend_schema(request=s.RequestChangesSerializer, responses=WRITE_RESPONSES)
    @action(detail=True, methods=["post"], url_path="request-changes", permission_classes=[WorkflowPermission])
    def request_changes(self, request, pk=None):
        """Stage 2: back to the same annotator, with comments pinned to fields or regions."""
        data = _parse(s.RequestChangesSerializer, request.data)
        services.review_request_changes(
            reviewer=request.user, sample_id=pk, version=data["version"], comments=data["comments"]
        )
        return Response(_detail(request, pk))

    @extend_schema(request=s.VoteSerializer, responses=WRITE_RESPONSES)
    @action(detail=True, methods=["post"], permission_classes=[WorkflowPermission])
    def vote(self, request, pk=None):
        """Stage 3: approve, reject, or edit (with `content`)."""
        data = _parse(s.VoteSerializer, request.data)
        services.consensus_vote(
            expert=request.user,
            sample_id=pk,
            version=data["version"],
            decision=data["decision"],
            content=data.get("content"),
            comment=data["comment"],
        )
        return Response(_detail(request, pk))

    @extend_schema(responses=s.RevisionSummarySerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)
    def revisions(self, request, pk=None):
        """Every revision, oldest first; each stage's result is one of them."""
        annotation = access_annotation(request.user, pk)
        revisions = revisions_of(annotation)[:1000]  # a sample has a handful; the cap is a guard
        return Response(s.RevisionSummarySerializer(revisions, many=True, context=_context(request)).data)

    @extend_schema(responses={200: serializers.ListSerializer(child=serializers.DictField())})
    @action(detail=True, methods=["get"], pagination_class=None)
    def timeline(self, request, pk=None):
        """The sample's history for its work page, newest first: one moment per transition (who,
        when, the state it moved, the fields it changed with term labels in EN/ZH/JA)."""
        annotation = access_annotation(request.user, pk)
        return Response(annotation_timeline(annotation, people=s.People(request.user)))

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"])
    def consensus(self, request, pk=None):
        """Stage 3's tally: {quorum, panel, approvals, rejections, voters, stale} on the current revision."""
        annotation = access_annotation(request.user, pk)
        return Response(consensus_tally(annotation).as_json())

    @extend_schema(responses=s.AuditEventSerializer(many=True))
    @action(detail=True, methods=["get"], permission_classes=[CanReadAudit])
    def audit(self, request, pk=None):
        """The sample's audit trail, newest first (keyset pagination)."""
        annotation = access_annotation(request.user, pk)
        events = AuditEvent.objects.filter(annotation=annotation).select_related("actor")
        paginator = KeysetPagination()
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response(s.AuditEventSerializer(page, many=True).data)


class RevisionDetailView(APIView):
    """One revision's full content: template fields, regions with masks, captions, QA pairs."""

    permission_classes = [WorkflowPermission]

    @extend_schema(responses={200: dict})
    def get(self, request, sample: int, number: int):
        annotation = access_annotation(request.user, sample)
        revision = get_object_or_404(annotation.revisions.all(), number=number)
        return Response(s.revision_json(revision, s.People(request.user)))


class ClaimNextView(APIView):
    """Lease the next sample of a stage's queue: gold first, then priority, then oldest.
    204 when nothing is left for you with these filters; 400 when a `source` or `defect_type`
    names nothing (a source you may not see reads as one that does not exist)."""

    permission_classes = [WorkflowPermission]

    @extend_schema(request=s.ClaimNextSerializer, responses={**WRITE_RESPONSES, 204: None})
    def post(self, request, stage: str):
        data = _parse(s.ClaimNextSerializer, request.data)
        annotation = annotation_claim_next(user=request.user, stage=stage, filters=QueueFilters.among(data))
        if annotation is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(_detail(request, annotation.pk))


class EnqueueView(APIView):
    """Data managers: create the annotations of samples (by ids, source or domain), each with
    its first draft from the imported regions. At most `limit` per call; call again while `more`.
    With `diverse`, the `limit` samples are those that cover the embedding space best (the
    response's `diversity` says how many candidates had no embedding, and flags random weights)."""

    permission_classes = [CanManageAnnotations]

    @extend_schema(request=s.EnqueueSerializer, responses={200: dict})
    def post(self, request):
        data = _parse(s.EnqueueSerializer, request.data)
        samples = samples_visible_to(request.user)
        if "sample_ids" in data:
            samples = samples.filter(pk__in=data["sample_ids"])
        if "source" in data:
            samples = samples.filter(source_id=data["source"])
        if "domain" in data:
            samples = samples.filter(domain=data["domain"])
        if data["diverse"]:
            created, pick = services.annotations_enqueue_diverse(
                samples=samples,
                by=request.user,
                count=data["limit"],
                priority=data["priority"],
                is_gold=data["is_gold"],
                seed=data["seed"],
            )
            more = pick.sampled_from > len(pick.sample_ids) or pick.without_embedding > 0
            return Response({"created": created, "more": more, "diversity": pick.to_json()})
        created = services.annotations_enqueue(
            samples=samples, by=request.user, priority=data["priority"], is_gold=data["is_gold"], limit=data["limit"]
        )
        # A full batch means there may be more; counting what is left would scan the catalog.
        return Response({"created": created, "more": created == data["limit"]})


class AssignView(APIView):
    """Data managers: reserve samples for an annotator (creating annotations as needed)."""

    permission_classes = [CanManageAnnotations]

    @extend_schema(request=s.AssignSerializer, responses={200: dict})
    def post(self, request):
        data = _parse(s.AssignSerializer, request.data)
        annotator = None
        if data["annotator"] is not None:
            annotator = User.objects.filter(pk=data["annotator"]).first()
            if annotator is None:
                raise WorkflowError(
                    Code.INVALID, "invalid annotator", errors={"annotator": [f"no user {data['annotator']}"]}
                )
        results = services.annotations_assign(
            by=request.user,
            sample_ids=data["sample_ids"],
            annotator=annotator,
            priority=data.get("priority"),
            is_gold=data.get("is_gold"),
        )
        return Response({"results": [{"sample": r.sample, "outcome": r.outcome} for r in results]})


class PriorityView(APIView):
    """Data managers: set the priority or the gold flag of samples' annotations (audited)."""

    permission_classes = [CanManageAnnotations]

    @extend_schema(request=s.PrioritySerializer, responses={200: dict})
    def post(self, request):
        data = _parse(s.PrioritySerializer, request.data)
        visible = annotations_visible_to(request.user).filter(pk__in=data["sample_ids"]).values_list("pk", flat=True)
        changed = services.annotations_set_priority(
            by=request.user, sample_ids=list(visible), priority=data.get("priority"), is_gold=data.get("is_gold")
        )
        return Response({"changed": changed})


class QueueOrderView(APIView):
    """Data managers: how each stage's queue is ordered among samples of equal priority (gold first
    always): by age, or by model uncertainty (active learning)."""

    permission_classes = [CanManageAnnotations]

    @extend_schema(responses={200: s.QueueSettingSerializer(many=True)})
    def get(self, request):
        chosen = {setting.stage: setting for setting in QueueSetting.objects.all()}
        rows = [
            chosen.get(stage) or QueueSetting(stage=stage)
            for stage in (Stage.ANNOTATION, Stage.REVIEW, Stage.CONSENSUS)
        ]
        return Response(s.QueueSettingSerializer(rows, many=True).data)

    @extend_schema(request=s.QueueSettingSerializer, responses={200: s.QueueSettingSerializer})
    def post(self, request):
        data = _parse(s.QueueSettingSerializer, request.data)
        setting = predictions.queue_order_set(user=request.user, stage=data["stage"], order=data["order"])
        return Response(s.QueueSettingSerializer(setting).data)


@extend_schema(parameters=[OpenApiParameter(name, int, required=False) for name in ("sample", "actor")])
class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    """The audit trail across samples: ?actor=<user id> for one person's events, ?sample=<id>."""

    queryset = AuditEvent.objects.none()
    permission_classes = [CanReadAudit]
    serializer_class = s.AuditEventSerializer

    def get_queryset(self):
        events = audit_events_visible_to(self.request.user)
        for name, lookup in (("sample", "annotation_id"), ("actor", "actor_id")):
            value = self.request.query_params.get(name)
            if value is not None:
                events = events.filter(**{lookup: _int_param(value, name)})
        if action := self.request.query_params.get("action"):
            events = events.filter(action=action)
        return events


class AgreementReportViewSet(ResumeJobMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Agreement per template field (Cohen's kappa, Krippendorff's alpha), mask IoU between
    stages and caption edit distance, per dataset or per annotator. POST queues a computation."""

    queryset = AgreementReport.objects.all()
    permission_classes = [ModelPermissions]
    serializer_class = s.AgreementReportSerializer

    def get_queryset(self):
        return without_hidden(AgreementReport.objects.all(), self.request.user, "sources")

    @extend_schema(request=s.AgreementReportRequestSerializer, responses={202: s.AgreementReportSerializer})
    def create(self, request):
        data = _parse(s.AgreementReportRequestSerializer, request.data)
        source = None
        if "source" in data:
            source = sources_visible_to(request.user).filter(pk=data["source"]).first()
            if source is None:
                raise WorkflowError(Code.INVALID, "invalid source", errors={"source": [f"no source {data['source']}"]})
        user = None
        if "user" in data:
            user = User.objects.filter(pk=data["user"]).first()
            if user is None:
                raise WorkflowError(Code.INVALID, "invalid user", errors={"user": [f"no user {data['user']}"]})
        report = services.agreement_report_request(by=request.user, scope=data["scope"], source=source, user=user)
        return Response(s.AgreementReportSerializer(report).data, status=status.HTTP_202_ACCEPTED)
