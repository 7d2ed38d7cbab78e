import contextlib
import os
import time
from collections import Counter
from pathlib import Path

# One torch thread: the suite runs on small (2-core) machines, where two torch threads fighting other
# work for the cores ran the training tests about 25 times slower than one. Set before torch loads.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import pytest  # noqa: E402
from rest_framework.test import APIClient

from accounts.models import User  # noqa: E402
from accounts.roles import Role  # noqa: E402
from accounts.services import user_assign_role  # noqa: E402

with contextlib.suppress(ImportError):  # `make install EXTRAS=dev` has no torch
    import torch

    torch.set_num_threads(1)

REAL_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"
if not REAL_DATA.is_dir():  # CI clones the repo beside shared/, as the developers' checkout is
    REAL_DATA = Path(os.environ.get("IMDD_REAL_DATA", "/work/shared/data/real"))

USING_POSTGRES = "postgres" in os.environ.get("DATABASE_URL", "")

# A test using one of these starts a browser, a live server, a real worker or builds the real export:
# it is slow whether or not it says so, and `make test-fast` never runs it.
SLOW_FIXTURES = frozenset({"chromium", "open_as", "live_server", "celery_worker", "worker", "real_export"})


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Code under test may set torch's threads (the trainer chooses its own): the next test starts
    with one again."""
    yield
    if "torch" in globals() and torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    # `make test` hands whole files to its workers in order of first appearance (--dist loadfile): the
    # files with the most slow tests go first, so the longest start early and the quick ones fill in
    # at the end instead of one worker finishing a long file alone. Only then: on one process,
    # pytest-django's order (transactional tests last) stands.
    if config.getoption("dist", "no") == "loadfile":
        slow_tests = Counter(item.path for item in items if item.get_closest_marker("slow"))
        items.sort(key=lambda item: -slow_tests[item.path])


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Every test stores files in its own folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def real_data() -> Path:
    assert REAL_DATA.is_dir(), f"the real data subsets are expected at {REAL_DATA}"
    return REAL_DATA


@pytest.fixture
def make_user(db):
    counter = iter(range(1_000_000))

    def make(role: Role | None = None, **fields) -> User:
        name = fields.pop("username", f"{role or 'user'}_{next(counter)}")
        user = User.objects.create_user(username=name, password="pw", **fields)
        if role:
            user_assign_role(user=user, role=role)
        return User.objects.get(pk=user.pk)  # fresh permission cache

    return make


@pytest.fixture
def client_for(make_user):
    """An API client signed in as a new user of the given role."""

    def client(role: Role | None = None, user: User | None = None) -> APIClient:
        api = APIClient()
        api.force_authenticate(user or make_user(role))
        return api

    return client


@pytest.fixture
def celery_worker(transactional_db):
    """A real Celery worker (a thread of this process) on the configured broker: the filesystem
    transport locally, Redis in CI. Not eager mode: messages really go through the broker."""
    from celery.contrib.testing.worker import start_worker
    from django.conf import settings

    from config.celery_app import app

    if settings.CELERY_BROKER_URL.startswith("redis"):
        # The tests own their broker database (CI gives them one). Flushing it also drops what a worker
        # killed by an earlier test left unacknowledged, which Redis would otherwise hand to this worker.
        import redis

        redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    else:
        with contextlib.suppress(Exception):
            app.control.purge()
    with start_worker(
        app,
        pool="solo",
        perform_ping_check=False,
        loglevel="WARNING",
        queues=settings.CELERY_WORKER_QUEUES,
        shutdown_timeout=30,
    ) as worker:
        yield worker


def wait_for(predicate, *, timeout: float = 60.0, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@contextlib.contextmanager
def tasks_run():
    """(task name, args) of every task a worker thread of this process starts, in order."""
    from celery.signals import task_prerun

    seen = []

    def record(task=None, args=None, **kwargs):
        seen.append((task.name, tuple(args or ())))

    task_prerun.connect(record, weak=False, dispatch_uid="tasks_run")
    try:
        yield seen
    finally:
        task_prerun.disconnect(dispatch_uid="tasks_run")
