"""Schemas and query parameters of the OpenAPI document, from the attribute
maps and the converters (``validators.describe``) that enforce them."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from quark.api import validators as v
from quark.api.definitions.base import BOOL_FILTER, INT_FILTER, STR_FILTER, Attr, Resource
from quark.api.links import ATTRIBUTE as LINKS_ATTRIBUTE

ERROR_CODES = {
    "400": "Bad request (malformed body, unrecognized or invalid attribute, bad filter)",
    "401": "Unauthorized (Keystone authentication is on and the token is missing or invalid)",
    "403": "Forbidden",
    "404": "Not found",
    "405": "Method not allowed",
    "409": "Conflict",
    "412": "Precondition failed (If-Match revision_number)",
    "422": "Unprocessable (the Idempotency-Key was used for a different request)",
    "413": "Request body too large",
    "429": "Too many requests: the project's rate limit for this class of operation is spent (docs/rate_limits.md)",
    "503": "Service unavailable (database unreachable or overloaded)",
}
# ``links`` of the discovery documents and of every resource view (docs/links.md).
LINKS: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"rel": {"type": "string"}, "href": {"type": "string"}},
        "required": ["rel", "href"],
    },
}
RESOURCE_LINKS: dict[str, Any] = {
    **LINKS,
    "description": "quark-resource-links: self (versioned URL) and bookmark (the URL without a version)",
    "minItems": 2,
    "maxItems": 2,
}
# Every operation may answer these (authentication, body size, database health).
COMMON_ERRORS = ("401", "413", "503")


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_body(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def errors(*codes: str, common: bool = True) -> dict[str, Any]:
    wanted = dict.fromkeys((*codes, *(COMMON_ERRORS if common else ())))
    return {code: {"description": ERROR_CODES[code], **json_body(ref("NeutronError"))} for code in sorted(wanted)}


def bookmark(show: dict[str, Any]) -> dict[str, Any]:
    """The GET of a bookmark link (no version in the path): the same answer as ``show``."""
    return {**show, "operationId": f"{show['operationId']}_bookmark"}


def _integer_header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "integer", "minimum": 0}}


# What a limited request's answers carry (quark/api/ratelimit.py); a 429 adds Retry-After.
RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": _integer_header("Requests per period of the class the answer speaks of"),
    "X-RateLimit-Remaining": _integer_header("Requests of that class left now"),
    "X-RateLimit-Reset": _integer_header("Seconds until that class is back to its full burst"),
}


def too_many_requests() -> dict[str, Any]:
    """The 429 of an operation rate limits apply to."""
    headers = {"Retry-After": _integer_header("Seconds to wait before the next request can pass"), **RATE_LIMIT_HEADERS}
    return {"description": ERROR_CODES["429"], "headers": headers, **json_body(ref("NeutronError"))}


def cap(resource: Resource) -> str:
    return resource.name.title().replace("_", "")


def _apply_converter(schema: dict[str, Any], attr: Attr) -> None:
    """What the attribute's converter accepts, when it agrees with the attribute's type."""
    described = v.describe(attr.convert)
    if described.get("type", attr.schema) == attr.schema or "type" not in described:
        if "anyOf" in described and "type" not in described:
            del schema["type"]  # the alternatives say which types (booleans: also 0/1 and text)
        schema.update(described)
        if schema.get("type") == "array" and "items" not in schema:
            schema["items"] = {"type": attr.items or "string"}


def attr_schema(attr: Attr, request: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": attr.schema if request or not attr.view_schema else attr.view_schema}
    if attr.schema == "array":
        schema["items"] = {"type": (attr.items if request else attr.view_items or attr.items) or "string"}
    if request and attr.name == "tags":  # checked by the tags code, not a converter
        schema["items"] = v.describe(v.tag)
    elif request:
        _apply_converter(schema, attr)
    if attr.nullable:
        schema["nullable"] = True
    if attr.description:
        schema["description"] = attr.description
    return schema


@lru_cache(maxsize=1)
def _hidden_attributes() -> frozenset[str]:
    """``get_<resource>:<attribute>`` rules: attributes the policy may strip from a view."""
    from quark.policy.defaults import all_rules

    return frozenset(r.name[len("get_") :] for r in all_rules() if r.name.startswith("get_") and ":" in r.name)


def view_object(resource: Resource) -> dict[str, Any]:
    """A resource as the server returns it (every attribute, unless ``fields`` narrows it)."""
    attrs = [a for a in resource.attributes if a.returned and (a.name != "tags" or resource.has_tags)]
    props = {a.name: attr_schema(a) for a in attrs}
    props[LINKS_ATTRIBUTE] = RESOURCE_LINKS
    hidden = _hidden_attributes()
    required = [a.name for a in attrs if f"{resource.name}:{a.name}" not in hidden] + [LINKS_ATTRIBUTE]
    return {"type": "object", "properties": props, "required": required}


def narrowed(view: dict[str, Any]) -> dict[str, Any]:
    """A view as GET answers it: ``fields`` may leave out any attribute, required or not."""
    narrow = {k: v for k, v in view.items() if k != "required"}
    return {**narrow, "description": "every attribute when fields is absent; only those fields otherwise"}


def request_object(resource: Resource, which: str) -> dict[str, Any]:
    """The POST (``which="post"``) or PUT body of one resource: unknown attributes are a 400."""
    attrs = tuple(
        a
        for a in resource.attributes
        if getattr(a, which) or (which == "post" and a.name == "tags" and resource.name == "port")
    )
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {a.name: attr_schema(a, request=True) for a in attrs},
        "additionalProperties": False,
    }
    required = [a.name for a in attrs if which == "post" and a.required]
    if required:
        schema["required"] = required
    return schema


def request_object_without(resource: Resource, names: frozenset[str]) -> dict[str, Any]:
    """A create body less attributes set for it by an enclosing body (a nested create's parent id)."""
    schema = request_object(resource, "post")
    schema["properties"] = {k: p for k, p in schema["properties"].items() if k not in names}
    required = [k for k in schema.pop("required", []) if k not in names]
    return {**schema, "required": required} if required else schema


def _param(name: str, schema: dict, description: str = "", **extra: Any) -> dict[str, Any]:
    param = {"name": name, "in": "query", "required": False, "schema": schema, **extra}
    if description:
        param["description"] = description
    return param


def _filter_schema(attr: Attr) -> dict[str, Any]:
    if attr.filter is BOOL_FILTER:
        return {"type": "boolean"}
    if attr.filter is INT_FILTER:
        return v.describe(INT_FILTER)
    described = v.describe(attr.convert)
    if attr.filter is not STR_FILTER and described.get("type") == "string":
        # A filter that converts its value (an address) refuses what the converter refuses;
        # an empty value matches the empty string (empty-string-filtering, query.py).
        converted = {k: val for k, val in described.items() if k not in ("nullable", "anyOf")}
        return {**converted, "anyOf": [*described.get("anyOf", [converted]), {"maxLength": 0}]}
    return {"type": "string"}


def _many(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


def list_parameters(resource: Resource, max_limit: int = 0) -> list[dict]:
    """Filters (each repeatable: any of the values matches), sorting, paging and ``fields``."""
    form = {"style": "form", "explode": True}
    params = [_param(name, _many(_filter_schema(attr)), "", **form) for name, attr in resource.filterable.items()]
    limit: dict[str, Any] = {"type": "integer", "minimum": 0}
    if max_limit:
        limit["description"] = f"values above {max_limit} are capped"
    names = [a.name for a in resource.attributes] + [LINKS_ATTRIBUTE]
    params += [
        _param(
            "fields",
            _many({"type": "string"}),
            "only these attributes in each view (the others are then absent, required or not); "
            f"a name that is none of them is ignored, as in Neutron: {', '.join(names)}",
            **form,
        ),
        _param("sort_key", _many({"type": "string", "enum": sorted(resource.sortable)}), "", **form),
        _param(
            "sort_dir",
            _many({"type": "string", "enum": ["asc", "desc"]}),
            "paired with sort_key by position: when given, as many as sort_key, or 400",
            **form,
        ),
        _param("limit", limit),
        # Any string: an id that names no resource (or not a UUID) is an empty page, as in Neutron.
        _param("marker", {"type": "string"}, "id of the last resource of the previous page"),
        # as query.py reads it (_page_reverse)
        _param(
            "page_reverse",
            {"type": "string", "pattern": "^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|[01]|)$"},
            "True or False in any case, 1 or 0; empty is False",
        ),
    ]
    if resource.has_tags:
        params += [
            _param(n, {"type": "string"}, "comma-separated tags")
            for n in ("tags", "tags-any", "not-tags", "not-tags-any")
        ]
    return params


# Idempotency-Key (docs/idempotency.md): on every create that honours it.
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "A key (sf-string or bare token, 1-255 characters) that makes the create idempotent for the caller's "
        "project: a retry with the same key and body answers the first answer again (Idempotent-Replayed: true) "
        "and creates nothing; another body is a 422; a retry while the first runs is a 409 with Retry-After."
    ),
    # as quark/api/idempotency.py parse_key reads it: a quoted sf-string, or a bare
    # token that does not start with a quote; no control character either way
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": 255,
        "pattern": r'^("([\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])+"|[\x21\x23-\x7e]([\x20-\x7e]*[\x21-\x7e])?)$',
    },
}
_REPLAYED = {
    "Idempotent-Replayed": {
        "description": "true when the answer is the stored answer of an earlier request with the same Idempotency-Key",
        "schema": {"type": "string", "enum": ["true"]},
    }
}


def declare_idempotency(operation: dict[str, Any]) -> None:
    """The Idempotency-Key header, the replay header and its 409/422 on a create operation."""
    operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
    responses = operation["responses"]
    responses["201"]["headers"] = _REPLAYED
    responses.update({code: errors(code, common=False)[code] for code in ("409", "422") if code not in responses})
