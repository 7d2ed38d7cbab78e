"""Test settings: the same environment variables as everywhere (CI points DATABASE_URL at PostgreSQL
and CELERY_BROKER_URL at Redis); with none set, SQLite in a file, so a real worker thread shares it."""

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from django.core.exceptions import ImproperlyConfigured

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-key")

from .base import *  # noqa: E402,F403
from .base import DATABASES, VAR_DIR  # noqa: E402

# On SQLite the test database and the test broker's folders sit beside the database file, so two
# checkouts (or two DATABASE_URLs in one checkout) can run their suites at the same time.
TEST_STATE_DIR = VAR_DIR
TEST_STATE_PREFIX = "test"
# Under pytest-xdist each worker process ("gw0", "gw1", …; a subprocess a test starts inherits the
# name) has its own test database (pytest-django) and, below, its own broker: a worker thread of one
# must never run the other's tasks, whose ids name rows of another database.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    database_file = Path(DATABASES["default"]["NAME"])
    # A worker subprocess started by a test is handed the test database itself: same prefix.
    stem = database_file.stem.removesuffix("-test")
    TEST_STATE_DIR, TEST_STATE_PREFIX = database_file.parent, f"{stem}-test"
    DATABASES["default"]["TEST"] = {"NAME": str(TEST_STATE_DIR / f"{TEST_STATE_PREFIX}.sqlite3")}
if XDIST_WORKER:  # the database's name pytest-django suffixes itself; the broker's folders here
    TEST_STATE_PREFIX = f"{TEST_STATE_PREFIX}-{XDIST_WORKER}"

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# A worker subprocess started by a test is handed the test's media folder through MEDIA_ROOT.
MEDIA_ROOT = os.environ.get("MEDIA_ROOT") or VAR_DIR / "test-media"
LOGGING = {"version": 1, "disable_existing_loggers": False}

if XDIST_WORKER and CELERY_BROKER_URL.startswith("redis") and os.environ.get("TEST_BROKER_OF") != XDIST_WORKER:  # noqa: F405
    # CI hands the tests one Redis database (/15); xdist worker N takes the one N below it, for the
    # broker and for the caption rate limiter, which lives beside the broker. Celery reads the
    # environment variable before the setting, and a worker subprocess inherits both variables, so
    # the shift is made once, here, and written back.
    broker = urlsplit(CELERY_BROKER_URL)  # noqa: F405
    database_number = int(broker.path.strip("/") or 0) - int(XDIST_WORKER.removeprefix("gw"))
    if database_number < 0:
        raise ImproperlyConfigured(f"{CELERY_BROKER_URL} leaves no Redis database for xdist worker {XDIST_WORKER}")  # noqa: F405
    if CAPTION_RATE_LIMIT_REDIS_URL == CELERY_BROKER_URL:  # noqa: F405
        CAPTION_RATE_LIMIT_REDIS_URL = urlunsplit(broker._replace(path=f"/{database_number}"))
    CELERY_BROKER_URL = urlunsplit(broker._replace(path=f"/{database_number}"))
    os.environ.update(CELERY_BROKER_URL=CELERY_BROKER_URL, TEST_BROKER_OF=XDIST_WORKER)

# A worker thread started by the tests must not pick up messages left by `make run`'s worker.
if CELERY_BROKER_URL.startswith("filesystem://"):  # noqa: F405
    CELERY_BROKER_TRANSPORT_OPTIONS = {  # noqa: F405
        "data_folder_in": str(TEST_STATE_DIR / f"{TEST_STATE_PREFIX}-celery"),
        "data_folder_out": str(TEST_STATE_DIR / f"{TEST_STATE_PREFIX}-celery"),
        "control_folder": str(TEST_STATE_DIR / f"{TEST_STATE_PREFIX}-celery-control"),
        "store_processed": False,
        # Batches are chains of tasks: each waits for the consumer's next look at the folder.
        "polling_interval": 0.1,
    }
    (TEST_STATE_DIR / f"{TEST_STATE_PREFIX}-celery").mkdir(parents=True, exist_ok=True)
    (TEST_STATE_DIR / f"{TEST_STATE_PREFIX}-celery-control").mkdir(parents=True, exist_ok=True)
