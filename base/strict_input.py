"""Request bodies refuse keys they do not know, naming each one and the keys they accept.

DRF drops undeclared keys without a word, so a misspelled filter (`{"sourse": 3}` to claim-next)
claimed from the whole queue and a misspelled export option fell back to its default. Every input
serializer of the API derives from `InputSerializer` (or mixes in `RefuseUnknownKeys` when it is a
ModelSerializer), and so does every serializer nested in one: an unknown key inside is named with
its path ("clicks[1].positve") by base/api_errors.py.

An action that takes no body at all (renew-lease, publish, cancel, resume...) is declared with
`takes_no_body`, and refuses a body with keys by the same rule: `{"force": true}` is never ignored.
"""

import functools
from collections.abc import Iterable, Mapping

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import extend_schema
from rest_framework import serializers

NO_BODY = "this action takes no request body"


def unknown_key_errors(data: Mapping, *, accepted: Iterable[str], tolerated: Iterable[str] = ()) -> dict[str, list]:
    """{key: [message]} for each key of `data` that is neither accepted nor tolerated; the message
    lists the accepted keys in their order (or says that none is, for an action taking no body)."""
    accepted = list(accepted)
    known = set(accepted) | set(tolerated)
    message = "unknown field; " + ("expected one of: " + ", ".join(accepted) if accepted else NO_BODY)
    return {str(key): [message] for key in data if key not in known}


class RefuseUnknownKeys:
    """For a Serializer: a key it does not declare is a 400 under that key, beside the other bad fields.

    A declared read-only field is tolerated (a client may send an object back as it read it) but not
    listed as accepted."""

    def to_internal_value(self, data):
        unknown = {}
        if isinstance(data, Mapping):  # anything else is refused by DRF as "expected a dictionary"
            writable = [name for name, field in self.fields.items() if not field.read_only]
            read_only = [name for name, field in self.fields.items() if field.read_only]
            unknown = unknown_key_errors(data, accepted=writable, tolerated=read_only)
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as error:
            if unknown and isinstance(error.detail, dict):
                raise serializers.ValidationError({**error.detail, **unknown}) from None
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


class InputSerializer(RefuseUnknownKeys, serializers.Serializer):
    """The base of the API's request bodies."""


def refuse_a_body(data) -> None:
    """A 400 unless `data` (a parsed request body) is nothing: no body, `{}` or JSON `null`. Each key
    sent is named; a body that is no object at all (`[...]`, `"x"`) is refused as a whole."""
    if data is None or (isinstance(data, Mapping) and not data):
        return
    if isinstance(data, Mapping):
        raise serializers.ValidationError(unknown_key_errors(data, accepted=()))
    raise serializers.ValidationError(NO_BODY)


def takes_no_body(handler):
    """Declares a view method or action that reads no request body: the schema has no requestBody,
    and a body with anything in it is refused before the handler runs (nothing looked up or changed).

    Put it above `@action`, which replaces what the decorators below it declare."""

    @functools.wraps(handler)
    def refusing_a_body(view, request, *args, **kwargs):
        refuse_a_body(request.data)
        return handler(view, request, *args, **kwargs)

    return extend_schema(request=None)(refusing_a_body)


class RefuseUnknownKeysSchema(OpenApiSerializerExtension):
    """The schema says so too: a request body of such a serializer has `additionalProperties: false`,
    so clients generated from /api/schema/ (and schemathesis) know the rule."""

    target_class = RefuseUnknownKeys
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction == "request":
            schema["additionalProperties"] = False
        return schema
