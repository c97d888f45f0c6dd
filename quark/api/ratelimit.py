"""Per-project rate limits at the API edge (ASGI), after authentication.

Sits inside ``QuarkMiddleware`` (the request's ``Context`` is known, the 429 gets
the request id and its access-log line) and outside the routes. Each request is
classed by its method and path (``request_classes``), charged to its project
through ``quark.ratelimits`` and either refused with 429 (``Retry-After``, the
``X-RateLimit-*`` headers, Neutron's error body) or served with the
``X-RateLimit-*`` headers of its tightest class added. Public paths, callers
with no project and exempt roles pass untouched and without headers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from time import perf_counter, thread_time
from typing import Any

from starlette.routing import BaseRoute, Match

from quark import metrics
from quark.api.auth import PUBLIC_PATHS
from quark.api.faults import error_body, send_json
from quark.ratelimits.gcra import Verdict
from quark.ratelimits.limiter import ALLOCATIONS, READS, WRITES, Outcome, RateLimiter

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Creates that take IP addresses: a port (single or bulk), an instance's ports, a
# Quark ip_address, a floating IP. They count as writes and as allocations.
ALLOCATING_CREATES = frozenset({"/v2.0/ports", "/v2.0/instances", "/v2.0/ip_addresses", "/v2.0/floatingips"})
TOO_MANY = "HTTPTooManyRequests"  # Neutron's type: webob's exception name, as for every HTTP error


def request_classes(method: str, path: str) -> tuple[str, ...]:
    """The classes a request counts in (``path`` without a ``.json`` suffix)."""
    if method in READ_METHODS:
        return (READS,)
    if method == "POST" and path.rstrip("/") in ALLOCATING_CREATES:
        return (WRITES, ALLOCATIONS)
    return (WRITES,)


def whole_seconds(seconds: float) -> int:
    """Headers carry whole seconds, rounded up: waiting that long is always enough."""
    return max(0, math.ceil(seconds - 1e-6))


def limit_headers(verdict: Verdict) -> list[tuple[bytes, bytes]]:
    """``X-RateLimit-Reset``: seconds until the class is back to a full burst."""
    return [
        (b"x-ratelimit-limit", str(verdict.limit).encode()),
        (b"x-ratelimit-remaining", str(verdict.remaining).encode()),
        (b"x-ratelimit-reset", str(whole_seconds(verdict.reset)).encode()),
    ]


def refusal_message(project_id: str, outcome: Outcome, retry_after: int, period: float) -> str:
    return (
        f"Rate limit exceeded for project {project_id}: {outcome.verdict.limit} {outcome.kind} "
        f"per {period:g} seconds. Retry after {retry_after} second(s)."
    )


def matching_route(routes: Sequence[BaseRoute], scope: dict[str, Any]) -> BaseRoute | None:
    """The route that would have served a refused request, for its metrics' label (the
    request metrics read ``scope["route"]``; a 429 is answered before routing)."""
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route
    return None


class RateLimit:
    def __init__(self, app, limiter: RateLimiter, period: float, routes: Sequence[BaseRoute] = ()) -> None:
        """``routes``: the application's (the same list, so routes added later count too)."""
        self.app = app
        self.limiter = limiter
        self.period = period
        self.routes = routes

    async def __call__(self, scope, receive, send) -> None:
        """What it adds to a request goes to ``quark_rate_limit_check_duration_seconds``:
        its CPU time (the check, the headers, a 429; not the route, and not the time the
        OS gave to other processes), or its wall time when the check waited for Redis."""
        started, cpu = perf_counter(), thread_time()
        outcome = await self._check(scope) if scope["type"] == "http" else None
        if outcome is None:
            await self.app(scope, receive, send)
            return
        headers = limit_headers(outcome.verdict)
        if not outcome.allowed:
            retry_after = max(1, whole_seconds(outcome.verdict.retry_after))
            project_id = scope["state"]["ctx"].project_id
            body = error_body(TOO_MANY, refusal_message(project_id, outcome, retry_after, self.period))
            if (route := matching_route(self.routes, scope)) is not None:
                scope["route"] = route  # counted under its route, not "unmatched"
            own = (perf_counter() - started) if outcome.waited else thread_time() - cpu
            metrics.RATE_LIMIT_CHECK_DURATION.observe(own)
            await send_json(send, 429, body, [(b"retry-after", str(retry_after).encode()), *headers])
            return
        own = (perf_counter() - started) if outcome.waited else thread_time() - cpu

        async def send_with_limits(message) -> None:
            if message["type"] == "http.response.start":
                nonlocal own
                begun = thread_time()
                message["headers"] = [*message.get("headers", ()), *headers]
                own += thread_time() - begun
            await send(message)

        await self.app(scope, receive, send_with_limits)
        metrics.RATE_LIMIT_CHECK_DURATION.observe(own)

    async def _check(self, scope: dict[str, Any]) -> Outcome | None:
        ctx = scope.get("state", {}).get("ctx")
        if ctx is None or not ctx.project_id or scope["path"] in PUBLIC_PATHS:
            return None
        if self.limiter.exempt(ctx.roles, ctx.service_roles):
            return None
        return await self.limiter.check(ctx.project_id, request_classes(scope["method"], scope["path"]))
