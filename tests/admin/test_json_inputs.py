"""JSON in admin forms and pages: pretty-printed inputs that keep what was typed, stored values
shown as readable tables rather than one raw line."""

import json

from django import forms

from base.admin_json import SHORT_TEXT, PrettyJSONWidget, json_help, json_readable


class PlanForm(forms.Form):
    plan = forms.JSONField(widget=PrettyJSONWidget())


def test_a_stored_value_is_shown_pretty_printed():
    form = PlanForm(initial={"plan": {"train": 0.8, "held_out_domains": ["金属"]}})

    html = str(form["plan"])

    assert "{\n  &quot;train&quot;: 0.8," in html
    assert "金属" in html  # not \\u escapes


def test_input_that_does_not_parse_comes_back_as_typed():
    typed = '{"train": 0.8,\n "val": '
    form = PlanForm(data={"plan": typed})

    assert not form.is_valid()
    assert "Enter a valid JSON" in form.errors["plan"][0]
    assert json.dumps(typed)[1:-1].replace('\\"', "&quot;").replace("\\n", "\n") in str(form["plan"])


def test_help_names_the_keys_and_shows_an_example():
    text = json_help({"limit": "at most this many <samples>"}, {"limit": 5})

    assert "<code>limit</code>: at most this many &lt;samples&gt;" in text
    assert "<pre>{\n  &quot;limit&quot;: 5\n}</pre>" in text


def test_a_readable_value_is_a_table_with_long_text_cut_and_escaped():
    value = {"caption": "<b>" + "x" * 500, "terms": [3, 4], "nested": {"a": {"deep": [1, {"b": 2}]}}}

    html = json_readable(value)

    assert html.count("<tr>") == 4  # three keys, and one inside "nested"
    assert "&lt;b&gt;" in html and "<b>x" not in html
    assert f"… ({len(value['caption'])} characters)" in html
    assert "x" * (SHORT_TEXT + 1) not in html.split('title="')[0]
    assert "3, 4" in html
    assert json_readable(None).endswith("—</span>")
