"""Production: DEBUG off (base.py then requires DJANGO_SECRET_KEY), secure cookies behind TLS."""

from .base import *  # noqa: F403
from .base import env

SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
