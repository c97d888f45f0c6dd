"""What a request counts against (classes, overrides, exemptions) and fail-open."""

from __future__ import annotations

import logging
import socket
import time

import pytest

from quark import metrics
from quark.api.ratelimit import request_classes, whole_seconds
from quark.config import Settings
from quark.ratelimits.gcra import Rate, RedisGcra, Verdict
from quark.ratelimits.limiter import ALLOCATIONS, READS, WRITES, RateLimiter, class_rates, headline
from tests.redis_server import project, require_redis
from tests.servers import free_port


@pytest.mark.parametrize(
    ("method", "path", "classes"),
    [
        ("GET", "/v2.0/ports", (READS,)),
        ("HEAD", "/v2.0/networks/x", (READS,)),
        ("POST", "/v2.0/networks", (WRITES,)),
        ("PUT", "/v2.0/ports/x", (WRITES,)),
        ("DELETE", "/v2.0/ports/x", (WRITES,)),
        ("PATCH", "/v2.0/ports/x", (WRITES,)),
        ("POST", "/v2.0/ports", (WRITES, ALLOCATIONS)),
        ("POST", "/v2.0/instances", (WRITES, ALLOCATIONS)),
        ("POST", "/v2.0/ip_addresses", (WRITES, ALLOCATIONS)),
        ("POST", "/v2.0/floatingips", (WRITES, ALLOCATIONS)),
        ("POST", "/v2.0/ports/x/tags", (WRITES,)),
    ],
)
def test_request_classes(method, path, classes):
    assert request_classes(method, path) == classes


def test_class_rates_leave_out_unlimited_classes():
    assert class_rates({READS: 10, WRITES: 0, ALLOCATIONS: -1}, 30) == {READS: Rate(10, 30)}


def test_headline_is_the_tightest_class():
    roomy, tight = Verdict(100, 50, 1, 0), Verdict(10, 3, 1, 0)
    assert headline(True, {WRITES: roomy, ALLOCATIONS: tight}) == (ALLOCATIONS, tight)
    refused = Verdict(10, 0, 60, 6)
    assert headline(False, {WRITES: roomy, ALLOCATIONS: refused}) == (ALLOCATIONS, refused)


def test_whole_seconds_round_up():
    assert [whole_seconds(s) for s in (0, 0.2, 1.0, 1.00001, 5.5)] == [0, 1, 1, 2, 6]


def settings(**changes) -> Settings:
    return Settings(rate_limit_redis_url="redis://127.0.0.1:1/0").replace(**changes)


def test_off_without_a_store_or_when_disabled():
    assert RateLimiter.from_settings(Settings()) is None
    assert RateLimiter.from_settings(settings(rate_limit_enabled=False)) is None


def test_overrides_replace_the_defaults_per_class():
    limiter = RateLimiter.from_settings(
        settings(rate_limit_reads=50, rate_limit_period=10, rate_limit_overrides={"big": {"writes": 5000}})
    )
    assert limiter is not None
    assert limiter.rates_for("big", (READS, WRITES)) == {READS: Rate(50, 10), WRITES: Rate(5000, 10)}
    assert limiter.rates_for("other", (WRITES, ALLOCATIONS)) == {WRITES: Rate(1200, 10), ALLOCATIONS: Rate(600, 10)}


def test_the_lease_setting_reaches_the_limiter():
    leased = RateLimiter.from_settings(settings(rate_limit_lease=20))
    exact = RateLimiter.from_settings(settings(rate_limit_lease=0))
    assert leased is not None and exact is not None
    assert leased.leases.leased({READS: Rate(6000, 60)}) and not exact.leases.leased({READS: Rate(6000, 60)})
    assert not leased.leases.leased({READS: Rate(6000, 60), ALLOCATIONS: Rate(100, 60)})  # one exact class: exact


def test_exempt_roles_in_the_token_or_the_service_token():
    limiter = RateLimiter.from_settings(settings(rate_limit_exempt_roles=" Admin , service"))
    assert limiter is not None
    assert limiter.exempt(frozenset({"admin", "member"}))
    assert limiter.exempt(frozenset({"member"}), frozenset({"service"}))
    assert not limiter.exempt(frozenset({"member", "reader"}))
    only_service = RateLimiter.from_settings(settings(rate_limit_exempt_roles="service"))
    assert only_service is not None and not only_service.exempt(frozenset({"admin"}))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def store_errors() -> float:
    return metrics.RATE_LIMIT_STORE_ERRORS._value.get()


async def test_a_dead_store_lets_requests_through_logs_once_and_is_retried_later(caplog):
    clock = Clock()
    dead = RedisGcra(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)  # nothing listens there
    limiter = RateLimiter(dead, {WRITES: Rate(1, 60)}, clock=clock)
    before = store_errors()
    with caplog.at_level(logging.WARNING, logger="quark.ratelimits.limiter"):
        assert await limiter.check(project(), [WRITES]) is None
        assert store_errors() == before + 1
        assert await limiter.check(project(), [WRITES]) is None  # within the retry interval: not asked
        assert store_errors() == before + 1
        clock.now += 1.5
        assert await limiter.check(project(), [WRITES]) is None  # asked again, failed again
        assert store_errors() == before + 2
    assert len([r for r in caplog.records if "rate-limit store failed" in r.message]) == 1
    await limiter.close()


async def test_refusals_are_counted_by_class():
    limiter = RateLimiter(RedisGcra(require_redis(), 2.0), {WRITES: Rate(5, 60), ALLOCATIONS: Rate(1, 60)})
    who = project()
    counter = metrics.RATE_LIMIT_REFUSALS.labels(ALLOCATIONS)
    before = counter._value.get()
    first = await limiter.check(who, [WRITES, ALLOCATIONS])
    assert first is not None and first.allowed and first.kind == ALLOCATIONS and first.verdict.remaining == 0
    second = await limiter.check(who, [WRITES, ALLOCATIONS])
    assert second is not None and not second.allowed and second.kind == ALLOCATIONS
    assert counter._value.get() == before + 1
    assert await limiter.check(who, [READS]) is None  # reads are not limited here
    await limiter.close()


async def test_a_store_that_never_answers_costs_at_most_the_timeout():
    """A Redis that accepts and then says nothing (hung, or packets dropped)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        hung = RedisGcra(f"redis://127.0.0.1:{silent.getsockname()[1]}/0", timeout=0.3)
        limiter = RateLimiter(hung, {READS: Rate(1, 60)})
        before = store_errors()
        started = time.monotonic()
        assert await limiter.check(project(), [READS]) is None
        assert 0.25 < time.monotonic() - started < 2.0
        assert store_errors() == before + 1
        await limiter.close()
