"""Request metrics are labelled by route template, never by raw path, through the real middleware."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from quark import metrics
from quark.api.middleware import QuarkMiddleware, route_template


async def ok(request):
    return PlainTextResponse("ok")


def app() -> Starlette:
    application = Starlette(
        routes=[Route("/v2.0/ports/{id}", ok, methods=["GET"]), Route("/v2.0/ports/{id}", ok, methods=["PUT"])]
    )
    application.add_middleware(QuarkMiddleware)
    return application


def count(method: str, route: str, status: str) -> float:
    labels = {"method": method, "route": route, "status": status}
    return REGISTRY.get_sample_value("quark_http_requests_total", labels) or 0.0


async def load() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app()), base_url="http://quark") as client:
        for _ in range(3):
            assert (await client.get(f"/v2.0/ports/{uuid.uuid4()}")).status_code == 200
        assert (await client.get(f"/v2.0/ports/{uuid.uuid4()}.json")).status_code == 200  # Neutron's suffix
        assert (await client.put(f"/v2.0/ports/{uuid.uuid4()}")).status_code == 200
        assert (await client.delete(f"/v2.0/ports/{uuid.uuid4()}")).status_code == 405  # partial match: its route
        assert (await client.get(f"/elsewhere/{uuid.uuid4()}")).status_code == 404


def test_route_template_of_a_scope():
    assert route_template({}) is None
    assert route_template({"route": Route("/v2.0/networks/{id}", ok)}) == "/v2.0/networks/{id}"


def test_requests_are_counted_by_template_and_status():
    before = {
        key: count(*key)
        for key in [
            ("GET", "/v2.0/ports/{id}", "200"),
            ("PUT", "/v2.0/ports/{id}", "200"),
            ("DELETE", "/v2.0/ports/{id}", "405"),
            ("GET", metrics.UNMATCHED, "404"),
        ]
    }
    asyncio.run(load())
    after = {key: count(*key) for key in before}
    assert {key: after[key] - before[key] for key in before} == {
        ("GET", "/v2.0/ports/{id}", "200"): 4,
        ("PUT", "/v2.0/ports/{id}", "200"): 1,
        ("DELETE", "/v2.0/ports/{id}", "405"): 1,
        ("GET", metrics.UNMATCHED, "404"): 1,
    }
    raw = [
        s.labels["route"]
        for family in REGISTRY.collect()
        if family.name == "quark_http_requests"
        for s in family.samples
        if "/v2.0/ports/" in s.labels.get("route", "") and "{id}" not in s.labels["route"]
    ]
    assert raw == []


def test_unknown_methods_share_one_label():
    before = REGISTRY.get_sample_value("quark_http_request_duration_seconds_count", {"method": "other", "route": "/x"})
    metrics.observe_request("BREW", "/x", 418, 0.01)
    after = REGISTRY.get_sample_value("quark_http_request_duration_seconds_count", {"method": "other", "route": "/x"})
    assert after == (before or 0.0) + 1
