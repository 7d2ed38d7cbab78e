"""What every entry point (manage.py, the WSGI and ASGI apps, the Celery app) checks first.

None of them guesses its settings: a server started without DJANGO_SETTINGS_MODULE would otherwise
come up with the development settings — DEBUG on, a published secret key, and error pages that
show the configuration."""

import os
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent


class SettingsModuleMissing(SystemExit):
    pass


def require_settings_module(dotenv: Path = REPOSITORY / ".env") -> str:
    """The settings module named by the environment (or by the checkout's .env file, where a
    developer's `make install` wrote config.settings.local); refuses to go on without one."""
    if "DJANGO_SETTINGS_MODULE" not in os.environ:
        if dotenv.is_file():
            for line in dotenv.read_text().splitlines():
                name, _, value = line.partition("=")
                if name.strip() == "DJANGO_SETTINGS_MODULE" and value.strip():
                    os.environ["DJANGO_SETTINGS_MODULE"] = value.strip().strip("'\"")
    if not os.environ.get("DJANGO_SETTINGS_MODULE"):
        raise SettingsModuleMissing(
            "DJANGO_SETTINGS_MODULE is not set: use config.settings.production on a server, "
            "config.settings.local for development (or put it in .env)"
        )
    return os.environ["DJANGO_SETTINGS_MODULE"]
