from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/", include("config.api_urls")),
    # The review pages' language switch (anonymous visitors) and their JavaScript translations.
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("", include("annotation.web.urls")),
]

# Under /api/, a missing route and a server error answer in the API's error shape (base/api_errors.py);
# elsewhere the review pages' 403 and 404 pages speak the person's language.
handler400 = "base.api_errors.bad_request"
handler403 = "base.api_errors.permission_denied"
handler404 = "base.api_errors.page_not_found"
handler500 = "base.api_errors.server_error"
