"""Caption jobs through the API on a real Celery worker (Redis in CI)."""

import pytest

from accounts.roles import Role
from base.jobs import JobStatus
from captioning.models import CaptionJob

from ..conftest import wait_for


@pytest.mark.slow
def test_a_job_started_through_the_api_runs_on_the_worker_and_is_idempotent(celery_worker, annotated_mvtec, client_for):
    api = client_for(Role.DATA_MANAGER)

    first = api.post("/api/captioning/jobs/", {"captioner": "template", "filters": {"limit": 8}}, format="json")
    assert first.status_code == 201, first.content
    wait_for(
        lambda: CaptionJob.objects.filter(pk=first.json()["id"], status=JobStatus.SUCCEEDED).exists(),
        what="the first caption job",
    )
    second = api.post("/api/captioning/jobs/", {"captioner": "template", "filters": {"limit": 8}}, format="json")
    wait_for(
        lambda: CaptionJob.objects.filter(pk=second.json()["id"], status=JobStatus.SUCCEEDED).exists(),
        what="the second caption job",
    )

    done = api.get(f"/api/captioning/jobs/{second.json()['id']}/").json()
    assert (done["drafted"], done["skipped"]) == (0, 8)
    sample = api.get(f"/api/captioning/jobs/{first.json()['id']}/attempts/").json()["results"][0]["sample"]
    drafts = api.get("/api/captioning/drafts/", {"sample": sample}).json()["results"]
    assert len(drafts) == 1 and drafts[0]["passed"]


def test_annotators_cannot_start_caption_jobs(annotated_mvtec, client_for):
    response = client_for(Role.ANNOTATOR).post("/api/captioning/jobs/", {"captioner": "template"}, format="json")
    assert response.status_code == 403
