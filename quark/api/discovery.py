"""GET /, GET /v2.0/ and the extensions list (contract §1.1, §1.3)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from quark import errors
from quark.api.definitions.catalog import RESOURCES
from quark.api.extensions import EXTENSIONS, extension_view
from quark.api.links import base_url
from quark.api.responses import json_response
from quark.services.backends.providers import service_providers


async def versions(request: Request) -> Response:
    href = f"{base_url(request)}/v2.0/"
    return json_response({"versions": [{"id": "v2.0", "status": "CURRENT", "links": [{"rel": "self", "href": href}]}]})


async def v2_root(request: Request) -> Response:
    root = f"{base_url(request)}/v2.0"
    return json_response(
        {
            "resources": [
                {
                    "name": r.name,
                    "collection": r.collection,
                    "links": [{"rel": "self", "href": f"{root}/{r.collection}"}],
                }
                for r in RESOURCES.values()
            ]
        }
    )


async def list_extensions(request: Request) -> Response:
    return json_response({"extensions": [extension_view(alias) for alias in EXTENSIONS]})


async def show_extension(request: Request) -> Response:
    alias = request.path_params["alias"]
    if alias not in EXTENSIONS:
        raise errors.ExtensionNotFound(alias=alias)
    return json_response({"extension": extension_view(alias)})


async def list_service_providers(request: Request) -> Response:
    providers = service_providers(request.app.state.settings.backend_driver)
    # Neutron's filters and ``fields`` on this read-only list: plain equality
    wanted = {k: v for k, v in request.query_params.multi_items() if k in ("service_type", "name")}
    providers = [p for p in providers if all(str(p[k]) == v for k, v in wanted.items())]
    fields = request.query_params.getlist("fields")
    if fields:
        providers = [{k: v for k, v in p.items() if k in fields} for p in providers]
    return json_response({"service_providers": providers})


ROUTES = [
    Route("/", versions, methods=["GET"]),
    Route("/v2.0/", v2_root, methods=["GET"]),
    Route("/v2.0/extensions", list_extensions, methods=["GET"]),
    Route("/v2.0/extensions/{alias}", show_extension, methods=["GET"]),
    Route("/v2.0/service-providers", list_service_providers, methods=["GET"]),
]
