"""`make run` on a laptop: DEBUG on, embedded services (see base.py)."""

import os

os.environ.setdefault("DJANGO_DEBUG", "1")

from .base import *  # noqa: E402,F403
