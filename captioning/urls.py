"""Captioning routes, included under /api/captioning/."""

from django.urls import include, path

from base.routers import Router

from . import api

router = Router()
router.register("jobs", api.CaptionJobViewSet, basename="caption-job")
router.register("drafts", api.CaptionDraftViewSet, basename="caption-draft")

urlpatterns = [path("", include(router.urls))]
