"""One request rate per LLM endpoint, shared by every caption job on every worker.

The limit is a token bucket holding one token, refilled every 60 / CAPTION_RATE_LIMIT_PER_MINUTE
seconds: requests are spaced evenly, whoever sends them. A caller reserves the next free slot of the
endpoint (one atomic step on shared state) and sleeps until it; a reservation that is never used is
simply lost, which errs on the side of the endpoint.

The shared state is a Redis key when Redis is there (CAPTION_RATE_LIMIT_REDIS_URL, by default the
broker's Redis), else a row of EndpointRateLimit in the database (the embedded setup, or a
RabbitMQ broker). Redis slots come from the Redis server's clock; database slots from the clocks
of the workers, which must agree (NTP) when they run on several machines.
"""

import hashlib
import time
from datetime import timedelta
from functools import lru_cache
from urllib.parse import urlsplit, urlunsplit

import redis
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .models import EndpointRateLimit

# KEYS[1]: the endpoint's key; ARGV[1]: the interval in microseconds. Returns the microseconds the
# caller waits for its slot. The key expires once its slot has passed: an idle endpoint leaves nothing.
RESERVE_SLOT = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local next_slot = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, next_slot)
local following = slot + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%d', following), 'PX', math.ceil((following - now) / 1000) + 1000)
return slot - now
"""


def endpoint_key(base_url: str) -> str:
    """The endpoint's name without credentials (they would show in Redis and in the database)."""
    parts = urlsplit(base_url or "https://api.openai.com/v1")
    netloc = parts.netloc.rsplit("@", 1)[-1].lower()
    return urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), "", ""))


class EndpointRateLimiter:
    def __init__(self, *, endpoint: str, per_minute: int, redis_url: str = ""):
        self.endpoint = endpoint_key(endpoint)
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self.redis_url = redis_url

    def wait(self) -> None:
        """Block until this caller's turn to send one request."""
        delay = self.reserve()
        if delay > 0:
            time.sleep(delay)

    def reserve(self) -> float:
        """Take the endpoint's next free slot; returns the seconds until it (0: now)."""
        if not self.interval:
            return 0.0
        if self.redis_url:
            return self._reserve_in_redis()
        return self._reserve_in_database()

    def _reserve_in_redis(self) -> float:
        key = "imdd:caption-rate:" + hashlib.sha256(self.endpoint.encode()).hexdigest()[:24]
        waited = _reserve_script(self.redis_url)(keys=[key], args=[round(self.interval * 1_000_000)])
        return int(waited) / 1_000_000

    def _reserve_in_database(self) -> float:
        interval = timedelta(seconds=self.interval)
        EndpointRateLimit.objects.get_or_create(endpoint=self.endpoint, defaults={"next_slot_at": timezone.now()})
        with transaction.atomic():
            # A write first takes the row's lock on PostgreSQL (and SQLite's write lock, if a
            # deployment's SQLite transactions are not IMMEDIATE).
            EndpointRateLimit.objects.filter(endpoint=self.endpoint).update(next_slot_at=F("next_slot_at"))
            row = EndpointRateLimit.objects.get(endpoint=self.endpoint)
            now = timezone.now()
            slot = max(now, row.next_slot_at)
            EndpointRateLimit.objects.filter(pk=row.pk).update(next_slot_at=slot + interval)
        return (slot - now).total_seconds()


@lru_cache(maxsize=4)
def _reserve_script(redis_url: str):
    return redis.Redis.from_url(redis_url).register_script(RESERVE_SLOT)


def endpoint_rate_limiter() -> EndpointRateLimiter:
    """The limiter of the configured endpoint."""
    return EndpointRateLimiter(
        endpoint=settings.OPENAI_BASE_URL,
        per_minute=settings.CAPTION_RATE_LIMIT_PER_MINUTE,
        redis_url=settings.CAPTION_RATE_LIMIT_REDIS_URL,
    )
