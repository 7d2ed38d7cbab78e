"""The API's router: DRF's DefaultRouter, with integer ids matched as integers.

DRF's default lookup pattern takes any text, so `/annotations/abc/` reached views that fed "abc"
to an integer query and failed with a server error. Here a viewset looked up by its primary key
matches only an id the database can hold (base/ids.py), and anything else is a plain 404."""

from rest_framework.routers import DefaultRouter

from .ids import ID_PATTERN


class Router(DefaultRouter):
    def get_lookup_regex(self, viewset, lookup_prefix=""):
        if getattr(viewset, "lookup_value_regex", None) is None and getattr(viewset, "lookup_field", "pk") in (
            "pk",
            "id",
        ):
            lookup_url_kwarg = getattr(viewset, "lookup_url_kwarg", None) or "pk"
            return f"(?P<{lookup_prefix}{lookup_url_kwarg}>{ID_PATTERN})"
        return super().get_lookup_regex(viewset, lookup_prefix)
