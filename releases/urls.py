"""Release routes, included under /api/releases/."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from . import api

router = DefaultRouter()
router.register("versions", api.DatasetVersionViewSet, basename="dataset-version")
router.register("exports", api.ExportViewSet, basename="export")

urlpatterns = [path("", include(router.urls))]
