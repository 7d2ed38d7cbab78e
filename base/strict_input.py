"""Request bodies refuse keys they do not know, naming each one and the keys they accept.

DRF drops undeclared keys without a word, so a misspelled filter (`{"sourse": 3}` to claim-next)
claimed from the whole queue and a misspelled export option fell back to its default. Every input
serializer of the API derives from `InputSerializer` (or mixes in `RefuseUnknownKeys` when it is a
ModelSerializer), and so does every serializer nested in one: an unknown key inside is named with
its path ("clicks[1].positve") by base/api_errors.py.
"""

from collections.abc import Iterable, Mapping

from drf_spectacular.extensions import OpenApiSerializerExtension
from rest_framework import serializers


def unknown_key_errors(data: Mapping, *, accepted: Iterable[str], tolerated: Iterable[str] = ()) -> dict[str, list]:
    """{key: [message]} for each key of `data` that is neither accepted nor tolerated; the message
    lists the accepted keys in their order."""
    accepted = list(accepted)
    known = set(accepted) | set(tolerated)
    message = "unknown field; expected one of: " + ", ".join(accepted)
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
