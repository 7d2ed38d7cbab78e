"""A JSON body with a key the endpoint does not know is refused with a 400 naming the key and listing
the accepted ones, never silently dropped (a misspelled filter would otherwise widen a claim, a
misspelled export option fall back to its default). An action that takes no body (renew-lease,
publish, cancel, resume...) refuses one with keys the same way: a client sending `{"force": true}`
must not believe it was read. The endpoints and their accepted keys come from the API's own schema
(generated from the URL conf), so a new endpoint is covered when it is added."""

import re
from functools import cache

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework import serializers

from accounts.roles import Role
from base.api_errors import error_body
from base.strict_input import InputSerializer

pytestmark = pytest.mark.django_db

UNKNOWN = "zz_not_a_field"
NO_BODY = ["unknown field; this action takes no request body"]
# Path parameters: the views parse their body before they look anything up, so any id will do.
PATH_VALUES = {"stage": "annotation"}


def _placeholder(schema: dict):
    """A value of the property's type: the body only has to look valid, the unknown key is the point."""
    if "enum" in schema:
        return schema["enum"][0]
    return {"integer": 1, "number": 0.5, "boolean": False, "array": [], "object": {}}.get(schema.get("type"), "x")


@cache
def _schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def _url(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda match: str(PATH_VALUES.get(match.group(1), 1)), path)


def _json_write_operations():
    """(path, the request's writable properties, a body of its required ones) per JSON POST route."""
    schema = _schema()
    components = schema["components"]["schemas"]
    for path, operations in schema["paths"].items():
        body = operations.get("post", {}).get("requestBody")
        if body is None or "application/json" not in body["content"]:
            continue
        reference = body["content"]["application/json"]["schema"].get("$ref", "")
        request = components.get(reference.rsplit("/", 1)[-1])
        if request is None or "properties" not in request:
            continue
        properties = {name: prop for name, prop in request["properties"].items() if not prop.get("readOnly")}
        required = {name: _placeholder(properties[name]) for name in request.get("required", ()) if name in properties}
        yield _url(path), list(properties), required


def _bodyless_write_operations():
    """(method, url) per write route whose schema declares no request body."""
    for path, operations in _schema()["paths"].items():
        for method in ("post", "put", "patch"):
            if method in operations and "requestBody" not in operations[method]:
                yield method, _url(path)


def test_every_json_write_endpoint_refuses_an_unknown_key_and_names_the_accepted_ones(client_for):
    api = client_for(Role.ADMIN)
    wrong, tried = [], 0
    for url, accepted, body in _json_write_operations():
        response = api.post(url, {**body, UNKNOWN: 1}, format="json")
        tried += 1
        expected = [f"unknown field; expected one of: {', '.join(accepted)}"]
        errors = response.json().get("errors", {}) if response.status_code == 400 else {}
        if response.status_code != 400 or errors.get(UNKNOWN) != expected:
            wrong.append(f"POST {url}: {response.status_code} {response.content[:300]!r}; expected {expected}")
    assert not wrong, "\n".join(wrong)
    assert tried >= 25, tried  # the workflow's actions, queues, versions, exports, jobs, vocabulary, segment


def test_every_write_endpoint_without_a_body_refuses_keys_and_names_each_one(client_for):
    api = client_for(Role.ADMIN)
    wrong, tried = [], 0
    for method, url in _bodyless_write_operations():
        response = getattr(api, method)(url, {UNKNOWN: 1, "force": True}, format="json")
        tried += 1
        errors = response.json().get("errors", {}) if response.status_code == 400 else {}
        if response.status_code != 400 or errors != {UNKNOWN: NO_BODY, "force": NO_BODY}:
            wrong.append(f"{method.upper()} {url}: {response.status_code} {response.content[:300]!r}")
    assert not wrong, "declare these actions with base.strict_input.takes_no_body:\n" + "\n".join(wrong)
    assert tried >= 13, tried  # renew-lease, publish, approve, the jobs' cancel, resume and retry-failed


def test_an_empty_body_or_none_is_fine_where_an_action_takes_no_body(client_for):
    api = client_for(Role.ADMIN)
    refused = []
    for method, url in _bodyless_write_operations():
        for sent in ({"data": {}, "format": "json"}, {}):
            response = getattr(api, method)(url, **sent)
            if response.status_code == 400:  # the placeholder ids name nothing: 404 is the answer
                refused.append(f"{method.upper()} {url} {sent}: {response.content[:300]!r}")
    assert not refused, "\n".join(refused)


@pytest.mark.parametrize(
    ("body", "content_type", "errors", "detail"),
    [
        ("force=1", "application/x-www-form-urlencoded", {"force": NO_BODY}, "invalid force"),
        ('[{"force": true}]', "application/json", {}, "this action takes no request body"),
        ('"force"', "application/json", {}, "this action takes no request body"),
    ],
)
def test_a_body_of_any_kind_is_refused_where_an_action_takes_none(client_for, body, content_type, errors, detail):
    response = client_for(Role.ADMIN).generic(
        "POST", "/api/vocabulary/terms/no-such-term/approve/", body, content_type=content_type
    )

    assert response.status_code == 400, response.content
    assert response.json() == {"code": "invalid", "detail": detail, "errors": errors}


def test_a_nested_unknown_key_is_named_with_its_path():
    class Click(InputSerializer):
        x = serializers.IntegerField()

    class Prompt(InputSerializer):
        clicks = Click(many=True)
        first = Click()

    params = Prompt(data={"clicks": [{"x": 1}, {"x": 2, "positve": True}], "first": {"x": 1, "y": 2}})

    assert not params.is_valid()
    body = error_body(serializers.ValidationError(params.errors))
    assert body["errors"] == {
        "clicks[1].positve": ["unknown field; expected one of: x"],
        "first.y": ["unknown field; expected one of: x"],
    }


def test_a_read_only_field_sent_back_is_tolerated(client_for):
    """A client may send back an object as it read it: the queue order with its `updated_at`."""
    response = client_for(Role.DATA_MANAGER).post(
        "/api/annotation/queue-order/", {"stage": "review", "order": "age", "updated_at": None}, format="json"
    )

    assert response.status_code == 200, response.content


def test_unknown_keys_are_named_beside_the_other_bad_fields(client_for):
    response = client_for(Role.DATA_MANAGER).post(
        "/api/releases/versions/", {"titel": "v", "publish": "maybe"}, format="json"
    )

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"title", "publish", "titel"}
