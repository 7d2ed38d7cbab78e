"""A whole worker process (and its beat) SIGKILLed in the middle of an import, a caption job and an
agreement report: after a worker restart the stale sweep requeues the job's current batch, and the
job ends with the same rows, drafts or report as a run nobody interrupted.

The workers are real `celery worker` subprocesses on the test broker (the filesystem transport in
var/, or Redis in CI); their stale limit is a few seconds here instead of minutes."""

import os
import signal
import subprocess
import sys
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from django.db import connection

from accounts.models import User
from annotation.agreement_reports import agreement_report_compute
from annotation.models import AgreementReport, Annotation, AnnotationState
from annotation.services import agreement_report_enqueue
from base.jobs import JobStatus
from captioning import services as captioning
from captioning.models import CaptionDraft, CaptionJob
from catalog import services as catalog
from catalog.models import ImportJob, ImportRow, Sample, Source
from config.celery_app import app

from ..captioning.conftest import build_annotated_mvtec
from ..captioning.fake_openai import FakeChatServer
from ..captioning.test_llm_captioner import GOOD_REPLY
from ..catalog.helpers import run_import
from ..conftest import wait_for
from ..prebuilt import snapshot_restore

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

STALE_SECONDS = 3
RESTART_DEADLINE = 60  # seconds from the restart to the job's success


@pytest.fixture
def worker(tmp_path, settings):
    """start(**env) -> a worker subprocess with beat, in its own process group; kill(process)."""
    with suppress(Exception):
        app.control.purge()
    started = []
    database = connection.settings_dict
    if connection.vendor == "postgresql":
        url = f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    else:
        url = f"sqlite:///{database['NAME']}"
    base_environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": url,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "JOB_STALE_SECONDS": str(STALE_SECONDS),
        "JOB_SWEEP_SECONDS": "1",
        "CAPTION_TIMEOUT": "0.5",
        "CAPTION_MAX_RETRIES": "0",
        "OMP_NUM_THREADS": "1",
    }

    def start(**environment):
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "default,ingest,caption"),
                *("--pool", "solo", "--loglevel", "WARNING", "-B", "--schedule", str(tmp_path / "beat")),
                *("--without-heartbeat", "--without-mingle", "--without-gossip"),
            ],
            cwd=ROOT,
            env={**base_environment, **{key: str(value) for key, value in environment.items()}},
            stdout=subprocess.DEVNULL,
            stderr=open(tmp_path / f"worker-{len(started)}.log", "wb"),  # noqa: SIM115 (closed with the process)
            start_new_session=True,  # its own process group: the worker and its beat die together
        )
        started.append(process)
        return process

    def log() -> str:
        return "".join((tmp_path / f"worker-{n}.log").read_text(errors="replace")[-2000:] for n in range(len(started)))

    yield start, log
    for process in started:
        kill(process)


def kill(process: subprocess.Popen) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


@contextmanager
def killed_mid_run(start, log, model, job_id: int, environment: dict, *, after_batches: int = 3):
    """Run the job on a worker, SIGKILL the worker's whole process group once `after_batches` are
    committed, check the job is stranded, then start a fresh worker (the body runs while it works)."""
    first = start(**environment)
    try:
        wait_for(
            lambda: model.objects.filter(pk=job_id, next_batch__gte=after_batches).exists(),
            timeout=90,
            interval=0.01,
            what=f"{after_batches} committed batches",
        )
    except AssertionError:
        raise AssertionError(log()) from None
    kill(first)
    stranded = model.objects.get(pk=job_id)
    assert stranded.status in (JobStatus.RUNNING, JobStatus.PENDING), "the job finished before the kill"
    start(**environment)
    yield
    try:
        wait_for(
            lambda: model.objects.get(pk=job_id).status == JobStatus.SUCCEEDED,
            timeout=RESTART_DEADLINE,
            what="the job to succeed after the restart",
        )
    except AssertionError:
        raise AssertionError(f"{model.objects.get(pk=job_id).__dict__}\n{log()}") from None


def test_a_killed_import_completes_after_a_restart_with_the_same_rows(worker, real_data, settings):
    start, log = worker
    settings.IMPORT_BATCH_SIZE = 8
    reference = run_import("magnetic-tile", real_data / "magnetic_tile", source="Magnetic Tile")
    expected = import_report(reference)
    Sample.objects.all().delete()
    ImportJob.objects.all().delete()

    source = catalog.source_for_import(name="Magnetic Tile")
    job = catalog.import_job_create(
        format="magnetic-tile",
        path=str(real_data / "magnetic_tile"),
        source=source,
        created_by=None,
        restrict_to_import_roots=False,
    )
    with killed_mid_run(start, log, ImportJob, job.pk, {"IMPORT_BATCH_SIZE": 8}):
        catalog.import_job_enqueue(job=job)

    job.refresh_from_db()
    assert import_report(job) == expected
    assert (job.total, job.processed, job.imported) == (reference.total, reference.processed, reference.imported)
    assert Sample.objects.count() == reference.imported


