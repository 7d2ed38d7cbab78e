"""One error shape for every API route: `{"code": ..., "detail": ..., "errors": {...}}`.

`code` is one word a client can switch on (and the review pages translate): "invalid",
"not_found", "permission_denied", "not_authenticated", a workflow's "stale_version", ...;
`detail` is one sentence for a person; `errors` maps each bad field (a path such as
"regions[0].mask_rle") to its messages, and is empty when no field is to blame.

Services raise `ApiError` (or a subclass such as annotation's WorkflowError) or DRF's exceptions;
`api_exception_handler`, installed as DRF's EXCEPTION_HANDLER, writes them all in this shape.
"""

from contextlib import nullcontext

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from django.utils import translation
from django.views import defaults
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class ApiError(Exception):
    """A refused request: a code, its HTTP status, a sentence, and the fields to blame."""

    def __init__(self, code: str, http_status: int, detail: str, *, errors: dict[str, list[str]] | None = None):
        super().__init__(detail)
        self.code = code
        self.http_status = http_status
        self.detail = detail
        self.errors = errors or {}
        self.extra: dict = {}  # more for the client, e.g. the current state with a 409

    def as_json(self) -> dict:
        return {"code": self.code, "detail": self.detail, "errors": self.errors, **self.extra}


def _messages(value) -> list[str]:
    if isinstance(value, list | tuple):
        return [message for item in value for message in _messages(item)]
    if isinstance(value, dict):
        return [f"{key}: {message}" for key, item in value.items() for message in _messages(item)]
    return [str(value)]


def _field_errors(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested validation detail as flat field paths: {"selection.sources": [...]}."""
    if isinstance(detail, dict):
        errors: dict[str, list[str]] = {}
        for key, value in detail.items():
            if isinstance(key, int):  # an item of a list: "sample_ids[1]"
                path = f"{prefix}[{key}]"
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, dict):
                errors.update(_field_errors(value, path))
            elif isinstance(value, list) and any(isinstance(item, dict) for item in value):
                # A nested serializer with many=True reports one entry per item, {} for a good one.
                errors.update(_field_errors(dict(enumerate(value)), path))
            else:
                errors[path] = _messages(value)
        return errors
    return {prefix or "detail": _messages(detail)}


def error_body(exc: exceptions.APIException) -> dict:
    if isinstance(exc, exceptions.ValidationError):
        errors = _field_errors(exc.detail)
        general = errors.pop("detail", []) + errors.pop("non_field_errors", [])
        if general:
            detail = " ".join(general)
        else:
            detail = "invalid " + ", ".join(errors) if errors else "invalid request"
        return {"code": "invalid", "detail": detail, "errors": errors}
    return {"code": exc.default_code, "detail": " ".join(_messages(exc.detail)), "errors": {}}


def api_exception_handler(exc, context):
    if isinstance(exc, ApiError):
        # A conflict carries the current state, so the client can show it without another request.
        describe = getattr(context.get("view"), "conflict_state", None)
        if exc.http_status == 409 and describe is not None and "current" not in exc.extra:
            current = describe(context["request"], context.get("kwargs", {}))
            if current is not None:
                exc.extra["current"] = current
        return Response(exc.as_json(), status=exc.http_status)
    # Django's own exceptions get DRF's status codes (404, 403) before their body is rewritten.
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "not found")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # not an API error: a server error, which Django reports
    response.data = error_body(exc)
    return response


class ApiErrorSerializer(serializers.Serializer):
    """The error shape, for the API schema."""

    code = serializers.CharField()
    detail = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def _in_user_language(request):
    """The review pages speak the signed-in person's language (User.preferred_language), whatever
    the browser asks for; so do their 403 and 404 pages, rendered after the view has returned."""
    language = getattr(getattr(request, "user", None), "preferred_language", "")
    if language in dict(settings.LANGUAGES):
        return translation.override(language)
    return nullcontext()


def bad_request(request, exception):
    """A request Django refuses before any view (a Host header this server does not serve, a body over
    DATA_UPLOAD_MAX_MEMORY_SIZE): under /api/ in the API's error shape, elsewhere Django's 400 page.
    The exception's text is logged by Django's security logger, not returned: it names settings."""
    if _is_api(request):
        detail = "the request was refused before it reached the API (an unserved Host header or an oversized body)"
        return JsonResponse({"code": "bad_request", "detail": detail, "errors": {}}, status=400)
    return defaults.bad_request(request, exception)


def page_not_found(request, exception):
    """A URL that matches no route: under /api/ in the API's error shape, elsewhere the 404.html page."""
    if _is_api(request):
        return JsonResponse({"code": "not_found", "detail": f"no such route: {request.path}", "errors": {}}, status=404)
    with _in_user_language(request):
        return defaults.page_not_found(request, exception)


def permission_denied(request, exception):
    """A page the person's role may not open (DRF answers its own 403s under /api/): the 403.html page."""
    with _in_user_language(request):
        return defaults.permission_denied(request, exception)


def server_error(request):
    """An unexpected error: under /api/ in the API's error shape (never a traceback), elsewhere Django's page."""
    if _is_api(request):
        detail = "the server failed on this request; it is logged for the operators"
        return JsonResponse({"code": "server_error", "detail": detail, "errors": {}}, status=500)
    return defaults.server_error(request)
