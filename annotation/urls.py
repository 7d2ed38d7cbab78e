"""Annotation and workflow routes, included under /api/annotation/."""

urlpatterns: list = []
