"""Settings read from environment variables (see .env.example).

With no environment at all the project runs embedded: SQLite under var/, a Celery broker on the
local filesystem and media under var/media. Each production service is switched on by its variable.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# A secret key is required outside DEBUG; the development default is refused there.
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="dev-only-insecure-key" if DEBUG else None) or ""
if not SECRET_KEY:
    raise ImproperlyConfigured("Set DJANGO_SECRET_KEY (or DJANGO_DEBUG=1 for local development).")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # The platform's layers, lowest first (DESIGN.md): imports point down only.
    "base",
    "vocabulary",
    "accounts",
    "catalog",
    "annotation",
    "segmentation",
    "captioning",
    "releases",
    "modeling",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves the admin's and the review pages' static files in production without a separate server.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "base.request_text.RefuseNulInQueryStringMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
# ModelBackend with a person's permissions read in one compiled query (accounts/backends.py).
AUTHENTICATION_BACKENDS = ["accounts.backends.PermissionBackend"]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'imdd.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The dev server and the Celery workers write to the same file: wait for the lock, don't fail. A
    # transaction takes the write lock when it begins (IMMEDIATE): one that read first and then wrote
    # would fail at once with "database is locked" while another connection writes (SQLite cannot
    # wait there without deadlocking), and job batches read their job and then write.
    DATABASES["default"].setdefault("OPTIONS", {}).update(timeout=30, transaction_mode="IMMEDIATE")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文"), ("ja", "日本語")]
TIME_ZONE = "UTC"
USE_I18N = True
# The review pages' translations (zh_Hans, ja): templates and the JavaScript catalog.
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns about a missing folder
STATICFILES_DIRS = [BASE_DIR / "frontend_static"]

# Media: a local folder by default; S3 or MinIO when a bucket is named.
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = env.str("MEDIA_URL", default="/media/")
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default=None)
    AWS_S3_REGION_NAME = env.str("AWS_S3_REGION_NAME", default="us-east-1")
    AWS_ACCESS_KEY_ID = env.str("AWS_ACCESS_KEY_ID", default=None)
    AWS_SECRET_ACCESS_KEY = env.str("AWS_SECRET_ACCESS_KEY", default=None)
    AWS_DEFAULT_ACL = None
    AWS_QUERYSTRING_AUTH = True
    AWS_S3_FILE_OVERWRITE = False
    DEFAULT_FILE_STORAGE_BACKEND = "storages.backends.s3.S3Storage"
else:
    DEFAULT_FILE_STORAGE_BACKEND = "django.core.files.storage.FileSystemStorage"
STORAGES = {
    "default": {"BACKEND": DEFAULT_FILE_STORAGE_BACKEND},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Celery: a broker that needs no server unless CELERY_BROKER_URL names one (Redis, RabbitMQ).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_FILESYSTEM_BROKER_DIR = VAR_DIR / "celery" / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_FILESYSTEM_BROKER_DIR),
        "data_folder_out": str(CELERY_FILESYSTEM_BROKER_DIR),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
    }
    # kombu's filesystem transport expects its folders to exist.
    for _folder in (CELERY_FILESYSTEM_BROKER_DIR, VAR_DIR / "celery" / "processed", VAR_DIR / "celery" / "control"):
        _folder.mkdir(parents=True, exist_ok=True)
# Progress and results live in the database rows the tasks update, not in a result backend.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "catalog.*": {"queue": "ingest"},
    "annotation.caption*": {"queue": "caption"},
    "releases.*": {"queue": "export"},
    "modeling.*": {"queue": "train"},
}
CELERY_WORKER_QUEUES = ["default", "ingest", "caption", "export", "train"]
# Hard time limit of one task, per queue (config/celery_app.py applies them). Long jobs run as chains
# of bounded batches, so these are generous bounds on ONE batch, not on a job; a task past its limit
# is killed and its job is requeued by the stale sweep. The train task declares its own (30 days);
# "*" is for tasks of any other queue.
CELERY_QUEUE_TIME_LIMITS = {
    "default": 15 * 60,
    "ingest": 30 * 60,
    "caption": 60 * 60,
    "export": 2 * 3600,
    "*": env.int("CELERY_TASK_TIME_LIMIT", default=2 * 3600),
    **env.dict("CELERY_QUEUE_TIME_LIMITS", cast={"value": int}, default={}),
}
# Redis and SQS redeliver a message nobody acknowledged within the visibility timeout (acks_late: a
# task is acknowledged when it ends). It must outlast the longest task above, or a task still running
# is delivered a second time; the stale sweep, not this timeout, is what resumes a killed worker's job.
CELERY_BROKER_VISIBILITY_TIMEOUT = env.int(
    "CELERY_BROKER_VISIBILITY_TIMEOUT", default=max(CELERY_QUEUE_TIME_LIMITS.values()) + 10 * 60
)
if not CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_BROKER_VISIBILITY_TIMEOUT}
if CELERY_BROKER_VISIBILITY_TIMEOUT <= max(CELERY_QUEUE_TIME_LIMITS.values()):
    raise ImproperlyConfigured("CELERY_BROKER_VISIBILITY_TIMEOUT must exceed every CELERY_QUEUE_TIME_LIMITS value")

# Long jobs (imports, caption jobs, agreement reports; base/jobs.py). A live job whose worker has not
# stamped its heartbeat for JOB_STALE_SECONDS is lost: the stale sweep (celery beat, every
# JOB_SWEEP_SECONDS) queues its current batch again. The stale limit must exceed the longest silence
# of a healthy worker: one caption request with all its retries, or one transaction's rows of an import.
JOB_STALE_SECONDS = env.int("JOB_STALE_SECONDS", default=600)
JOB_SWEEP_SECONDS = env.float("JOB_SWEEP_SECONDS", default=60.0)
IMPORT_BATCH_SIZE = env.int("IMPORT_BATCH_SIZE", default=256)  # items per import task
CAPTION_JOB_BATCH_SIZE = env.int("CAPTION_JOB_BATCH_SIZE", default=20)  # samples per caption task
PREANNOTATION_BATCH_SIZE = env.int("PREANNOTATION_BATCH_SIZE", default=64)  # samples per pre-annotation task
# images per forward pass of the model within a task (modeling.preannotation._predict_all)
PREANNOTATION_MODEL_BATCH_SIZE = env.int("PREANNOTATION_MODEL_BATCH_SIZE", default=8)
AGREEMENT_REPORT_BATCH_SIZE = env.int("AGREEMENT_REPORT_BATCH_SIZE", default=500)  # annotations per report task
CELERY_BEAT_SCHEDULE = {
    "requeue-lost-jobs": {"task": "base.jobs_requeue_lost", "schedule": JOB_SWEEP_SECONDS},
    "release-expired-leases": {"task": "annotation.leases_release_expired", "schedule": 60.0},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celery" / "beat-schedule")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "base.pagination.KeysetPagination",
    # One error shape for every route: {"code", "detail", "errors"} (base/api_errors.py).
    "EXCEPTION_HANDLER": "base.api_errors.api_exception_handler",
    "DEFAULT_PARSER_CLASSES": [
        "base.request_text.JSONWithoutNulParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "IMDD Platform API",
    "DESCRIPTION": "Catalog, vocabulary, annotation, releases and modeling of industrial defect datasets.",
    "VERSION": "1",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Imports
# The API may import only from under these folders; the CLI (an operator with a shell) may import any path.
IMPORT_ROOTS = [Path(p) for p in env.list("IMPORT_ROOTS", default=[str(VAR_DIR / "imports")])]
# Pillow refuses images above this many pixels (decompression bombs); 1.5x a 8k x 8k line-scan frame.
IMAGE_MAX_PIXELS = env.int("IMAGE_MAX_PIXELS", default=100_000_000)
ASSET_SIZE = 512
THUMBNAIL_SIZE = 128

# Releases: where the admin's export actions write (a directory, or s3://bucket/prefix).
EXPORT_ROOT = env.str("EXPORT_ROOT", default=str(VAR_DIR / "exports"))
# Where exports asked for through the API or the admin may go: folders (a relative target lies under
# the first) and s3://bucket/prefix locations. The CLI (an operator with a shell) may write anywhere.
EXPORT_ROOTS = env.list("EXPORT_ROOTS", default=[EXPORT_ROOT] if "://" not in EXPORT_ROOT else [])
EXPORT_S3_LOCATIONS = env.list("EXPORT_S3_LOCATIONS", default=[EXPORT_ROOT] if EXPORT_ROOT.startswith("s3://") else [])
# Resuming an export to S3 aborts the multipart uploads its killed writers left open; S3 cannot tell
# them from live ones, so only those begun more than this long ago (a shard's upload takes minutes).
EXPORT_UPLOAD_STALE_SECONDS = env.int("EXPORT_UPLOAD_STALE_SECONDS", default=3600)

# Training runs (modeling): one folder per run (log, metrics, checkpoints, reports) under TRAINING_ROOT;
# on several machines it must be shared storage. The supervisor looks at its trainer every poll; a run
# whose heartbeat is older than the stale limit is taken to have lost its worker and is resumed.
TRAINING_ROOT = env.str("TRAINING_ROOT", default=str(VAR_DIR / "training"))
TRAINING_POLL_SECONDS = env.float("TRAINING_POLL_SECONDS", default=2.0)
TRAINING_HEARTBEAT_STALE_SECONDS = env.int("TRAINING_HEARTBEAT_STALE_SECONDS", default=120)

# Curation (catalog/embedding_index.py, catalog/near_duplicates.py): image embeddings from the CLIP
# image tower of CURATION_CLIP_MODEL (open_clip name) with the local weights file CURATION_CLIP_WEIGHTS
# (nothing is downloaded; empty means random init, which `embed_samples` refuses unless asked and
# every answer then flags). The nearest-neighbour index lives beside the database, one folder per
# embedding space; "hnsw" (hnswlib) or "exact" (numpy brute force, small catalogs and tests).
CURATION_CLIP_MODEL = env.str("CURATION_CLIP_MODEL", default="ViT-B-16")
CURATION_CLIP_WEIGHTS = env.str("CURATION_CLIP_WEIGHTS", default="")
# A weights file named in the API or the admin must lie under one of these folders (a worker unpickles
# what it loads); the command line may name any path, as for imports.
MODEL_WEIGHTS_ROOTS = [Path(p) for p in env.list("MODEL_WEIGHTS_ROOTS", default=[str(VAR_DIR / "models")])]
EMBEDDING_BATCH_SIZE = env.int("EMBEDDING_BATCH_SIZE", default=64)  # samples per embedding task
EMBEDDING_TORCH_THREADS = env.int("EMBEDDING_TORCH_THREADS", default=2)  # per worker process
EMBEDDING_INDEX_ROOT = env.str("EMBEDDING_INDEX_ROOT", default="") or str(VAR_DIR / "embedding-index")
EMBEDDING_INDEX_KIND = env.str("EMBEDDING_INDEX_KIND", default="hnsw")
# A batch saves the index (the whole file) at most this often; the job's last step always saves.
EMBEDDING_INDEX_SAVE_SECONDS = env.float("EMBEDDING_INDEX_SAVE_SECONDS", default=60.0)
# Two samples are near-duplicates when their embeddings' cosine distance or their pHashes' Hamming
# distance is at most this (a resized or re-encoded copy: distance ~0.01 and <= 4 bits).
NEAR_DUPLICATE_MAX_COSINE_DISTANCE = env.float("NEAR_DUPLICATE_MAX_COSINE_DISTANCE", default=0.05)
NEAR_DUPLICATE_MAX_HAMMING = env.int("NEAR_DUPLICATE_MAX_HAMMING", default=4)

# Vocabulary: the caption validator's English length target (IMDD-1M averages about 42 words).
# Click segmentation backends beyond GrabCut, each registered only when its local weights are named:
# a folder written by transformers' SamModel/SamProcessor.save_pretrained, and a checkpoint (or run
# folder) of `python -m modeling.train --stage click`.
SEGMENT_SAM_PATH = env.str("SEGMENT_SAM_PATH", default="")
SEGMENT_LEARNED_CHECKPOINT = env.str("SEGMENT_LEARNED_CHECKPOINT", default="")

CAPTION_TARGET_WORDS = env.int("CAPTION_TARGET_WORDS", default=42)

# Captioning: the LLM captioner talks to any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama).
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="")
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
CAPTION_MODEL = env.str("CAPTION_MODEL", default="")
CAPTION_VISION = env.bool("CAPTION_VISION", default=False)  # send the image as a data URL
CAPTION_TIMEOUT = env.float("CAPTION_TIMEOUT", default=60.0)
CAPTION_MAX_RETRIES = env.int("CAPTION_MAX_RETRIES", default=4)  # 429/5xx/timeouts, exponential backoff
# One limit per endpoint (OPENAI_BASE_URL), shared by every caption job on every worker: a token
# bucket in Redis (CAPTION_RATE_LIMIT_REDIS_URL; the broker's Redis by default) or, without Redis, a
# row in the database.
CAPTION_RATE_LIMIT_PER_MINUTE = env.int("CAPTION_RATE_LIMIT_PER_MINUTE", default=60)  # 0: no limit
# Empty (as .env.example has it) means the default too: the broker's Redis when there is one.
CAPTION_RATE_LIMIT_REDIS_URL = env.str("CAPTION_RATE_LIMIT_REDIS_URL", default="") or (
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else ""
)
CAPTION_PRICE_PROMPT_PER_MTOK = env.float("CAPTION_PRICE_PROMPT_PER_MTOK", default=0.0)
CAPTION_PRICE_COMPLETION_PER_MTOK = env.float("CAPTION_PRICE_COMPLETION_PER_MTOK", default=0.0)
CAPTION_TEMPLATE_SEED = env.int("CAPTION_TEMPLATE_SEED", default=0)
if JOB_STALE_SECONDS <= CAPTION_TIMEOUT * (CAPTION_MAX_RETRIES + 1):
    raise ImproperlyConfigured(
        "JOB_STALE_SECONDS must exceed CAPTION_TIMEOUT * (CAPTION_MAX_RETRIES + 1), the longest a healthy "
        "caption worker can wait for one reply"
    )

# The review pages' sign-in; the admin keeps its own.
LOGIN_URL = "review:login"
LOGIN_REDIRECT_URL = "review:home"
LOGOUT_REDIRECT_URL = "review:login"

# Error pages and reports mask passwords inside URLs too (OPENAI_BASE_URL, broker URLs).
DEFAULT_EXCEPTION_REPORTER_FILTER = "base.error_reports.CredentialsFilter"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# Annotation workflow (the state machine is in annotation/actions/)
# A claim is a lease of this many minutes (the client may renew it); then the sample goes back to its queue.
ANNOTATION_LEASE_MINUTES = env.int("ANNOTATION_LEASE_MINUTES", default=30)
# Stage 3: the verdict needs QUORUM agreeing votes from a panel of at most PANEL experts.
ANNOTATION_CONSENSUS_QUORUM = env.int("ANNOTATION_CONSENSUS_QUORUM", default=2)
ANNOTATION_CONSENSUS_PANEL = env.int("ANNOTATION_CONSENSUS_PANEL", default=3)
# "all": every reviewed sample goes to consensus (as in the IMDD paper). "sampled": only samples whose
# review changed the template or the regions' defect types, plus a random ANNOTATION_AUDIT_FRACTION of
# the others; the rest become VERIFIED after review.
ANNOTATION_CONSENSUS_MODE = env.str("ANNOTATION_CONSENSUS_MODE", default="all")
ANNOTATION_AUDIT_FRACTION = env.float("ANNOTATION_AUDIT_FRACTION", default=0.1)
# Blind mode: the API does not show annotators, reviewers and experts who did the other stages
# (data managers and admins still see everyone).
ANNOTATION_BLIND_MODE = env.bool("ANNOTATION_BLIND_MODE", default=False)
# Caption languages that must be filled at submit, approve and an edit vote.
ANNOTATION_REQUIRED_LANGUAGES = env.list("ANNOTATION_REQUIRED_LANGUAGES", default=["en", "zh", "ja"])
# The API schema names the workflow's enums (two of its fields share each choice set).
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] = {
    **SPECTACULAR_SETTINGS.get("ENUM_NAME_OVERRIDES", {}),
    "AnnotationStageEnum": "annotation.models.Stage",
    # Every job model shares one status enum (base/jobs.py); the other "status" and "format" fields
    # keep the names they had when each job had its own enum.
    "JobStatusEnum": "base.jobs.JobStatus",
    "LanguageEnum": "vocabulary.models.LANGUAGES",
    "TermStatusEnum": "vocabulary.models.TermStatus",
    "FacetEnum": "vocabulary.models.Facet",
    "ExportFormatEnum": "releases.models.ExportFormat",
    "DatasetVersionStatusEnum": "releases.models.VersionStatus",
}
if ANNOTATION_CONSENSUS_MODE not in ("all", "sampled"):
    raise ImproperlyConfigured("ANNOTATION_CONSENSUS_MODE is 'all' or 'sampled'")
if not 1 <= ANNOTATION_CONSENSUS_QUORUM <= ANNOTATION_CONSENSUS_PANEL:
    raise ImproperlyConfigured("ANNOTATION_CONSENSUS_QUORUM must be between 1 and ANNOTATION_CONSENSUS_PANEL")
if not 0.0 <= ANNOTATION_AUDIT_FRACTION <= 1.0:
    raise ImproperlyConfigured("ANNOTATION_AUDIT_FRACTION is a fraction between 0 and 1")
