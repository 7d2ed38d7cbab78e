"""Click segmentation routes, included under /api/annotation/segment/ (the review pages call them)."""

from django.urls import path

from . import api

urlpatterns = [
    path("", api.SegmentView.as_view(), name="annotation-segment"),
    path("backends/", api.SegmentBackendsView.as_view(), name="annotation-segment-backends"),
]
