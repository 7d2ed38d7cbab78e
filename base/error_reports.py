"""Error reports (Django's debug page, error e-mails) without credentials.

Django hides settings whose names look secret (KEY, TOKEN, PASS, ...), but a URL carries its own:
OPENAI_BASE_URL=https://user:token@host/v1 or a broker URL with a password were shown whole.
Any setting or request variable that is a URL with a password is shown with the password masked."""

from urllib.parse import urlsplit, urlunsplit

from django.views.debug import SafeExceptionReporterFilter


def without_password(value: str) -> str:
    if "://" not in value or "@" not in value:
        return value
    try:
        parts = urlsplit(value)
        password = parts.password
    except ValueError:
        return value
    if not password:
        return value
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit(
        parts._replace(netloc=f"{parts.username or ''}:{SafeExceptionReporterFilter.cleansed_substitute}@{host}")
    )


class CredentialsFilter(SafeExceptionReporterFilter):
    def cleanse_setting(self, key, value):
        value = super().cleanse_setting(key, value)
        return without_password(value) if isinstance(value, str) else value

    def get_traceback_frame_variables(self, request, tb_frame):
        return [
            (name, without_password(value) if isinstance(value, str) else value)
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]
