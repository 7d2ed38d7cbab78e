# The GPU worker: the Celery `train` queue, which runs training as `torchrun` subprocesses.
# Build from the repository root: docker build -f docker/gpu-worker.Dockerfile .
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    PIP_BREAK_SYSTEM_PACKAGES=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-pip python3-venv python3-dev g++ libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY config ./config
COPY base ./base
COPY accounts ./accounts
COPY vocabulary ./vocabulary
COPY catalog ./catalog
COPY annotation ./annotation
COPY captioning ./captioning
COPY segmentation ./segmentation
COPY releases ./releases
COPY modeling ./modeling
COPY frontend_static ./frontend_static
COPY manage.py ./
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir ".[train]"
ENV PATH=/opt/venv/bin:$PATH

RUN DJANGO_SECRET_KEY=collectstatic-only STATIC_ROOT=/app/static python3 manage.py collectstatic --noinput
ENV STATIC_ROOT=/app/static
RUN useradd --create-home imdd && mkdir -p /app/var && chown imdd /app/var
USER imdd
CMD ["celery", "-A", "config", "worker", "-Q", "train", "--concurrency", "1", "--loglevel", "INFO"]
