"""JSON inputs in admin forms a person can use: a monospace textarea that shows the value
pretty-printed, help text with the keys and an example, and invalid input kept as typed (Django's
JSONField already hands it back; this widget only refuses to re-format what does not parse)."""

import json

from django import forms
from django.forms.fields import InvalidJSONInput
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe


class PrettyJSONWidget(forms.Textarea):
    def __init__(self, attrs=None):
        defaults = {"rows": 8, "cols": 70, "spellcheck": "false", "style": "font-family:monospace"}
        super().__init__({**defaults, **(attrs or {})})

    def format_value(self, value):
        if value is None or isinstance(value, InvalidJSONInput):
            return super().format_value(value)
        try:
            parsed = json.loads(value)
        except (TypeError, ValueError):
            return super().format_value(value)  # what the person typed, as typed
        return json.dumps(parsed, indent=2, ensure_ascii=False)


def json_help(keys: dict[str, str], example) -> str:
    """Help text naming each key and showing an example (the admin renders help text as HTML)."""
    rows = format_html_join("", "<li><code>{}</code>: {}</li>", keys.items())
    return format_html(
        "A JSON object. Keys:<ul>{}</ul>Example:<pre>{}</pre>",
        rows,
        json.dumps(example, indent=2, ensure_ascii=False),
    )


SHORT_TEXT = 160  # characters of one value shown in a table cell; the whole value is in its tooltip


def json_readable(value, *, depth: int = 0) -> str:
    """A stored JSON value as HTML a person can read in a table cell: objects as small key/value
    tables, lists of plain values as one line, long text cut (with the whole of it as a tooltip)
    and wrapped, never one line running off the screen."""
    if value is None or value == "" or value == [] or value == {}:
        return mark_safe('<span class="quiet">—</span>')
    if isinstance(value, dict) and depth < 2:
        rows = format_html_join(
            "",
            '<tr><th style="padding:1px 6px 1px 0">{}</th><td style="padding:1px 0">{}</td></tr>',
            ((key, json_readable(item, depth=depth + 1)) for key, item in value.items()),
        )
        return format_html('<table class="json-value" style="margin:0;border:0">{}</table>', rows)
    if isinstance(value, list) and depth < 2 and all(not isinstance(item, dict | list) for item in value):
        return _short(", ".join(str(item) for item in value))
    if isinstance(value, str):
        return _short(value)
    if isinstance(value, dict | list):
        return _short(json.dumps(value, ensure_ascii=False))
    return _short(str(value))


def _short(text: str) -> str:
    if len(text) <= SHORT_TEXT:
        return format_html('<span style="overflow-wrap:anywhere">{}</span>', text)
    return format_html(
        '<span style="overflow-wrap:anywhere" title="{}">{} … ({} characters)</span>',
        text,
        text[:SHORT_TEXT],
        len(text),
    )
