"""Fill an admin page's form the way a hurried person would: from what the page itself rendered, so
a new model or a new field is covered without a line here."""

import json

from django import forms

# Text every free-text field gets, so a re-rendered page can be searched for the input it kept.
TYPED = "kept-input-7Qx"
UNKNOWN_ID = "987654321"
BROKEN_JSON = '{"sources": [1, 2'
# Parses, but no JSON input of the platform knows this key: the form's own rules must refuse it.
UNKNOWN_KEY_JSON = '{"no_such_key_7Qx": 1}'


# Field kinds whose plausible value is always the same; subclasses before their bases (EmailField is a CharField).
_FIXED_PLAUSIBLE = (
    (forms.BooleanField, "on"),
    (forms.IntegerField | forms.FloatField | forms.DecimalField, "1"),
    (forms.SplitDateTimeField, ["2026-01-02", "03:04:05"]),
    (forms.DateTimeField, "2026-01-02 03:04:05"),
    (forms.EmailField, "someone@example.org"),
    (forms.URLField, "https://example.org/"),
)


def _plausible(field: forms.Field, bound_value):
    """A value that passes the field's own checks (or the value the page showed)."""
    if isinstance(field, forms.ModelMultipleChoiceField):
        first = field.queryset.first()
        return [str(first.pk)] if first is not None else []
    if isinstance(field, forms.ModelChoiceField):
        first = field.queryset.first()
        return str(first.pk) if first is not None else ""
    if isinstance(field, forms.MultipleChoiceField):
        return [str(field.choices[0][0])] if field.choices else []
    if isinstance(field, forms.ChoiceField):
        values = [str(value) for value, _ in field.choices if value not in ("", None)]
        return values[0] if values else ""
    if isinstance(field, forms.JSONField):
        return json.dumps(bound_value) if bound_value not in (None, "") else "{}"
    for kind, value in _FIXED_PLAUSIBLE:
        if isinstance(field, kind):
            return value
    if isinstance(field, forms.CharField):
        return "" if isinstance(field.widget, forms.PasswordInput) else f"{TYPED}"
    return "" if bound_value is None else bound_value


def _invalid(field: forms.Field):
    """A value a person could type that the field must refuse, or None when the field has none."""
    if isinstance(field, forms.JSONField):
        return BROKEN_JSON
    if isinstance(field, forms.ModelMultipleChoiceField):
        return [UNKNOWN_ID]
    if isinstance(field, forms.ModelChoiceField):
        return UNKNOWN_ID
    if isinstance(field, forms.ChoiceField) and not isinstance(
        field, forms.TypedChoiceField | forms.MultipleChoiceField
    ):
        return "not-a-choice"
    if isinstance(field, forms.IntegerField):
        return "twelve"
    return None


def form_of(response) -> forms.BaseForm | None:
    """The form an admin page rendered: a ModelAdmin's change form, or a custom view's `form`."""
    context = response.context
    if context is None:
        return None
    if "adminform" in context:
        return context["adminform"].form
    return context.get("form")


def json_fields(response) -> list[str]:
    form = form_of(response)
    return [name for name, field in form.fields.items() if isinstance(field, forms.JSONField) and not field.disabled]


def form_data(response, *, break_fields: bool) -> tuple[dict, list[str]]:
    """POST data for the admin add/change page in `response`: every editable field with a plausible
    value, and when `break_fields`, every field that can be wrong made wrong. Returns the data and
    the names of the fields made wrong."""
    form = form_of(response)
    data, broken = {}, []
    for name, field in form.fields.items():
        if field.disabled:
            continue
        bound = form[name]
        value = _plausible(field, bound.value())
        if break_fields and (wrong := _invalid(field)) is not None:
            value = wrong
            broken.append(name)
        if isinstance(value, list):
            data[name] = value
        elif value is not None:
            data[name] = value
    for inline in response.context.get("inline_admin_formsets") or []:
        management = inline.formset.management_form
        prefix = inline.formset.prefix
        data[f"{prefix}-TOTAL_FORMS"] = management["INITIAL_FORMS"].value() or 0
        data[f"{prefix}-INITIAL_FORMS"] = management["INITIAL_FORMS"].value() or 0
        data[f"{prefix}-MIN_NUM_FORMS"] = 0
        data[f"{prefix}-MAX_NUM_FORMS"] = 1000
        for index, inline_form in enumerate(inline.formset.initial_forms):
            for name in inline_form.fields:
                value = inline_form[name].value()
                if value is not None:
                    data[f"{prefix}-{index}-{name}"] = value
    return data, broken
