"""The review pages, at the site root (the admin and the API keep /admin/ and /api/)."""

from django.contrib.auth import views as auth_views
from django.urls import path

import base.ids  # noqa: F401  (registers the `id` path converter)

from . import views

app_name = "review"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("language/", views.language, name="language"),
    path("next/<str:stage>/", views.claim_next, name="next"),
    path("work/<id:sample_id>/", views.work, name="work"),
    path("samples/", views.samples, name="samples"),
    path("dashboards/", views.dashboards, name="dashboards"),
]
