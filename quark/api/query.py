"""Query strings → ``ListQuery``: filters, fields, sorting, pagination (contract §2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from quark import errors
from quark.api.definitions.base import Resource
from quark.ipam import addressing
from quark.services.common.listing import ListQuery

RESERVED = frozenset(
    {
        "fields",
        "sort_key",
        "sort_dir",
        "limit",
        "marker",
        "page_reverse",
        "tags",
        "tags-any",
        "not-tags",
        "not-tags-any",
        "changed_since",
        "fixed_ips",
    }
)
FIXED_IP_KEYS = ("ip_address", "subnet_id", "ip_address_substr")


def _bad(msg: str) -> errors.HTTPBadRequest:
    return errors.HTTPBadRequest(msg=msg)


def _tag_list(values: list[str]) -> list[str]:
    return [t for v in values for t in v.split(",") if t]


def _filter_value(resource: Resource, name: str, raw: str) -> Any:
    attr = resource.filterable[name]
    convert = attr.filter
    assert convert is not None  # what makes it filterable
    if raw == "" and attr.filter is not None and attr.schema == "string":
        return ""  # empty-string-filtering: matches ""
    if name in ("mac_address",):
        return raw.lower()
    if name == "cidr":
        return addressing.normalize_cidr_filter(raw) or raw
    if attr.nullable and raw.lower() in ("none", "null"):
        return None
    try:
        return convert(raw)
    except (ValueError, errors.QuarkError) as exc:
        raise _bad(f"Invalid input for {name}. Reason: {exc}.") from None


def parse_list_query(resource: Resource, params: list[tuple[str, str]], max_limit: int = 0) -> ListQuery:
    query = ListQuery()
    grouped: dict[str, list[str]] = {}
    for key, value in params:
        grouped.setdefault(key, []).append(value)

    query.filters = _filters(resource, grouped)

    query.tags = _tag_list(grouped.get("tags", []))
    query.tags_any = _tag_list(grouped.get("tags-any", []))
    query.not_tags = _tag_list(grouped.get("not-tags", []))
    query.not_tags_any = _tag_list(grouped.get("not-tags-any", []))
    if "changed_since" in grouped:
        try:
            query.changed_since = datetime.fromisoformat(grouped["changed_since"][-1].replace("Z", "+00:00")).replace(
                tzinfo=None
            )
        except ValueError:
            raise _bad(f"Invalid changed_since value: {grouped['changed_since'][-1]}") from None
    if "fixed_ips" in grouped and "fixed_ips" in resource.extra_filters:
        query.extra["fixed_ips"] = _fixed_ips(grouped["fixed_ips"])

    query.fields = [f for f in grouped.get("fields", []) if f]
    query.sorts = _sorts(resource, grouped.get("sort_key", []), grouped.get("sort_dir", []))
    query.limit = _limit(grouped.get("limit", []), max_limit)
    markers = grouped.get("marker", [])
    query.marker = markers[-1] if markers and markers[-1] else None  # the last one; an empty one is none
    query.page_reverse = _page_reverse(grouped.get("page_reverse", []))
    return query


def _filters(resource: Resource, grouped: dict[str, list[str]]) -> dict[str, list[Any]]:
    """The attribute filters, converted. filter-validation: a key that is no attribute
    of the resource (nor a reserved parameter) is refused, as Neutron; an attribute
    Quark cannot filter on is accepted and ignored."""
    unknown = [key for key in grouped if key not in RESERVED and key not in resource.by_name]
    if unknown:
        raise _bad(f"{unknown} is invalid attribute for filtering")
    filterable = resource.filterable
    return {
        key: [_filter_value(resource, key, v) for v in values] for key, values in grouped.items() if key in filterable
    }


def _page_reverse(values: list[str]) -> bool:
    """Neutron reads 'True' (any case) as true; anything else that is not a boolean is refused."""
    value = values[-1].lower() if values else ""
    if value in ("true", "1"):
        return True
    if value in ("false", "0", ""):
        return False
    raise _bad(f"Invalid page_reverse value '{values[-1]}': expected True or False")


def _fixed_ips(values: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or key not in FIXED_IP_KEYS:
            raise _bad(f"Invalid fixed_ips filter '{value}': expected ip_address=, subnet_id= or ip_address_substr=")
        if key == "ip_address":
            try:
                rest = str(addressing.parse_ip(rest))
            except errors.QuarkError:
                raise _bad(f"Invalid input for fixed_ips: '{rest}' is not a valid IP address") from None
        out.setdefault(key, []).append(rest)
    return out


def _sorts(resource: Resource, keys: list[str], dirs: list[str]) -> list[tuple[str, str]]:
    if not keys and not dirs:
        return []
    if dirs and len(keys) != len(dirs):
        raise _bad("The number of sort_keys and sort_dirs must be same")
    sortable = resource.sortable
    out = []
    for i, key in enumerate(keys):
        direction = dirs[i].lower() if dirs else "asc"
        if direction not in ("asc", "desc"):
            raise _bad(f"{dirs[i]} is an invalid value for sort_dir, valid value is 'asc' and 'desc'")
        if key not in sortable:
            raise _bad(f"{key} is an invalid attribute for sort_key")
        out.append((key, direction))
    return out


def _limit(values: list[str], max_limit: int) -> int:
    if not values:
        return max_limit
    try:
        limit = int(values[-1])
    except ValueError:
        raise _bad(f"'{values[-1]}' is not an integer") from None
    if limit < 0:
        raise _bad(f"Limit must be an integer 0 or greater and not '{limit}'")
    if max_limit and (limit == 0 or limit > max_limit):
        return max_limit
    # No page is bigger than this; larger values would overflow the databases' LIMIT.
    return min(limit, 2**31 - 1)
