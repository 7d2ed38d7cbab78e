"""Vocabulary routes, included under /api/vocabulary/."""

from django.urls import include, path

from base.routers import Router

from . import api

router = Router()
router.register("terms", api.TermViewSet, basename="term")
router.register("versions", api.VersionViewSet, basename="vocabulary-version")

urlpatterns = [
    path("autocomplete/", api.AutocompleteView.as_view(), name="vocabulary-autocomplete"),
    path("normalize/", api.NormalizeView.as_view(), name="vocabulary-normalize"),
    path("validate-captions/", api.ValidateCaptionsView.as_view(), name="vocabulary-validate-captions"),
    path("", include(router.urls)),
]
