"""Every API route answers a refusal in one shape, {"code", "detail", "errors"}, never a server
error: a non-integer id, a NUL character in a query string or a JSON body, invalid input, a
missing object, a missing permission. The routes come from the URL conf."""

import pytest
from django.urls import reverse

from accounts.roles import Role

from ..url_routes import url_routes

pytestmark = pytest.mark.django_db

SHAPE = {"code", "detail", "errors"}


def _api_routes():
    for route, name, _view, kwargs, actions in url_routes():
        if route.startswith("api/") and not route.startswith(("api/schema", "api/docs")):
            yield route, name, kwargs, actions


def _assert_shape(response, status: int, code: str | None = None):
    assert response.status_code == status, (response.request["PATH_INFO"], response.status_code, response.content[:300])
    body = response.json()
    assert set(body) >= SHAPE, body
    assert isinstance(body["detail"], str) and isinstance(body["errors"], dict)
    if code:
        assert body["code"] == code, body


def test_a_non_integer_id_is_a_404_on_every_route_that_takes_one(client_for):
    api = client_for(Role.ADMIN)
    tried = 0
    for _route, name, kwargs, actions in _api_routes():
        numeric = [k for k in kwargs if k in ("pk", "sample", "number")]
        if not numeric:
            continue
        values = {
            k: 987654 if k in numeric else {"kind": "original", "stage": "annotation"}.get(k, "x") for k in kwargs
        }
        url = reverse(name, kwargs=values).replace("987654", "abc")
        method = "get" if not actions or "get" in actions else "post"
        _assert_shape(getattr(api, method)(url, {}, format="json"), 404, "not_found")
        tried += 1
    assert tried >= 20


def test_a_nul_character_in_a_query_string_is_a_400_on_every_list_route(client_for):
    api = client_for(Role.ADMIN)
    tried = 0
    for _route, name, kwargs, actions in _api_routes():
        if kwargs or (actions and "get" not in actions):
            continue
        for query in ("source=%00", "q=a%00b", "state=%00&sample=1", "%00=1"):
            _assert_shape(api.get(reverse(name) + "?" + query), 400, "invalid")
        tried += 1
    assert tried >= 15


def test_a_nul_character_anywhere_in_a_json_body_is_a_400(client_for):
    api = client_for(Role.ADMIN)
    response = api.post(
        "/api/releases/versions/", {"title": "v", "selection": {"domains": ["metal\x00"]}}, format="json"
    )
    _assert_shape(response, 400, "invalid")
    assert "selection.domains[0]" in response.json()["detail"]


def test_invalid_input_names_each_field(client_for):
    response = client_for(Role.DATA_MANAGER).post("/api/releases/versions/", {"publish": "maybe"}, format="json")
    _assert_shape(response, 400, "invalid")
    assert set(response.json()["errors"]) == {"title", "publish"}


def test_a_refusal_by_a_service_has_the_same_shape(client_for):
    response = client_for(Role.DATA_MANAGER).post(
        "/api/releases/versions/", {"title": "v", "selection": {"colour": ["red"]}}, format="json"
    )
    _assert_shape(response, 400, "invalid")
    assert "colour" in response.json()["detail"]


def test_missing_permission_and_missing_sign_in_have_the_same_shape(client_for):
    from rest_framework.test import APIClient

    _assert_shape(client_for(Role.ANNOTATOR).post("/api/releases/versions/", {"title": "x"}), 403, "permission_denied")
    _assert_shape(APIClient().get("/api/samples/"), 403, "not_authenticated")


def test_an_unknown_api_route_is_a_404_in_the_same_shape(client_for):
    _assert_shape(client_for(Role.ANNOTATOR).get("/api/no-such-thing/"), 404, "not_found")


@pytest.mark.parametrize(
    "path", ["/api/samples/", "/api/no-such-thing/", "/api/annotation/queue/annotation/claim-next/"]
)
def test_a_host_this_server_does_not_serve_is_a_400_in_the_same_shape_under_api(client_for, path):
    client = client_for(Role.ANNOTATOR)
    _assert_shape(client.get(path, HTTP_HOST="intranet.example"), 400, "bad_request")
    _assert_shape(
        client.post(path, {}, content_type="application/json", HTTP_HOST="intranet.example"), 400, "bad_request"
    )


def test_a_host_this_server_does_not_serve_is_django_s_page_outside_api(client_for):
    response = client_for(Role.ANNOTATOR).get("/review/", HTTP_HOST="intranet.example")
    assert response.status_code == 400 and response["Content-Type"].startswith("text/html")


def test_a_body_over_the_upload_limit_is_a_400_in_the_same_shape(client_for, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = client_for(Role.ANNOTATOR).post(
        "/api/annotation/queue/annotation/claim-next/", {"source": "a" * 500}, content_type="application/json"
    )
    _assert_shape(response, 400, "bad_request")
