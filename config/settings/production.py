"""Production: DEBUG off (base.py then requires DJANGO_SECRET_KEY), TLS everywhere behind a proxy
that sets X-Forwarded-Proto. `manage.py check --deploy` is clean with these settings."""

from .base import *  # noqa: F403
from .base import env

SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SSL_REDIRECT", default=True)
# Browsers remember HSTS: start with an hour, raise it once TLS is known to work everywhere.
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", default=False)
# Including subdomains and asking for the browsers' preload list cannot be undone quickly and depend
# on the domain, not on this application: an operator's decision (DJANGO_HSTS_INCLUDE_SUBDOMAINS),
# so the deploy check does not ask for them.
SILENCED_SYSTEM_CHECKS = ["security.W005", "security.W021"]
