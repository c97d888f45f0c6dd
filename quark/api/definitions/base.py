"""Declarative attribute maps: one source for body checks, filters, sorting,
field selection and the OpenAPI document (who may set or read an attribute
is the policy's: ``quark/policy/defaults``).

A resource module lists its attributes as ``Attr`` values; nothing else in
the API layer knows attribute names except where a rule needs them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from quark.api import validators as v


class _Unset:
    """Sentinel: the client did not send the attribute (distinct from None)."""

    _instance = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Any = _Unset()


@dataclass(frozen=True)
class Attr:
    name: str
    # JSON schema type for OpenAPI: string boolean integer array object
    schema: str = "string"
    post: bool = False
    put: bool = False
    required: bool = False
    default: Any = UNSET
    convert: Callable[[Any], Any] | None = None
    # Converter of one query-string value; None = not filterable.
    filter: Callable[[str], Any] | None = None
    sortable: bool = False
    nullable: bool = False
    description: str = ""
    items: str | None = None  # item schema type for arrays
    # False: accepted (on create, or as a list filter) but never in a view.
    returned: bool = True
    # Item schema type in a view when it differs from the request's (ids vs nested bodies).
    view_items: str | None = None
    # Schema type in a view when it differs from the request's (a subnet pool's prefix
    # lengths: integers in, strings out, as Neutron's).
    view_schema: str | None = None


def _bool_filter(raw: str) -> bool:
    return v.boolean(raw)


# What the INTEGER columns filtered on (revision_number, mtu, ports, ids of ranges) hold on
# every database: a value beyond is a 400, not PostgreSQL's "out of int32 range" as a 500.
INT_FILTER_BOUNDS = (-(2**31), 2**31 - 1)


def _str_filter(raw: str) -> str:
    return raw


STR_FILTER = _str_filter
BOOL_FILTER = _bool_filter
INT_FILTER = v.integer(*INT_FILTER_BOUNDS)


TENANT_ID = "the older name of project_id: given with it, the two must be equal (else 400)"


def admin_state_up() -> Attr:
    """Neutron's administrative state of a network, port or router: writable, true by default."""
    return Attr(
        "admin_state_up",
        "boolean",
        post=True,
        put=True,
        default=True,
        convert=v.boolean,
        filter=BOOL_FILTER,
        sortable=True,
    )


def name_attr() -> Attr:
    """A resource's ``name``: writable, "" by default, at most 255 characters."""
    return Attr("name", post=True, put=True, default="", convert=v.string(255), filter=STR_FILTER, sortable=True)


def standard_attrs() -> list[Attr]:
    """id, project, and Neutron's standard attributes shared by every resource."""
    return [
        Attr("id", filter=STR_FILTER, sortable=True, description="UUID, generated"),
        Attr("project_id", post=True, convert=v.string(255), filter=STR_FILTER, sortable=True),
        Attr("tenant_id", post=True, convert=v.string(255), filter=STR_FILTER, sortable=True, description=TENANT_ID),
        Attr("description", post=True, put=True, default="", convert=v.string(255), filter=STR_FILTER, sortable=True),
        Attr("tags", schema="array", items="string"),
        Attr("created_at", sortable=True),
        Attr("updated_at", sortable=True),
        Attr("revision_number", schema="integer", filter=INT_FILTER, sortable=True),
    ]


@dataclass(frozen=True)
class Resource:
    name: str  # "network"
    collection: str  # "networks" (URL segment, may be hyphenated)
    attributes: tuple[Attr, ...]
    # Wire name of the collection key in bodies ("networks"; "mac_address_ranges").
    body_collection: str = ""
    bulk: bool = True
    has_tags: bool = True
    # Only GET (list and show), e.g. network-ip-availabilities.
    read_only: bool = False
    # False: no POST on the collection (agents register by reporting).
    creatable: bool = True
    # Quark: DELETE on the collection removes every match of the filters.
    delete_by_filter: bool = False
    # Filters handled by the service beyond plain attribute filters.
    extra_filters: tuple[str, ...] = ()
    # The attribute that names one resource in its URL (``/v2.0/{collection}/{key}``).
    key: str = "id"
    # Other URL segments served by the same handlers (``network-segment-ranges``
    # beside ``network_segment_ranges``: clients spell it either way); links and
    # bodies keep ``collection``.
    aliases: tuple[str, ...] = ()
    # Attributes the policy of an update does not see (Neutron loads the object
    # of an update with only its attributes that have no default or that the
    # policy requires): an address group's ``shared``, so its RBAC target's
    # refused update is 404, as if the group were not there.
    unseen_by_update: frozenset[str] = frozenset()
    by_name: dict[str, Attr] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {a.name: a for a in self.attributes})
        if not self.body_collection:
            object.__setattr__(self, "body_collection", self.collection.replace("-", "_"))

    @property
    def sortable(self) -> frozenset[str]:
        return frozenset(a.name for a in self.attributes if a.sortable)

    @property
    def filterable(self) -> dict[str, Attr]:
        return {a.name: a for a in self.attributes if a.filter is not None}
