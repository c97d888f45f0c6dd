"""The ASGI application: routes, error handling, and process start-up.

``create_app()`` reads the settings from the environment so that every
uvicorn worker process builds the same app (``quark serve`` exports them).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from quark import errors, logs, metrics
from quark.api import (
    auto_allocate,
    dataplane,
    discovery,
    external_ipam,
    flavors,
    health,
    instances,
    ip_addresses,
    l3_agents,
    member_actions,
    openapi,
    port_forwardings,
    quotas,
    routers,
)
from quark.api.auth import KeystoneAuth
from quark.api.consistency import ReadConsistency
from quark.api.dashboard import routes as dashboard
from quark.api.definitions.catalog import SERVED
from quark.api.faults import ErrorBoundary, allowed_methods, error_body, quark_error_handler
from quark.api.middleware import QuarkMiddleware
from quark.api.ratelimit import RateLimit
from quark.api.resources import CollectionRoutes
from quark.api.responses import json_response
from quark.config import Settings, load_settings
from quark.db import migrate
from quark.db.engine import Database
from quark.parent_death import die_with_parent
from quark.policy import Policy
from quark.ratelimits.limiter import RateLimiter
from quark.services.addressing.mac_ranges import ensure_default_range
from quark.services.core.segment_ranges import ensure_seed_ranges
from quark.services.registry import Services, build_services

LOG = logging.getLogger(__name__)


def _service(name: str):
    def get(request: Request):
        return getattr(request.app.state.services, name)

    return get


async def openapi_json(request: Request) -> Response:
    return json_response(openapi.document())


async def http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return json_response(
            error_body(
                "HTTPMethodNotAllowed",
                "The server could not comply with the request since it is either malformed or otherwise incorrect.",
            ),
            405,
            {"Allow": allowed_methods(request)},
        )
    if exc.status_code == 404:
        return json_response(error_body("HTTPNotFound", "The resource could not be found."), 404)
    return json_response(error_body("HTTPBadRequest", str(exc.detail)), exc.status_code)


def build_routes() -> list[Route]:
    routes = list(discovery.ROUTES) + health.ROUTES
    routes.append(Route("/openapi.json", openapi_json, methods=["GET"]))
    for resource, name in SERVED:
        routes += CollectionRoutes(resource, _service(name)).routes()
    routes += instances.ROUTES
    routes += ip_addresses.ROUTES
    routes += external_ipam.ROUTES
    routes += routers.ROUTES
    routes += port_forwardings.ROUTES
    routes += member_actions.ROUTES
    routes += dataplane.ROUTES
    routes += l3_agents.ROUTES
    routes += quotas.ROUTES
    routes += auto_allocate.ROUTES
    routes += flavors.ROUTES
    routes += dashboard.ROUTES
    return routes


async def prepare_database(db: Database, settings: Settings) -> None:
    """SQLite files are migrated on start; server databases must already be current."""
    if db.dialect == "sqlite":
        current = await migrate.current_revision(db)
        if current != migrate.head_revision():
            await db.engine.dispose()
            await asyncio.to_thread(migrate.upgrade, str(db.url.render_as_string(hide_password=False)))
    await migrate.check_current(db)
    await ensure_default_range(db, settings.default_mac_range)
    await ensure_seed_ranges(db, settings.segment_ranges)


def settle_heap() -> None:
    """Freeze what start-up built and collect the young generation less often.

    Request handling allocates many short-lived dicts (rows, views); with the
    default threshold (700) the collector runs every few requests and, when
    it reaches the old generation, scans every long-lived object of the
    process. Frozen start-up objects are never scanned; a higher threshold
    trades a little memory for fewer pauses in the latency tail.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def create_app(settings: Settings | None = None, services: Services | None = None) -> Starlette:
    settings = settings or load_settings()
    limiter = RateLimiter.from_settings(settings)  # None: rate limits off (docs/rate_limits.md)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        nonlocal services
        if services is None:
            db = Database(
                settings.effective_database_url,
                pool_size=settings.db_pool_size,
                max_overflow=settings.db_max_overflow,
                max_attempts=settings.db_max_attempts,
                replica_url=settings.database_replica_url,
                replica_max_lag=settings.replica_max_lag,
            )
            await prepare_database(db, settings)
            services = build_services(db, settings)
        app.state.services = services
        metrics.forget_dead_processes()  # the live gauges of a worker this one replaces
        settle_heap()
        # The services choose them (quark.services.background): a stand-in that lists none runs none.
        stop = asyncio.Event()
        tasks = [asyncio.create_task(task.run(stop)) for task in services.periodic_tasks]
        try:
            yield
        finally:
            stop.set()
            for task in tasks:
                await task
            if limiter is not None:
                await limiter.close()
            await services.db.dispose()
            metrics.process_exiting()

    app = Starlette(
        routes=build_routes(),
        lifespan=lifespan,
        exception_handlers={
            errors.QuarkError: quark_error_handler,
            HTTPException: http_exception,
        },
    )
    app.state.settings = settings
    app.state.policy = Policy(settings.policy_file)
    keystone = KeystoneAuth(settings.keystone_authtoken) if settings.auth_strategy == "keystone" else None
    # Inside out: ErrorBoundary answers unhandled errors before QuarkMiddleware
    # adds the request id and writes the access log line; the rate limit needs
    # QuarkMiddleware's context and refuses before any route runs.
    app.add_middleware(ErrorBoundary)
    if settings.database_replica_url:  # read-your-writes tokens (quark.api.consistency)
        app.add_middleware(ReadConsistency, max_age=int(settings.replica_max_lag) + 60)
    if limiter is not None:
        app.add_middleware(RateLimit, limiter=limiter, period=settings.rate_limit_period, routes=app.router.routes)
    app.add_middleware(QuarkMiddleware, keystone=keystone)
    return app


def app_factory() -> Starlette:
    """Entry point for uvicorn workers (``--factory``)."""
    die_with_parent()  # a worker must not outlive a killed master (quark.parent_death)
    settings = load_settings()
    if not logging.getLogger().handlers:
        # Worker processes are spawned: they log like `quark serve` itself
        # (transaction retries, WARNING, are what the benchmarks count).
        logs.configure(settings.log_level, settings.log_format)
    return create_app(settings)
