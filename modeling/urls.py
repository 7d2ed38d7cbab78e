"""Modeling routes, included under /api/modeling/."""

from django.urls import include, path

from base.routers import Router

from . import api

router = Router()
router.register("preannotation-jobs", api.PreannotationJobViewSet, basename="preannotation-job")

urlpatterns = [path("", include(router.urls))]
