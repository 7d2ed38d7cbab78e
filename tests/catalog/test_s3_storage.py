"""Media on S3: the same import code against an S3-compatible server (moto's server mode) via boto3."""

import socket
import urllib.request

import boto3
import pytest
from PIL import Image

from accounts.roles import Role
from catalog.models import Sample

from .helpers import run_import

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def s3_server():
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_storage(s3_server, settings, monkeypatch):
    credentials = {"aws_access_key_id": "test", "aws_secret_access_key": "test", "region_name": "us-east-1"}
    boto3.client("s3", endpoint_url=s3_server, **credentials).create_bucket(Bucket="imdd-media")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": "imdd-media",
                "endpoint_url": s3_server,
                "access_key": "test",
                "secret_key": "test",
                "region_name": "us-east-1",
                "file_overwrite": False,
            },
        },
    }
    return boto3.client("s3", endpoint_url=s3_server, **credentials)


def test_import_writes_originals_assets_and_thumbnails_to_the_bucket(s3_storage, real_data):
    run_import("mvtec", real_data / "mvtec_ad")

    keys = {
        obj["Key"]
        for page in s3_storage.get_paginator("list_objects_v2").paginate(Bucket="imdd-media")
        for obj in page.get("Contents", [])
    }
    sample = Sample.objects.get(external_id="bottle/test/broken_small/004.png")
    assert {sample.original.name, sample.asset.name, sample.thumbnail.name} <= keys
    assert len(keys) == 3 * Sample.objects.count() == 150
    stored = s3_storage.get_object(Bucket="imdd-media", Key=sample.original.name)["Body"].read()
    assert stored == (real_data / "mvtec_ad" / sample.external_id).read_bytes()


def test_file_endpoint_redirects_to_a_presigned_url_that_serves_the_bytes(s3_storage, client_for, real_data):
    run_import("mvtec", real_data / "mvtec_ad")
    sample = Sample.objects.get(external_id="bottle/train/good/003.png")

    response = client_for(Role.ANNOTATOR).get(f"/api/samples/{sample.pk}/files/asset/")

    assert response.status_code == 302
    assert "Signature" in response["Location"] or "X-Amz-Signature" in response["Location"]
    with urllib.request.urlopen(response["Location"], timeout=10) as fetched:
        image = Image.open(fetched)
        image.load()
    assert image.size == (512, 512)
