"""The API's router: DRF's DefaultRouter, with integer ids matched as integers.

DRF's default lookup pattern takes any text, so `/annotations/abc/` reached views that fed "abc"
to an integer query and failed with a server error. Here a viewset looked up by its primary key
matches only digits, and anything else is a plain 404 from the URL resolver."""

from rest_framework.routers import DefaultRouter


class Router(DefaultRouter):
    def get_lookup_regex(self, viewset, lookup_prefix=""):
        if getattr(viewset, "lookup_value_regex", None) is None and getattr(viewset, "lookup_field", "pk") in (
            "pk",
            "id",
        ):
            lookup_url_kwarg = getattr(viewset, "lookup_url_kwarg", None) or "pk"
            return f"(?P<{lookup_prefix}{lookup_url_kwarg}>[0-9]+)"
        return super().get_lookup_regex(viewset, lookup_prefix)
