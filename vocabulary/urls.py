"""Vocabulary routes, included under /api/vocabulary/."""

urlpatterns: list = []
