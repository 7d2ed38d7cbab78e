import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from accounts.roles import Role
from catalog.models import Sample, Source

from ..prebuilt import snapshot_restore
from .helpers import run_import

pytestmark = pytest.mark.django_db


def api_routes(resolver=None, prefix=""):
    """Every URL pattern under /api/, with its path converters filled in."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        pattern = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from api_routes(entry, pattern)
        elif isinstance(entry, URLPattern) and pattern.startswith("api/"):
            path = pattern.replace("^", "").replace("$", "").replace("\\.(?P<format>[a-z0-9]+)/?", ".json")
            path = path.replace("<drf_format_suffix:format>", ".json").replace("<str:kind>", "original")
            path = re.sub(r"<[^>]+>|\(\?P<\w+>[^)]+\)", "1", path)
            yield "/" + path


def test_every_api_route_denies_anonymous_users():
    routes = sorted(set(api_routes()))
    assert "/api/samples/" in routes and "/api/schema/" in routes and "/api/docs/" in routes
    anonymous = APIClient()
    for route in routes:
        for method in ("get", "post"):
            response = getattr(anonymous, method)(route)
            assert response.status_code in (401, 403), f"{method.upper()} {route} -> {response.status_code}"


def test_schema_and_docs_are_served_to_signed_in_users(client_for):
    api = client_for(Role.ANNOTATOR)

    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    docs = api.get("/api/docs/")

    assert schema.status_code == 200 and "/api/samples/" in schema.json()["paths"]
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()


def test_token_authentication_works(make_user):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=make_user(Role.ANNOTATOR))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    assert api.get("/api/samples/").status_code == 200


@pytest.fixture
def mvtec(real_data):
    """The real MVTec subset imported; built once per session and restored per test (tests/prebuilt.py)."""
    snapshot_restore("catalog_mvtec", lambda: run_import("mvtec", real_data / "mvtec_ad", source="MVTec AD"))


def test_keyset_pages_walk_every_sample_once(client_for, mvtec):
    api = client_for(Role.ANNOTATOR)
    seen = []
    url = "/api/samples/?page_size=7"
    while url:
        page = api.get(url).json()
        seen += [s["id"] for s in page["results"]]
        url = page["next"]

    assert len(seen) == len(set(seen)) == Sample.objects.count() == 50
    assert seen == sorted(seen, reverse=True)


def test_sample_list_filters(client_for, mvtec, real_data):
    run_import("neu-det", real_data / "neu_det" / "NEU-DET", source="NEU")
    api = client_for(Role.ANNOTATOR)
    neu = Source.objects.get(name="NEU")

    by_source = api.get(f"/api/samples/?source={neu.pk}&page_size=500").json()["results"]
    by_product = api.get("/api/samples/?product=bottle&page_size=500").json()["results"]

    assert len(by_source) == 240 and {s["source_name"] for s in by_source} == {"NEU"}
    assert len(by_product) == 50
    assert api.get("/api/samples/?is_synthetic=maybe").status_code == 400
    assert api.get("/api/samples/?source=abc").status_code == 400


def test_sample_detail_has_regions_and_files_are_served(client_for, mvtec, real_data):
    api = client_for(Role.ANNOTATOR)
    sample = Sample.objects.get(external_id="bottle/test/contamination/003.png")

    detail = api.get(f"/api/samples/{sample.pk}/").json()
    original = api.get(detail["files"]["original"])

    assert detail["source_regions"][0]["label"] == "contamination"
    assert detail["source_regions"][0]["mask_rle"]["size"] == [900, 900]
    assert b"".join(original.streaming_content) == (real_data / "mvtec_ad" / sample.external_id).read_bytes()
    assert api.get(f"/api/samples/{sample.pk}/files/secret/").status_code == 404


def test_restricted_source_is_invisible_to_non_members(client_for, make_user, real_data):
    run_import("neu-det", real_data / "neu_det" / "NEU-DET", source="Partner steel", restricted=True)
    run_import("mvtec", real_data / "mvtec_ad", source="MVTec AD")
    restricted_sample = Sample.objects.filter(source__name="Partner steel").first()
    member = make_user(Role.ANNOTATOR)
    Source.objects.get(name="Partner steel").members.add(member)

    outsider = client_for(Role.ANNOTATOR)
    insider = client_for(user=member)
    admin = client_for(Role.ADMIN)

    assert len(outsider.get("/api/samples/?page_size=500").json()["results"]) == 50
    assert outsider.get(f"/api/samples/{restricted_sample.pk}/").status_code == 404
    assert outsider.get(f"/api/samples/{restricted_sample.pk}/files/original/").status_code == 404
    assert "Partner steel" not in [s["name"] for s in outsider.get("/api/sources/").json()["results"]]
    assert len(insider.get("/api/samples/?page_size=500").json()["results"]) == 290
    assert insider.get(f"/api/samples/{restricted_sample.pk}/files/original/").status_code == 200
    assert len(admin.get("/api/samples/?page_size=500").json()["results"]) == 290


def test_annotators_cannot_start_imports(client_for, real_data):
    response = client_for(Role.ANNOTATOR).post(
        "/api/import-jobs/", {"format": "mvtec", "path": str(real_data), "source": "x"}, format="json"
    )
    assert response.status_code == 403


def test_api_imports_only_from_import_roots(client_for, settings, tmp_path, real_data):
    settings.IMPORT_ROOTS = [tmp_path]
    response = client_for(Role.DATA_MANAGER).post(
        "/api/import-jobs/", {"format": "mvtec", "path": str(real_data / "mvtec_ad"), "source": "x"}, format="json"
    )
    assert response.status_code == 400
    assert "is not under an import root" in response.json()["errors"]["path"][0]


def test_api_rejects_an_unknown_format(client_for):
    response = client_for(Role.DATA_MANAGER).post(
        "/api/import-jobs/", {"format": "pascal", "path": "/tmp", "source": "x"}, format="json"
    )
    assert response.status_code == 400 and "format" in response.json()["errors"]


def test_importers_are_listed(client_for):
    formats = {f["format"] for f in client_for(Role.ANNOTATOR).get("/api/importers/").json()}
    assert formats == {"mvtec", "magnetic-tile", "neu-det", "coco", "folder", "visa"}
