"""Value converters for request attributes.

Each converter takes the raw JSON value and returns the converted value, or
raises ``ValueError(reason)``; the body parser turns the reason into
Neutron's "Invalid input for <attr>. Reason: <reason>." 400. They are pure and
small so that the attribute maps in ``definitions`` can name them.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any

from quark import errors, extension_errors, owners
from quark.ipam import addressing, macs, prefixes

Converter = Callable[[Any], Any]

_HOSTNAME_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$", re.IGNORECASE)


# What each converter accepts, as OpenAPI schema keywords (``describe``): the
# document's types, bounds and enums come from the converters that enforce them.
_SCHEMAS: dict[Any, dict[str, Any]] = {}


def _described(convert: Converter, schema: dict[str, Any], allow_none: bool = False) -> Converter:
    _SCHEMAS[convert] = {**schema, **({"nullable": True} if allow_none else {})}
    return convert


def described(convert: Converter, schema: dict[str, Any]) -> Converter:
    """``convert``, declaring what it accepts as OpenAPI keywords (for converters of the definitions)."""
    return _described(convert, schema)


def describe(convert: Converter | None) -> dict[str, Any]:
    """The OpenAPI keywords of a converter (empty when it declares none)."""
    return dict(_SCHEMAS.get(convert, {})) if convert is not None else {}


def string(max_len: int = 255, *, allow_none: bool = False) -> Converter:
    def convert(value: Any) -> Any:
        if value is None and allow_none:
            return None
        if not isinstance(value, str):
            raise ValueError(f"'{value}' is not a valid string")
        if len(value) > max_len:
            raise ValueError(f"'{value}' exceeds maximum length of {max_len}")
        return value

    return _described(convert, {"type": "string", "maxLength": max_len}, allow_none)


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "1", "false", "0"):
        return value.lower() in ("true", "1")
    raise ValueError(f"'{value}' cannot be converted to boolean")


def integer(minimum: int | None = None, maximum: int | None = None, *, allow_none: bool = False) -> Converter:
    def convert(value: Any) -> Any:
        if value is None and allow_none:
            return None
        if isinstance(value, bool):
            raise ValueError(f"'{value}' is not an integer")
        if isinstance(value, str):
            try:
                value = int(value)
            except ValueError:
                raise ValueError(f"'{value}' is not an integer") from None
        if not isinstance(value, int):
            raise ValueError(f"'{value}' is not an integer")
        if minimum is not None and value < minimum:
            raise ValueError(f"'{value}' is too small - must be at least '{minimum}'")
        if maximum is not None and value > maximum:
            raise ValueError(f"'{value}' is too large - must be no larger than '{maximum}'")
        return value

    bounds = {k: b for k, b in (("minimum", minimum), ("maximum", maximum)) if b is not None}
    return _described(convert, {"type": "integer", **bounds}, allow_none)


def uuid_str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"'{value}' is not a valid UUID")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError(f"'{value}' is not a valid UUID") from None


def nullable(convert: Converter) -> Converter:
    def wrapped(value: Any) -> Any:
        return None if value is None else convert(value)

    return _described(wrapped, describe(convert), True)


def refusing_with(convert: Converter, refuse: Callable[[Any], Exception]) -> Converter:
    """``convert`` whose refusal is ``refuse(value)``: for attributes whose bad values
    Neutron answers with an error type of their own (the same OpenAPI schema)."""

    def wrapped(value: Any) -> Any:
        try:
            return convert(value)
        except ValueError:
            raise refuse(value) from None

    _SCHEMAS[wrapped] = describe(convert)
    return wrapped


def one_of(*choices: Any, allow_none: bool = False) -> Converter:
    def convert(value: Any) -> Any:
        if value is None and allow_none:
            return None
        if value not in choices:
            raise ValueError(f"'{value}' is not in {list(choices)}")
        return value

    return _described(convert, {"enum": list(choices)}, allow_none)


def integer_one_of(*choices: int) -> Converter:
    """An integer (a string of digits too, as Neutron's convert_to_int) among ``choices``."""
    as_int, among = integer(), one_of(*choices)

    def convert(value: Any) -> Any:
        try:
            value = as_int(value)
        except ValueError:
            raise ValueError(f"'{value}' is not in {list(choices)}") from None
        return among(value)

    return _described(convert, {"type": "integer", "enum": list(choices)})


def _reason(exc: errors.QuarkError) -> str:
    return str(exc.kwargs.get("error_message") or exc.msg).rstrip(".")


def ip_address(value: Any) -> str:
    try:
        return str(addressing.parse_ip(value))
    except errors.QuarkError as exc:
        raise ValueError(_reason(exc)) from None


def mac_address(value: Any) -> str:
    try:
        return macs.format_mac(macs.parse_mac(value))
    except errors.QuarkError as exc:
        raise ValueError(_reason(exc)) from None


def ip_or_cidr(value: Any) -> str:
    """An address pair's ip_address: an address or a (normalised) CIDR."""
    if isinstance(value, str) and "/" in value:
        normalised = addressing.normalize_cidr_filter(value)
        if normalised is None:
            raise ValueError(f"'{value}' is not a valid IP subnet")
        return normalised
    return ip_address(value)


def list_of(
    item: Converter, *, max_items: int | None = None, unique: bool = False, allow_none: bool = False
) -> Converter:
    def convert(value: Any) -> Any:
        if value is None and allow_none:
            return []
        if not isinstance(value, list):
            raise ValueError(f"'{value}' is not a list")
        if max_items is not None and len(value) > max_items:
            raise ValueError(f"'{value}' exceeds the maximum of {max_items} items")
        out = [item(v) for v in value]
        if unique:
            seen: list[Any] = []
            for v in out:
                if v in seen:
                    raise ValueError(f"Duplicate items in the list: '{v}'")
                seen.append(v)
        return out

    items = {"items": describe(item)} if describe(item) else {}
    limit = {"maxItems": max_items} if max_items is not None else {}
    unique_items = {"uniqueItems": True} if unique else {}
    return _described(convert, {"type": "array", **items, **limit, **unique_items}, allow_none)


# What Neutron accepts as the start of a subnet service type: the device-owner
# prefixes ``network:`` and ``neutron:``, and, because neutron-lib adds the
# string ``compute:`` to its list of prefixes character by character, any
# type starting with one of its characters (``test:type_1`` of Tempest too).
SERVICE_TYPE_STARTS = (owners.NETWORK_PREFIX, "neutron:", *owners.COMPUTE_PREFIX)


def _service_types(value: Any) -> list[str]:
    if value is None or value == []:
        return []
    if not isinstance(value, list):
        raise errors.HTTPBadRequest(msg="Subnet service types must be a list.")
    for item in value:
        if not isinstance(item, str):
            raise extension_errors.InvalidInputSubnetServiceType(service_type=item)
        if not item.startswith(SERVICE_TYPE_STARTS):
            raise extension_errors.InvalidSubnetServiceType(service_type=item)
        if len(item) > 255:
            raise ValueError(f"'{item}' exceeds maximum length of 255")
    return list(dict.fromkeys(value))


def _az_hints(value: Any) -> list[str]:
    hints = _unique_strings(value)
    if len(json.dumps(hints)) > 255:  # Neutron keeps them as one JSON string of 255 characters
        raise errors.InvalidInput(error_message="Too many availability_zone_hints specified")
    return hints


_unique_strings = list_of(string(255), unique=True)
# availability_zone_hints: unique zone names (their existence is the service's check).
az_hints = _described(_az_hints, {"type": "array", "items": {"type": "string", "maxLength": 255}, "uniqueItems": True})

service_types = _described(
    _service_types,
    {"type": "array", "items": {"type": "string", "maxLength": 255, "pattern": "^(network:|neutron:|[compute:])"}},
)


def empty_or(convert: Converter) -> Converter:
    """``{}`` (Neutron's "none of it", e.g. a router's gateway cleared) or what ``convert`` takes."""

    def convert_or_empty(value: Any) -> Any:
        return {} if value == {} else convert(value)

    return _described(convert_or_empty, {"anyOf": [{"type": "object", "maxProperties": 0}, describe(convert)]})


def dict_of(keys: dict[str, Converter], *, required: tuple[str, ...] = ()) -> Converter:
    """A dict with a fixed key set (host routes, pools, address pairs)."""

    def convert(value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError(f"'{value}' is not a dictionary")
        unknown = sorted(set(value) - set(keys))
        if unknown:
            raise ValueError(f"Unexpected keys supplied: {', '.join(unknown)}")
        missing = [k for k in required if k not in value]
        if missing:
            raise ValueError(
                f"Validation of dictionary's keys failed. Expected keys: {set(required)} Provided keys: {set(value)}"
            )
        return {k: keys[k](v) for k, v in value.items()}

    schema: dict[str, Any] = {
        "type": "object",
        "properties": {k: describe(c) for k, c in keys.items()},
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
    return _described(convert, schema)


def any_dict(value: Any) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"'{value}' is not a dictionary")
    return value


def dns_name(value: Any) -> str:
    value = string(255)(value)
    if value == "":
        return value
    name = value[:-1] if value.endswith(".") else value
    labels = name.split(".")
    if not all(_HOSTNAME_LABEL.match(label) for label in labels):
        raise ValueError(f"'{value}' not a valid PQDN or FQDN")
    return value.lower()


def dns_domain(value: Any) -> str:
    value = dns_name(value)
    if value and not value.endswith("."):
        value += "."
    return value


def tag(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 255 or "," in value or "/" in value:
        raise ValueError(f"'{value}' is not a valid tag: 1-255 characters, no ',' or '/'")
    return value


_described(uuid_str, {"type": "string", "format": "uuid"})
# Neutron's convert_to_boolean: true/false, 0/1, and their spellings as text in any case.
BOOLEAN = {
    "anyOf": [
        {"type": "boolean"},
        {"type": "integer", "enum": [0, 1]},
        {"type": "string", "pattern": "^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|[01])$"},
    ]
}
_described(boolean, BOOLEAN)


_described(ip_address, {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]})
_V4_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_V4_CIDR = f"^({_V4_OCTET}\\.){{3}}{_V4_OCTET}/(3[0-2]|[12]?[0-9])$"
# An address or an IPv4 CIDR (IPv6 CIDRs are accepted too; no pattern here says which).
_described(ip_or_cidr, {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}, {"pattern": _V4_CIDR}]})
# Unicast (the first octet even), uniform separators: colons, hyphens or none.
_OCTET = "[0-9a-fA-F]{2}"
_FIRST = "[0-9a-fA-F][02468aceACE]"
_NOT_ZERO = "(?!00([:-]?00){5}$)"  # 00:00:00:00:00:00 is no MAC either
_MAC = (
    f"^{_NOT_ZERO}{_FIRST}(:{_OCTET}){{5}}$|^{_NOT_ZERO}{_FIRST}(-{_OCTET}){{5}}$|^{_NOT_ZERO}{_FIRST}({_OCTET}){{5}}$"
)
_described(mac_address, {"type": "string", "pattern": _MAC})
# Empty, or dot-separated labels of 1-63 letters, digits and inner hyphens, maybe with the final dot.
_LABEL = "[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
_DNS = {"type": "string", "maxLength": 255, "pattern": f"^$|^({_LABEL}\\.)*{_LABEL}\\.?$"}
_described(dns_name, _DNS)
_described(dns_domain, _DNS)
_described(tag, {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[^,/]+$"})


def not_empty_name(value: Any) -> str:
    """neutron-lib's ``type:not_empty_name_string`` (a subnet pool's name)."""
    text = string(255)(value)
    if not text.strip():
        raise ValueError(f"'{text}' Blank strings are not permitted")
    return str(text)


_described(not_empty_name, {"type": "string", "maxLength": 255, "pattern": "\\S"})


def pool_prefix(value: Any) -> str:
    """neutron-lib's ``type:subnet`` as a pool's prefix: host bits allowed, an IPv4 spelling canonical."""
    try:
        prefixes.parse_prefix(value)
    except errors.InvalidInput as exc:
        raise ValueError(exc.kwargs.get("error_message", str(exc))) from None
    return str(value)


_described(pool_prefix, {"type": "string", "anyOf": [{"pattern": _V4_CIDR}, {"pattern": ":.*/"}]})
