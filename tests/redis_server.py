"""The local Redis (127.0.0.1:6379) for the rate-limit tests.

Every test uses its own project ids (keys ``quark:rl:{project}:<class>``), so
nothing is flushed and tests sharing the server do not see each other. A Redis
that does not answer is a skip, or a failure when CI=true (as tests/dbs.py
treats the database servers).
"""

from __future__ import annotations

import os
import uuid

import pytest

REDIS_URL = os.environ.get("QUARK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def require_redis() -> str:
    """REDIS_URL once it answers a PING."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Redis not reachable in CI at {REDIS_URL}: {exc}")
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    finally:
        client.close()
    return REDIS_URL


def project() -> str:
    return f"rl-{uuid.uuid4().hex[:12]}"
