"""Test settings: the same environment variables as everywhere (CI points DATABASE_URL at PostgreSQL
and CELERY_BROKER_URL at Redis); with none set, SQLite in a file, so a real worker thread shares it."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-key")

from .base import *  # noqa: E402,F403
from .base import DATABASES, VAR_DIR  # noqa: E402

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# A worker subprocess started by a test is handed the test's media folder through MEDIA_ROOT.
MEDIA_ROOT = os.environ.get("MEDIA_ROOT") or VAR_DIR / "test-media"
LOGGING = {"version": 1, "disable_existing_loggers": False}

# A worker thread started by the tests must not pick up messages left by `make run`'s worker.
if CELERY_BROKER_URL.startswith("filesystem://"):  # noqa: F405
    CELERY_BROKER_TRANSPORT_OPTIONS = {  # noqa: F405
        "data_folder_in": str(VAR_DIR / "celery-test"),
        "data_folder_out": str(VAR_DIR / "celery-test"),
        "control_folder": str(VAR_DIR / "celery-test-control"),
        "store_processed": False,
    }
    (VAR_DIR / "celery-test").mkdir(parents=True, exist_ok=True)
    (VAR_DIR / "celery-test-control").mkdir(parents=True, exist_ok=True)
