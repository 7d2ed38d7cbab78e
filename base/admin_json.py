"""JSON inputs in admin forms a person can use: a monospace textarea that shows the value
pretty-printed, help text with the keys and an example, and invalid input kept as typed (Django's
JSONField already hands it back; this widget only refuses to re-format what does not parse)."""

import json

from django import forms
from django.forms.fields import InvalidJSONInput
from django.utils.html import format_html, format_html_join


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
