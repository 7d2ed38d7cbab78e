"""Every REST route, under /api/. Each app adds its routes here."""

from django.urls import include, path

import base.ids  # noqa: F401  (registers the `id` path converter)
from base.routers import Router
from catalog import api as catalog_api

app_name = "api"

router = Router()
router.register("sources", catalog_api.SourceViewSet, basename="source")
router.register("samples", catalog_api.SampleViewSet, basename="sample")
router.register("import-jobs", catalog_api.ImportJobViewSet, basename="import-job")

urlpatterns = [
    path("samples/<id:pk>/files/<str:kind>/", catalog_api.SampleFileView.as_view(), name="sample-file"),
    path("importers/", catalog_api.ImporterListView.as_view(), name="importer-list"),
    path("vocabulary/", include("vocabulary.urls")),
    path("annotation/segment/", include("segmentation.urls")),
    path("annotation/", include("annotation.urls")),
    path("captioning/", include("captioning.urls")),
    path("releases/", include("releases.urls")),
    path("modeling/", include("modeling.urls")),
    path("", include(router.urls)),
]
