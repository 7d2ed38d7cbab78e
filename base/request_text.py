"""Text a request may carry. A NUL character is valid JSON and a valid URL escape (%00), but
PostgreSQL refuses it in text and JSONB, so it surfaced as a server error deep inside a query.
It is refused at the door instead, naming where it was, before any view runs."""

from django.http import JsonResponse
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import JSONParser


def _nul_path(value, path: str = "") -> str | None:
    """The path of the first string (or key) holding a NUL character, or None."""
    if isinstance(value, str):
        return (path or "body") if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                return where
            found = _nul_path(item, where)
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_path(item, f"{path}[{index}]")
            if found:
                return found
    return None


class JSONWithoutNulParser(JSONParser):
    """DRF's JSON parser, refusing a body with a NUL character in any string (a 400)."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        where = _nul_path(data)
        if where:
            raise ValidationError({where: ["holds a NUL character"]})
        return data


class RefuseNulInQueryStringMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        for name, values in request.GET.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                field = name.replace("\x00", "\\0")
                return JsonResponse(
                    {
                        "code": "invalid",
                        "detail": f"{field} holds a NUL character",
                        "errors": {field: ["a NUL character"]},
                    },
                    status=400,
                )
        return self.get_response(request)
