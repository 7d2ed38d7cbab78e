"""Ids as the database stores them: at most a signed 64-bit integer.

An id of 30 digits is valid text and a valid Python int, but the database driver cannot bind it
(SQLite raises OverflowError, PostgreSQL "out of range"): it reached queries as a server error. URLs
match ids of at most 18 digits (the `id` converter, base/routers.Router), and request bodies read them
with `IdField`, so such an id is a 404 or a 400 like any other unknown one."""

from django.urls import register_converter
from rest_framework import serializers

MAX_ID = 2**63 - 1
ID_PATTERN = "[0-9]{1,18}"  # every 18-digit number fits in 63 bits
MAX_SMALL_NUMBER = 2**31 - 1  # versions, revision numbers, counts: PositiveIntegerField


class IdConverter:
    regex = ID_PATTERN

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value) -> str:
        return str(value)


register_converter(IdConverter, "id")


def IdField(**kwargs) -> serializers.IntegerField:  # noqa: N802 (used like a field class)
    """A row id in a request body."""
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


def NumberField(**kwargs) -> serializers.IntegerField:  # noqa: N802
    """A version or revision number in a request body."""
    kwargs.setdefault("min_value", 0)
    return serializers.IntegerField(max_value=MAX_SMALL_NUMBER, **kwargs)


def parse_id(text: str | None) -> int | None:
    """An id from a query string, or None when the text is missing or not one the database can hold."""
    if text is None or not text.isascii() or not text.isdigit() or len(text) > 18:
        return None
    return int(text)
