"""Paths outside the resource collections: version discovery, extensions, health."""

from __future__ import annotations

from typing import Any

from quark.api.openapi.schemas import LINKS as _LINKS
from quark.api.openapi.schemas import errors, json_body

_EXTENSION = {
    "type": "object",
    "properties": {
        "alias": {"type": "string"},
        "name": {"type": "string"},
        "description": {"type": "string"},
        "updated": {"type": "string"},
        "links": {"type": "array"},
    },
    "required": ["alias", "name", "description", "updated", "links"],
}
_PROVIDER = {
    "type": "object",
    "properties": {"service_type": {"type": "string"}, "name": {"type": "string"}, "default": {"type": "boolean"}},
}
_HEALTH = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "enum": ["ok", "unavailable"]},
        "database": {"type": "string"},
        "schema": {"type": "string", "nullable": True},
        "schema_head": {"type": "string", "nullable": True},
    },
    "required": ["status"],
}


def _obj(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(props)}


def _get(op: str, schema: dict, *codes: str, extra: dict | None = None) -> dict[str, Any]:
    responses = {"200": {"description": "OK", **json_body(schema)}, **(extra or {})}
    # 401/413/503 are added by the document, 401 only off the public paths.
    responses.update(errors(*codes, common=False))
    return {"get": {"operationId": op, "responses": responses}}


def extra_paths() -> dict[str, Any]:
    version = _obj(id={"type": "string"}, status={"type": "string"}, links=_LINKS)
    resource = _obj(name={"type": "string"}, collection={"type": "string"}, links=_LINKS)
    unready = {"503": {"description": "Not ready (database unreachable or schema not at head)", **json_body(_HEALTH)}}
    show_ext = _get("show_extension", _obj(extension=_EXTENSION), "404")
    show_ext["get"]["parameters"] = [{"name": "alias", "in": "path", "required": True, "schema": {"type": "string"}}]
    return {
        "/": _get("list_versions", _obj(versions={"type": "array", "items": version}), "405"),
        "/v2.0/": _get("list_resources", _obj(resources={"type": "array", "items": resource}), "405"),
        "/v2.0/extensions": _get("list_extensions", _obj(extensions={"type": "array", "items": _EXTENSION})),
        "/v2.0/extensions/{alias}": show_ext,
        "/v2.0/service-providers": _service_providers(),
        "/healthz": _get("healthz", _HEALTH),
        "/readyz": _get("readyz", _HEALTH, extra=unready),
        "/metrics": _metrics(),
    }


def _service_providers() -> dict[str, Any]:
    """The installed backend drivers (docs/drivers.md); filters and ``fields`` as Neutron's."""
    path = _get("list_service_providers", _obj(service_providers={"type": "array", "items": _PROVIDER}))
    path["get"]["parameters"] = [
        {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
        for name in ("service_type", "name")
    ] + [{"name": "fields", "in": "query", "required": False, "schema": {"type": "array", "items": {"type": "string"}}}]
    return path


def _metrics() -> dict[str, Any]:
    """Prometheus' text exposition format (README, "Logs and probes")."""
    text = {"content": {"text/plain": {"schema": {"type": "string"}}}}
    return {"get": {"operationId": "metrics", "responses": {"200": {"description": "OK", **text}}}}