def import_report(job: ImportJob) -> dict:
    """item -> (outcome, reason, the imported sample's bytes and regions): ids differ between runs."""
    rows = ImportRow.objects.filter(job=job).select_related("sample")
    assert rows.count() == rows.values("item").distinct().count(), "an item was reported twice"
    return {
        row.item: (
            row.outcome,
            row.reason,
            row.sample.sha256 if row.sample else None,
            sorted((r.label, r.area) for r in row.sample.source_regions.all()) if row.sample else None,
        )
        for row in rows
    }


@pytest.fixture
def annotated_bottles(transactional_db, real_data):
    """The annotated MVTec subset, committed (restored from the session's snapshot, tests/prebuilt.py)."""
    snapshot_restore("annotated_mvtec", lambda: build_annotated_mvtec(real_data))
    return Annotation.objects.count()


def test_a_killed_caption_job_completes_after_a_restart_with_the_same_drafts(worker, annotated_bottles, settings):
    start, log = worker
    settings.CAPTION_MODEL, settings.CAPTION_MAX_RETRIES, settings.CAPTION_RATE_LIMIT_PER_MINUTE = "fake-model", 0, 0
    settings.CAPTION_JOB_BATCH_SIZE = 4
    with FakeChatServer([{"json": GOOD_REPLY}]) as server:
        settings.OPENAI_BASE_URL = server.url
        reference = captioning.caption_job_run(job=captioning.caption_job_create(captioner="llm"))
        expected = caption_report(reference)
        CaptionDraft.objects.all().delete()  # else the second job skips every sample as unchanged

        job = captioning.caption_job_create(captioner="llm")
        environment = {
            "CAPTION_MODEL": "fake-model",
            "OPENAI_BASE_URL": server.url,
            "CAPTION_JOB_BATCH_SIZE": 4,
            # Spread the job over a few seconds, and check the shared limit across processes.
            "CAPTION_RATE_LIMIT_PER_MINUTE": 600,
        }
        with killed_mid_run(start, log, CaptionJob, job.pk, environment):
            captioning.caption_job_enqueue(job=job)

    job.refresh_from_db()
    assert caption_report(job) == expected
    assert (job.total, job.drafted, job.skipped, job.failed, job.requests, job.prompt_tokens) == (
        reference.total,
        annotated_bottles,
        0,
        0,
        annotated_bottles,
        reference.prompt_tokens,
    )


def caption_report(job: CaptionJob) -> dict:
    attempts = job.attempts.select_related("draft")
    assert attempts.count() == attempts.values("annotation").distinct().count(), "a sample was drafted twice"
    assert CaptionDraft.objects.filter(job=job).count() == job.drafted
    return {
        a.annotation_id: (
            a.outcome,
            a.error,
            a.draft.captions if a.draft else None,
            a.draft.passed if a.draft else None,
        )
        for a in attempts
    }


def test_a_killed_agreement_report_completes_after_a_restart_with_the_same_figures(
    worker, annotated_bottles, settings, make_user
):
    start, log = worker
    settings.AGREEMENT_REPORT_BATCH_SIZE = 2
    captioning.caption_job_run(job=captioning.caption_job_create(captioner="template"))
    annotators = [make_user(username="ann_a"), make_user(username="ann_b")]
    for number, annotation in enumerate(Annotation.objects.order_by("pk")):
        first_revision = annotation.revisions.order_by("number").first()
        verified = number % 3 != 0
        Annotation.objects.filter(pk=annotation.pk).update(
            annotator=annotators[number % 2],
            submitted_revision=first_revision,
            reviewed_revision_id=annotation.current_revision_id,
            final_revision_id=annotation.current_revision_id if verified else None,
            state=AnnotationState.VERIFIED if verified else AnnotationState.IN_CONSENSUS,
            review_round=number % 4 == 0,
            queue="",
        )
    expected = without_time(agreement_report_compute(scope="dataset"))
    assert expected["items"]["reviewed"] == annotated_bottles

    report = AgreementReport.objects.create(scope="dataset", created_by=User.objects.first())
    report.sources.set(Source.objects.all())  # what agreement_report_request sets for an admin
    with killed_mid_run(start, log, AgreementReport, report.pk, {"AGREEMENT_REPORT_BATCH_SIZE": 2}):
        agreement_report_enqueue(report=report)

    report.refresh_from_db()
    assert without_time(report.result) == expected
    assert report.tallies is None and report.next_batch == annotated_bottles // 2


def without_time(result: dict) -> dict:
    return {key: value for key, value in result.items() if key != "computed_at"}
