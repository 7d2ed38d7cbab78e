"""Annotation and workflow routes, included under /api/annotation/."""

from django.urls import include, path

import base.ids  # noqa: F401  (registers the `id` path converter)
from base.routers import Router

from .api import views

router = Router()
router.register("annotations", views.AnnotationViewSet, basename="annotation")
router.register("audit-events", views.AuditEventViewSet, basename="audit-event")
router.register("agreement-reports", views.AgreementReportViewSet, basename="agreement-report")

urlpatterns = [
    path("queue/<str:stage>/claim-next/", views.ClaimNextView.as_view(), name="annotation-claim-next"),
    path(
        "annotations/<id:sample>/revisions/<id:number>/",
        views.RevisionDetailView.as_view(),
        name="annotation-revision",
    ),
    path("enqueue/", views.EnqueueView.as_view(), name="annotation-enqueue"),
    path("assign/", views.AssignView.as_view(), name="annotation-assign"),
    path("priority/", views.PriorityView.as_view(), name="annotation-priority"),
    path("queue-order/", views.QueueOrderView.as_view(), name="annotation-queue-order"),
    path("", include(router.urls)),
]
