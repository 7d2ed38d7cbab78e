"""Docker cannot run on the development machines, so the deployment files are checked by reading:
every variable they set is one the settings read and .env.example documents."""

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_SOURCE = "\n".join(p.read_text() for p in (ROOT / "config" / "settings").glob("*.py"))
# Variables read by libraries or the process itself rather than by settings/*.py.
READ_ELSEWHERE = {"DJANGO_SETTINGS_MODULE"}


def documented_variables() -> set[str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return {line.split("=", 1)[0] for line in lines if re.match(r"^[A-Z0-9_]+=", line)}


def read_by_settings() -> set[str]:
    return set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z0-9_]+)"', SETTINGS_SOURCE)) | set(
        re.findall(r'os\.environ\.setdefault\("([A-Z0-9_]+)"', SETTINGS_SOURCE)
    )


def test_env_example_documents_exactly_what_settings_read():
    assert documented_variables() - READ_ELSEWHERE == read_by_settings()


def test_compose_sets_only_variables_the_settings_read():
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    for name, service in compose["services"].items():
        environment = service.get("environment", {})
        if name in ("postgres", "minio", "create-bucket"):  # infrastructure, not the platform
            continue
        assert set(environment) <= documented_variables(), name


def test_compose_services_and_images():
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    assert {"postgres", "redis", "minio", "web", "worker", "gpu-worker"} <= set(compose["services"])
    for name in ("web", "worker", "gpu-worker"):
        dockerfile = ROOT / compose["services"][name]["build"]["dockerfile"]
        assert dockerfile.is_file(), dockerfile
    worker_queues = compose["services"]["worker"]["command"].split("-Q ")[1].split()[0].split(",")
    gpu_command = (ROOT / "docker" / "gpu-worker.Dockerfile").read_text()
    assert set(worker_queues) | {"train"} == {"default", "ingest", "caption", "export", "train"}
    assert '"-Q", "train"' in gpu_command


def installed_package_patterns() -> list[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return pyproject["tool"]["setuptools"]["packages"]["find"]["include"]


def test_dockerfiles_copy_every_package_the_project_installs():
    packages = {pattern.rstrip("*") for pattern in installed_package_patterns()}
    for dockerfile in ("Dockerfile", "gpu-worker.Dockerfile"):
        text = (ROOT / "docker" / dockerfile).read_text()
        for package in packages:
            assert f"COPY {package} ./{package}" in text, (dockerfile, package)


def test_production_settings_refuse_to_start_without_a_secret_key():
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL"))}
    environment["DJANGO_SETTINGS_MODULE"] = "config.settings.production"
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "Set DJANGO_SECRET_KEY" in result.stderr


@pytest.mark.slow  # a fresh interpreter that sets Django up
def test_with_no_environment_the_platform_runs_embedded():
    environment = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "config.settings.local"}
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL, s.STORAGES['default']['BACKEND'])"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True)
    assert result.stdout.split() == [
        "django.db.backends.sqlite3",
        "filesystem://",
        "django.core.files.storage.FileSystemStorage",
    ], result.stderr


@pytest.mark.parametrize(
    "entry_point", ["import config.wsgi", "import config.asgi", "from config.celery_app import app"]
)
def test_a_server_entry_point_refuses_to_start_without_a_settings_module(tmp_path, entry_point):
    """A server install (no developer .env) never falls back to the development settings."""
    shutil.copytree(ROOT / "config", tmp_path / "config")  # the package as an image holds it: no .env beside
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL"))}
    environment["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(ROOT)])
    result = subprocess.run(
        [sys.executable, "-c", entry_point], cwd=tmp_path, env=environment, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "DJANGO_SETTINGS_MODULE is not set" in result.stderr


def test_manage_py_refuses_to_start_without_a_settings_module(tmp_path):
    shutil.copytree(ROOT / "config", tmp_path / "config")
    shutil.copy(ROOT / "manage.py", tmp_path / "manage.py")
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL"))}
    environment["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(ROOT)])
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=tmp_path, env=environment, capture_output=True, text=True
    )
    assert result.returncode != 0 and "DJANGO_SETTINGS_MODULE is not set" in result.stderr


@pytest.mark.slow  # a fresh `manage.py check --deploy` process
def test_production_settings_pass_the_deploy_checks():
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL"))}
    environment.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY="x" * 20 + "-a-long-random-production-key-" + "y" * 20,
        DJANGO_ALLOWED_HOSTS="imdd.example.com",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def _view_that_fails(endpoint: str):
    raise RuntimeError("could not reach the endpoint")  # `endpoint` is a frame variable on the page


def _debug_page(request) -> str:
    from django.views.debug import technical_500_response

    try:
        # Built at run time, so that the page's source excerpt does not hold the password itself.
        _view_that_fails(f"https://alice:{'-'.join(['local', 'pw'])}@llm.example.com/v1")
    except RuntimeError:
        return technical_500_response(request, *sys.exc_info()).content.decode()


def test_the_debug_error_page_masks_passwords_inside_urls(settings, rf):
    settings.DEBUG = True
    settings.OPENAI_BASE_URL = "https://alice:s3cr3t-token@llm.example.com/v1"
    settings.CELERY_BROKER_URL = "redis://:broker-pw@redis.example.com:6379/0"
    request = rf.get("/api/samples/", HTTP_X_UPSTREAM="https://bob:header-pw@upstream.example.com/")

    page = _debug_page(request)

    assert "s3cr3t-token" not in page and "broker-pw" not in page and "header-pw" not in page
    assert "local-pw" not in page  # a frame's local variable too
    assert "llm.example.com" in page and "alice" in page  # the rest of the URL still helps the reader


def test_compose_writes_no_secret():
    compose = (ROOT / "docker" / "compose.yaml").read_text()
    for secret_word in ("PASSWORD", "SECRET"):
        for line in compose.splitlines():
            name, _, value = line.strip().partition(":")
            if secret_word in name and value.strip():
                assert value.strip().startswith("${"), line
