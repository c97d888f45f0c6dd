"""The dashboard's pages (docs/dashboard.md). Each handler parses the query,
calls services (the same visibility and policy as the API's lists, through
``listing.visible_page``) and renders a template; every list is one page."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from quark import errors
from quark.api.dashboard import search, session
from quark.api.dashboard.listing import PAGE, Page, page_query, visible_page
from quark.api.definitions.core import MAC_ADDRESS_RANGE, SUBNET
from quark.api.definitions.dataplane import AGENT, SEGMENT_ALLOCATION_RANGE
from quark.api.definitions.jobs import JOB
from quark.api.definitions.pools import SUBNETPOOL
from quark.api.faults import status_for
from quark.api.resources import authorizer, ctx_of
from quark.db.jobs_model import FAILED, QUEUED, RUNNING, SUCCEEDED
from quark.ipam.grid import leaf_prefix
from quark.services.common.listing import ListQuery

TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
MAX_FORM = 16_384  # bytes of a login form read
JOB_STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED)


def render(request: Request, template: str, code: int = 200, **values: Any) -> HTMLResponse:
    ctx = request.scope.get("state", {}).get("ctx")
    keystone = request.app.state.settings.auth_strategy == "keystone"
    html = TEMPLATES.get_template(template).render(ctx=ctx, keystone=keystone, request=request, **values)
    return HTMLResponse(html, code, headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"})


Handler = Callable[[Request], Awaitable[Response]]


def page(handler: Handler) -> Handler:
    """A Quark error answered as an HTML page with the API's status (404, 403, 400, ...)."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except errors.QuarkError as exc:
            return render(request, "error.html", status_for(exc), message=exc.msg, status=status_for(exc))

    return wrapped


def services(request: Request) -> Any:
    return request.app.state.services


@page
async def overview(request: Request) -> Response:
    svc = services(request)
    subnets = await visible_page(request, SUBNET, svc.subnets, page_query(request))
    use = await svc.utilization.subnets(ctx_of(request), [s["id"] for s in subnets.items])
    pools = await visible_page(request, SUBNETPOOL, svc.subnet_pools, ListQuery(limit=PAGE))
    pool_use = await svc.utilization.pools(ctx_of(request), [p["id"] for p in pools.items])
    macs = await visible_page(request, MAC_ADDRESS_RANGE, svc.mac_ranges, ListQuery(limit=PAGE))
    segments = await visible_page(request, SEGMENT_ALLOCATION_RANGE, svc.segment_ranges, ListQuery(limit=PAGE))
    return render(
        request,
        "overview.html",
        subnets=subnets,
        use=use,
        pools=pools,
        pool_use=pool_use,
        macs=macs,
        segments=segments,
    )


@page
async def subnet(request: Request) -> Response:
    svc = services(request)
    subnet_id = request.path_params["id"]
    found = await visible_page(request, SUBNET, svc.subnets, ListQuery(filters={"id": [subnet_id]}, limit=1))
    if not found.items:
        raise errors.SubnetNotFound(subnet_id=subnet_id)
    prefix = request.query_params.get("prefix") or None
    address = request.query_params.get("address") or None
    if address and not prefix:
        prefix = leaf_prefix(found.items[0]["cidr"], address)
    grid = await svc.utilization.heatmap(ctx_of(request), subnet_id, prefix)
    use = (await svc.utilization.subnets(ctx_of(request), [subnet_id])).get(subnet_id)
    return render(request, "subnet.html", subnet=found.items[0], grid=grid, use=use, address=address)


@page
async def hosts(request: Request) -> Response:
    svc = services(request)
    agents = await visible_page(request, AGENT, svc.agents, page_query(request))
    runs = await svc.host_summary.runs(sorted({a["host"] for a in agents.items}))
    return render(request, "hosts.html", agents=agents, runs=runs)


@page
async def host(request: Request) -> Response:
    authorizer(request).require("get_agent", {})
    marker = request.query_params.get("marker") or None
    detail = await services(request).host_summary.detail(request.path_params["host"], marker, PAGE)
    return render(request, "host.html", detail=detail)


@page
async def jobs(request: Request) -> Response:
    status = request.query_params.get("status") or ""
    if status and status not in JOB_STATUSES:
        raise errors.InvalidInput(error_message=f"Unknown job status '{status}'")
    query = page_query(request, status=[status] if status else [])
    query.sorts = [("created_at", "desc"), ("id", "desc")]
    listed: Page = await visible_page(request, JOB, services(request).jobs, query)
    return render(request, "jobs.html", jobs=listed, status=status, statuses=JOB_STATUSES)


@page
async def find(request: Request) -> Response:
    text = (request.query_params.get("q") or "").strip()
    found = await search.run(request, text) if text else None
    return render(request, "search.html", q=text, found=found)


async def login_form(request: Request) -> Response:
    return render(request, "login.html", message=None, next=session.safe_next(request.query_params.get("next")))


async def login(request: Request) -> Response:
    form = {k: v[-1] for k, v in parse_qs((await request.body())[:MAX_FORM].decode(errors="replace")).items()}
    target = session.safe_next(form.get("next"))
    settings = request.app.state.settings
    token = form.get("token", "").strip()
    if settings.auth_strategy != "keystone":
        return RedirectResponse(target, 303)
    if not token:
        url = session.keystone_url(settings.keystone_authtoken)
        try:
            token = await session.password_token(str(url), form) if url else ""
        except Exception:  # noqa: BLE001 - keystoneauth1's refusals and connection errors alike
            token = ""
        if not token:
            return render(request, "login.html", 401, message="Keystone refused the credentials.", next=target)
    secure = session.secure_cookie(request.url.scheme, request.url.hostname or "")
    return RedirectResponse(target, 303, headers={"Set-Cookie": session.cookie_header(token, secure)})


async def logout(request: Request) -> Response:
    return RedirectResponse(session.LOGIN, 303, headers={"Set-Cookie": session.cleared_cookie_header()})


ROUTES = [
    Route(session.PREFIX, overview, methods=["GET"]),
    Route(f"{session.PREFIX}/subnets/{{id}}", subnet, methods=["GET"]),
    Route(f"{session.PREFIX}/hosts", hosts, methods=["GET"]),
    Route(f"{session.PREFIX}/hosts/{{host}}", host, methods=["GET"]),
    Route(f"{session.PREFIX}/jobs", jobs, methods=["GET"]),
    Route(f"{session.PREFIX}/search", find, methods=["GET"]),
    Route(session.LOGIN, login_form, methods=["GET"]),
    Route(session.LOGIN, login, methods=["POST"]),
    Route(f"{session.PREFIX}/logout", logout, methods=["POST"]),
]
