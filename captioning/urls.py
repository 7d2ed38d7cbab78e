"""Captioning routes, included under /api/captioning/."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from . import api

router = DefaultRouter()
router.register("jobs", api.CaptionJobViewSet, basename="caption-job")
router.register("drafts", api.CaptionDraftViewSet, basename="caption-draft")

urlpatterns = [path("", include(router.urls))]
