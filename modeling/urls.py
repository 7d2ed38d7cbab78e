"""Modeling routes, included under /api/modeling/."""

from django.urls import include, path

from base.routers import Router

from . import api, api_embeddings

router = Router()
router.register("preannotation-jobs", api.PreannotationJobViewSet, basename="preannotation-job")
router.register("embedding-jobs", api_embeddings.EmbeddingJobViewSet, basename="embedding-job")

urlpatterns = [path("", include(router.urls))]
