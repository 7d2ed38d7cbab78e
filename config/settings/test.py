"""Test settings: the same environment variables as everywhere (CI points DATABASE_URL at PostgreSQL
and CELERY_BROKER_URL at Redis); with none set, SQLite in a file, so a real worker thread shares it."""

import os
from pathlib import Path

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-key")

from .base import *  # noqa: E402,F403
from .base import DATABASES, VAR_DIR  # noqa: E402

# On SQLite the test database and the test broker's folders sit beside the database file, so two
# checkouts (or two DATABASE_URLs in one checkout) can run their suites at the same time.
TEST_STATE_DIR = VAR_DIR
TEST_STATE_PREFIX = "test"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    database_file = Path(DATABASES["default"]["NAME"])
    # A worker subprocess started by a test is handed the test database itself: same prefix.
    stem = database_file.stem.removesuffix("-test")
    TEST_STATE_DIR, TEST_STATE_PREFIX = database_file.parent, f"{stem}-test"
    DATABASES["default"]["TEST"] = {"NAME": str(TEST_STATE_DIR / f"{TEST_STATE_PREFIX}.sqlite3")}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# A worker subprocess started by a test is handed the test's media folder through MEDIA_ROOT.
MEDIA_ROOT = os.environ.get("MEDIA_ROOT") or VAR_DIR / "test-media"
LOGGING = {"version": 1, "disable_existing_loggers": False}

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
