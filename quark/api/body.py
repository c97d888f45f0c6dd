"""Request bodies checked against a resource's attribute map.

The checks and their messages are Neutron's (contract §1.2), in its order:
wrapper key, unknown attributes, attributes not allowed in POST/PUT,
required attributes, value conversion. Policy (403) comes after, from
``quark.api.authz``.
"""

from __future__ import annotations

from typing import Any

from quark import errors
from quark.api.definitions.base import UNSET, Resource
from quark.api.definitions.core import NESTED_CREATE
from quark.context import Context

# Attributes that POST accepts on these resources even though they are not
# otherwise writable (contract §3: tags only on port create).
POST_TAGS = frozenset({"port"})


def _bad(msg: str) -> errors.HTTPBadRequest:
    return errors.HTTPBadRequest(msg=msg)


def _only_key(body: dict, key: str) -> None:
    """The envelope holds the resource (or the bulk list) and nothing else, both forms alike."""
    if len(body) > 1:
        extra = sorted(k for k in body if k != key)
        raise _bad(f"Unrecognized attribute(s) '{', '.join(extra)}'")


def unwrap(resource: Resource, body: Any, *, allow_bulk: bool, max_bulk: int = 0) -> tuple[list[Any], bool]:
    """The item(s) of a request body, and whether it was a bulk request.

    ``max_bulk``: the most items a bulk request may carry (0: no cap),
    checked before any item is read.
    """
    if not isinstance(body, dict) or not body:
        raise _bad("Resource body required")
    if resource.name in body:
        _only_key(body, resource.name)
        return [body[resource.name]], False
    if allow_bulk and resource.body_collection in body:
        _only_key(body, resource.body_collection)
        items = body[resource.body_collection]
        if not isinstance(items, list):
            raise _bad(f"Unable to find '{resource.name}' in request body")
        if not items:
            raise _bad("Resources required")
        if not resource.bulk:
            raise _bad(f"Bulk operation not supported for {resource.collection}")
        if max_bulk and len(items) > max_bulk:
            raise _bad(
                f"Bulk request of {len(items)} {resource.collection} exceeds the limit of {max_bulk} "
                "items per request (max_bulk_size)"
            )
        return [_unwrap_item(resource, item) for item in items], True
    raise _bad(f"Unable to find '{resource.name}' in request body")


def _unwrap_item(resource: Resource, item: Any) -> Any:
    """A bulk item may come wrapped in the singular key (``{"port": {...}}``), as Neutron accepts."""
    if isinstance(item, dict) and resource.name in item:
        _only_key(item, resource.name)
        return item[resource.name]
    return item


def _convert(resource: Resource, name: str, value: Any) -> Any:
    attr = resource.by_name[name]
    if value is None and attr.nullable:
        return None
    if attr.convert is None:
        return value
    try:
        return attr.convert(value)
    except ValueError as exc:
        raise _bad(f"Invalid input for {name}. Reason: {exc}.") from None


def parse_create(resource: Resource, body: Any, ctx: Context, *, max_bulk: int = 0) -> tuple[list[dict], bool]:
    items, bulk = unwrap(resource, body, allow_bulk=True, max_bulk=max_bulk)
    return [parse_create_item(resource, item, ctx) for item in items], bulk


def parse_create_item(
    resource: Resource,
    item: Any,
    ctx: Context,
    *,
    extra: frozenset[str] = frozenset(),
    implied: frozenset[str] = frozenset(),
) -> dict:
    """One item of a POST body, converted, with the defaults of the attributes it leaves out.

    ``extra``: keys passed through as they are (not attributes of ``resource``);
    ``implied``: required attributes that the caller fills in (a nested child's parent id).
    """
    if not isinstance(item, dict):
        raise _bad(f"Unable to find '{resource.name}' in request body")
    _check_create_names(resource, item, extra, implied)
    out = _convert_create_values(resource, item, ctx, extra)
    _fill_defaults(resource, out)
    return out


def _check_create_names(resource: Resource, item: dict, extra: frozenset[str], implied: frozenset[str]) -> None:
    """Neutron's order: unknown attributes, then ones not allowed in POST, then missing required ones."""
    unknown = sorted(k for k in item if k not in resource.by_name and k not in extra)
    if unknown:
        raise _bad(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    allowed_tags = resource.name in POST_TAGS
    for name in item:
        if name in extra:
            continue
        if not resource.by_name[name].post and not (name == "tags" and allowed_tags):
            raise _bad(f"Attribute '{name}' not allowed in POST")
    for attr in resource.attributes:
        if attr.required and attr.name not in item and attr.name not in implied:
            raise _bad(f"Failed to parse request. Required attribute '{attr.name}' not specified")


def _convert_create_values(resource: Resource, item: dict, ctx: Context, extra: frozenset[str]) -> dict[str, Any]:
    """Every value converted, in the body's order (the first bad one is the one reported)."""
    nested = NESTED_CREATE.get(resource.name, {})
    out: dict[str, Any] = {}
    for name, value in item.items():
        if name in extra:
            out[name] = value
        elif name in nested:
            out[name] = _parse_children(name, *nested[name], value, ctx)
        elif name == "tags":
            out[name] = _tags(value)
        else:
            out[name] = _convert(resource, name, value)
    return out


def _fill_defaults(resource: Resource, out: dict[str, Any]) -> None:
    """The default of every POST attribute left out; list defaults are copied, never shared."""
    for attr in resource.attributes:
        if attr.post and attr.name not in out and attr.default is not UNSET:
            default = attr.default
            out[attr.name] = list(default) if isinstance(default, list) else default


def _parse_children(name: str, child: Resource, parent_key: str, value: Any, ctx: Context) -> list[dict]:
    """Bodies of nested children (``{"subnet": {...}}`` or bare objects), checked
    as their own POSTs would be; the parent's id is filled in by the service."""
    if not isinstance(value, list):
        raise _bad(f"Invalid input for {name}. Reason: '{value}' is not a list.")
    children = []
    for entry in value:
        if isinstance(entry, dict) and set(entry) == {child.name}:
            entry = entry[child.name]
        if not isinstance(entry, dict):
            raise _bad(f"Invalid input for {name}. Reason: each item must be a {child.name} object.")
        if parent_key in entry:
            raise _bad(f"Invalid input for {name}. Reason: '{parent_key}' is set by the nested create.")
        children.append(parse_create_item(child, entry, ctx, implied=frozenset({parent_key})))
    return children


def parse_update(resource: Resource, body: Any, ctx: Context) -> dict:
    items, _ = unwrap(resource, body, allow_bulk=False)
    item = items[0]
    if not isinstance(item, dict):
        raise _bad(f"Unable to find '{resource.name}' in request body")
    unknown = sorted(k for k in item if k not in resource.by_name)
    if unknown:
        raise _bad(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    for name in item:
        if not resource.by_name[name].put:
            raise _bad(f"Cannot update read-only attribute {name}")
    return {name: _convert(resource, name, value) for name, value in item.items()}


def _tags(value: Any) -> list[str]:
    from quark.api import validators

    if not isinstance(value, list):
        raise _bad(f"Invalid input for tags. Reason: '{value}' is not a list.")
    try:
        return [validators.tag(t) for t in value]
    except ValueError as exc:
        raise _bad(f"Invalid input for tags. Reason: {exc}.") from None


def parse_tags_body(body: Any) -> list[str]:
    if not isinstance(body, dict) or "tags" not in body:
        raise _bad('Invalid tags body: expected {"tags": [...]}')
    return _tags(body["tags"])
