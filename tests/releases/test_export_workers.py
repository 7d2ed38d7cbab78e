"""Exports on real workers: the Celery fan-out, S3 through an S3-compatible server, and a worker
killed with SIGKILL in the middle of an export."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from django.db import connection

from base.jobs import JobStatus
from catalog.models import Sample
from releases import exports
from releases.models import Export, ExportShard, ShardStatus
from releases.tasks import export_finalize_task, export_shard_task, export_single_file_task
from releases.versions import dataset_version_create, dataset_version_publish

from ..catalog.test_s3_storage import free_port, s3_server  # noqa: F401  (fixture)
from ..conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]


def test_task_names_are_stable():
    assert export_shard_task.name == "releases.export_shard"
    assert export_finalize_task.name == "releases.export_finalize"
    assert export_single_file_task.name == "releases.export_single_file"


@pytest.mark.slow
def test_fan_out_on_a_worker_writes_every_shard_then_the_manifest(celery_worker, verified_dataset, tmp_path):
    version = dataset_version_publish(version=dataset_version_create(title="bottle"))
    export = exports.export_create(version=version, format="webdataset", target=str(tmp_path), shard_max_samples=8)

    exports.export_start(export=export)

    wait_for(lambda: Export.objects.get(pk=export.pk).status == JobStatus.SUCCEEDED, timeout=120, what="export")
    manifest = json.loads((tmp_path / "v1" / "manifest.json").read_text())
    assert len(manifest["shards"]) == export.shards_total >= 7
    assert sum(s["samples"] for s in manifest["shards"]) == 50


@pytest.mark.slow
def test_export_to_s3_commits_shards_with_their_checksums(verified_dataset, s3_server, settings):  # noqa: F811
    settings.AWS_S3_ENDPOINT_URL = s3_server
    settings.AWS_ACCESS_KEY_ID = settings.AWS_SECRET_ACCESS_KEY = "test"
    client = boto3.client(
        "s3", endpoint_url=s3_server, aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    client.create_bucket(Bucket="datasets")
    version = dataset_version_publish(version=dataset_version_create(title="bottle"))
    export = exports.export_create(
        version=version, format="webdataset", target="s3://datasets/imdd", shard_max_samples=20
    )

    export = exports.export_run_here(export=export)

    assert export.status == JobStatus.SUCCEEDED, export.error
    manifest = json.loads(client.get_object(Bucket="datasets", Key="imdd/v1/manifest.json")["Body"].read())
    for shard in manifest["shards"]:
        head = client.head_object(Bucket="datasets", Key=f"imdd/v1/{shard['name']}")
        assert head["Metadata"]["sha256"] == shard["sha256"] and head["ContentLength"] == shard["bytes"]


def test_an_s3_prefix_holding_shards_of_another_export_is_refused_naming_them(verified_dataset, s3_server, settings):  # noqa: F811
    settings.AWS_S3_ENDPOINT_URL = s3_server
    settings.AWS_ACCESS_KEY_ID = settings.AWS_SECRET_ACCESS_KEY = "test"
    boto3.client(
        "s3", endpoint_url=s3_server, aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    ).create_bucket(Bucket="datasets")
    version = dataset_version_publish(version=dataset_version_create(title="bottle", split_plan={"seed": 2}))
    target = "s3://datasets/imdd"
    first = exports.export_run_here(
        export=exports.export_create(version=version, format="webdataset", target=target, shard_max_samples=7)
    )
    assert first.status == JobStatus.SUCCEEDED, first.error

    again = exports.export_create(version=version, format="webdataset", target=target, shard_max_samples=7)
    with pytest.raises(exports.ExportError, match="v1/v1-train-000001.tar") as refused:
        exports.export_create(version=version, format="webdataset", target=target, shard_max_samples=50)

    assert refused.value.field == "target" and again.shards_total == first.shards_total


def _worker_environment(tmp_path: Path, settings) -> dict:
    database = connection.settings_dict
    if connection.vendor == "postgresql":
        url = f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    else:
        url = f"sqlite:///{database['NAME']}"
    environment = dict(os.environ)
    environment.update(
        DJANGO_SETTINGS_MODULE="config.settings.test", DATABASE_URL=url, MEDIA_ROOT=str(settings.MEDIA_ROOT)
    )
    return environment


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_export_leaves_no_visible_partial_shard_and_the_rerun_matches(
    verified_dataset, tmp_path, settings
):
    version = dataset_version_publish(version=dataset_version_create(title="bottle"))
    reference = exports.export_run_here(
        export=exports.export_create(
            version=version, format="webdataset", target=str(tmp_path / "reference"), shard_max_samples=1
        )
    )
    export = exports.export_create(
        version=version, format="webdataset", target=str(tmp_path / "out"), shard_max_samples=1
    )
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            "export",
            "--pool",
            "solo",
            "--loglevel",
            "WARNING",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=ROOT,
        env=_worker_environment(tmp_path, settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        exports.export_start(export=export)
        try:
            wait_for(
                lambda: ExportShard.objects.filter(export=export, status=ShardStatus.COMMITTED).count() >= 3,
                timeout=60,
                interval=0.01,
                what="three committed shards",
            )
        except AssertionError:
            worker.kill()
            raise AssertionError(worker.stderr.read().decode()[-3000:]) from None
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    export.refresh_from_db()
    committed_at_kill = export.shards.filter(status=ShardStatus.COMMITTED).count()
    assert export.status != JobStatus.SUCCEEDED and committed_at_kill < export.shards_total
    folder = tmp_path / "out" / "v1"
    assert not (folder / "manifest.json").exists()
    # A shard's tar is visible only once committed (its Parquet index beside it is not a shard, and
    # a reader goes by the manifest anyway).
    visible = {p.name for p in folder.iterdir() if not p.name.startswith(".") and p.suffix == ".tar"}
    assert visible <= set(export.shards.filter(status=ShardStatus.COMMITTED).values_list("name", flat=True)) | {
        s.name for s in export.shards.all() if (folder / s.name).exists()
    }

    rerun = exports.export_run_here(export=export)

    assert rerun.status == JobStatus.SUCCEEDED
    assert (folder / "manifest.json").read_bytes() == (tmp_path / "reference" / "v1" / "manifest.json").read_bytes()
    assert not list(folder.glob(".*.partial"))
    assert reference.manifest_sha256 == rerun.manifest_sha256


@pytest.mark.slow
def test_resuming_while_a_shard_is_being_written_keeps_the_writer_and_ends_with_the_same_manifest(
    celery_worker, verified_dataset, tmp_path
):
    version = dataset_version_publish(version=dataset_version_create(title="bottle"))
    reference = exports.export_run_here(
        export=exports.export_create(
            version=version, format="webdataset", target=str(tmp_path / "reference"), shard_max_samples=10
        )
    )
    export = exports.export_create(
        version=version, format="webdataset", target=str(tmp_path / "out"), shard_max_samples=10
    )
    # The original of shard 1's first sample becomes a named pipe: the worker writing shard 1 waits
    # on it, its .partial file open, until the test writes the image's bytes into the pipe.
    shard = export.shards.get(index=1)
    original = Path(Sample.objects.get(pk=shard.first_sample).original.path)
    image = original.read_bytes()
    original.unlink()
    os.mkfifo(original)
    folder = tmp_path / "out" / "v1"

    exports.export_start(export=export)
    try:
        wait_for(lambda: list(folder.glob(f".{shard.name}.*.partial")), timeout=120, what="shard 1 being written")
        exports.export_start(export=Export.objects.get(pk=export.pk))  # resume, while shard 1 is written
        assert list(folder.glob(f".{shard.name}.*.partial")), "the live writer's file was removed"
    finally:
        _feed_pipe(original, image)

    wait_for(lambda: Export.objects.get(pk=export.pk).is_finished, timeout=120, what="the export to finish")
    export.refresh_from_db()
    assert export.status == JobStatus.SUCCEEDED, export.error
    assert (folder / "manifest.json").read_bytes() == (tmp_path / "reference" / "v1" / "manifest.json").read_bytes()
    assert export.manifest_sha256 == reference.manifest_sha256
    assert not list(folder.glob(".*.partial"))


def _feed_pipe(path: Path, data: bytes, *, timeout: float = 60.0) -> None:
    """Write `data` into the named pipe once a reader opens it. The shard's .partial file appears
    before its read-ahead threads reach the pipe, and on a loaded machine they may not have opened
    it yet: fed nothing then, a reader that opens it later would wait forever (a CI run hung so)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError:  # ENXIO: no reader has it open yet
            if time.monotonic() > deadline:
                return  # none came: nothing waits on it
            time.sleep(0.05)
    os.set_blocking(descriptor, True)
    with os.fdopen(descriptor, "wb") as pipe:
        pipe.write(data)
