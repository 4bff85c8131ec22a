"""A Celery task for the worker tests: counts its starts and finishes in Redis, waits for a go."""

import redis
from celery import shared_task
from django.conf import settings

# Bounds the wait so a probe left behind by a failed test cannot hold a worker for long.
GO_TIMEOUT_SECONDS = 30


def probe_redis() -> redis.Redis:
    assert settings.REDIS_URL, "the probe needs the Redis broker"
    return redis.Redis.from_url(settings.REDIS_URL)


def probe_key(run_id: str, name: str) -> str:
    return f"yunzhen-test:celery-probe:{run_id}:{name}"


@shared_task(acks_late=True)
def celery_probe_task(run_id: str) -> str:
    """Count a start, block until the test pushes a go, then count a finish."""
    client = probe_redis()
    client.incr(probe_key(run_id, "started"))
    if client.blpop([probe_key(run_id, "go")], timeout=GO_TIMEOUT_SECONDS) is None:
        raise TimeoutError(f"probe {run_id} got no go within {GO_TIMEOUT_SECONDS} s")
    client.incr(probe_key(run_id, "finished"))
    return run_id
