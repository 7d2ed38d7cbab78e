"""Release routes, included under /api/releases/."""

from django.urls import include, path

from base.routers import Router

from . import api

router = Router()
router.register("versions", api.DatasetVersionViewSet, basename="dataset-version")
router.register("exports", api.ExportViewSet, basename="export")

urlpatterns = [path("", include(router.urls))]
