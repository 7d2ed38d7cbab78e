"""One request rate per LLM endpoint, shared by every caption job and worker: in Redis when there is
Redis (CI's at 127.0.0.1:6379, a dedicated db number here), else in the database."""

import threading
import uuid

import pytest
import redis
from django.db import connection

from annotation.models import Annotation
from captioning import services
from captioning.rate_limit import EndpointRateLimiter, endpoint_key

from ..prebuilt import snapshot_restore
from .conftest import build_annotated_mvtec
from .fake_openai import FakeChatServer
from .test_llm_captioner import GOOD_REPLY

REDIS_URL = "redis://127.0.0.1:6379/15"


def redis_is_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.exceptions.ConnectionError:
        return False


@pytest.fixture(
    params=[
        "database",
        # CI runs Redis on 127.0.0.1:6379; a laptop without it still runs the database variant.
        pytest.param("redis", marks=pytest.mark.skipif(not redis_is_up(), reason="no Redis at 127.0.0.1:6379")),
    ]
)
def shared_state(request) -> str:
    """The rate limiter's shared state: '' for the database, or a Redis URL."""
    return "" if request.param == "database" else REDIS_URL


def test_the_endpoint_key_leaves_credentials_out():
    assert endpoint_key("https://user:s3cret@LLM.example.com:8443/v1/") == "https://llm.example.com:8443/v1"


@pytest.mark.django_db
def test_limiters_of_different_workers_hand_out_evenly_spaced_slots(shared_state):
    """Two limiter objects (as two workers have) reserving alternately: the k-th reservation waits
    k intervals, less the time the reservations themselves took; nobody sleeps here."""
    endpoint = f"http://llm-{uuid.uuid4().hex}.test/v1"
    workers = [EndpointRateLimiter(endpoint=endpoint, per_minute=120, redis_url=shared_state) for _ in range(2)]
    clock = __import__("time").monotonic

    started = clock()
    waits = [workers[k % 2].reserve() for k in range(20)]
    elapsed = clock() - started

    for k, wait in enumerate(waits):
        assert k * 0.5 - elapsed - 0.01 <= wait <= k * 0.5 + 0.01, (k, wait)


@pytest.fixture
def committed_annotations(transactional_db, real_data, settings):
    """Annotated real samples, committed, so that other threads see them (restored from the session's
    snapshot of `annotated_mvtec`, tests/prebuilt.py)."""
    snapshot_restore("annotated_mvtec", lambda: build_annotated_mvtec(real_data))
    return list(Annotation.objects.order_by("pk").values_list("pk", flat=True))


@pytest.mark.slow
def test_two_caption_jobs_together_stay_within_the_endpoints_limit(committed_annotations, settings, shared_state):
    # One request a second for both jobs together: slow enough that drafting itself (a few requests a
    # second per job here) is never what holds a job back.
    # Five samples a job: a limit per job would let the two send all ten inside the window, above the
    # bound of seven below, while the shared limit spreads them over ten seconds.
    per_minute, window, per_job = 60, 5.0, 5
    settings.CAPTION_MODEL, settings.CAPTION_MAX_RETRIES = "fake-model", 0
    settings.CAPTION_RATE_LIMIT_PER_MINUTE = per_minute
    settings.CAPTION_RATE_LIMIT_REDIS_URL = shared_state
    first, second = committed_annotations[:per_job], committed_annotations[per_job : 2 * per_job]
    with FakeChatServer([{"json": GOOD_REPLY}]) as server:
        settings.OPENAI_BASE_URL = server.url
        jobs = [services.caption_job_create(captioner="llm", filters={"samples": ids}) for ids in (first, second)]
        errors = []

        def run(job):
            try:
                services.caption_job_run(job=job)
            except Exception as error:  # surfaced below
                errors.append(error)
            finally:
                connection.close()

        threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)

    assert not errors
    arrivals = sorted(request["received_at"] for request in server.requests)
    assert len(arrivals) == 2 * per_job
    in_window = sum(1 for at in arrivals if at < arrivals[0] + window)
    # Evenly spaced slots allow window / interval + 1 requests; one more for the first request's own delay.
    # A limit per job would let each job send window / interval + 1: twice as many together.
    assert in_window <= window * per_minute / 60 + 2, in_window
    for job in jobs:
        job.refresh_from_db()
        assert (job.drafted, job.requests) == (per_job, per_job)
