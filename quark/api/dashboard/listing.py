"""A page of a collection as the caller may see it: the service's own
visibility (its SQL scope), then the policy's ``get_<resource>`` per object
and ``get_<resource>:<attribute>`` per attribute, as the API's list does."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from quark.api.authz import present, with_policy_fields
from quark.api.definitions.base import Resource
from quark.api.resources import authorizer, ctx_of
from quark.services.common.listing import ListQuery

# Rows per page on every dashboard list.
PAGE = 25


@dataclass
class Page:
    items: list[dict] = field(default_factory=list)
    next_marker: str | None = None
    refused: bool = False  # the policy refuses the caller every object of the collection


async def visible_page(request: Request, resource: Resource, service: Any, query: ListQuery) -> Page:
    authz = authorizer(request)
    if authz.refuses_all(resource):
        return Page(refused=True)
    items = await service.list(ctx_of(request), with_policy_fields(resource, query))
    shown = await authz.visible(resource, items)
    full = bool(query.limit) and len(items) >= query.limit
    return Page([present(authz, resource, i, []) for i in shown], items[-1]["id"] if full else None)


def page_query(request: Request, limit: int = PAGE, **filters: list[Any]) -> ListQuery:
    """A page keyed on ``?marker=`` (the id of the last row of the page before)."""
    marker = request.query_params.get("marker") or None
    return ListQuery(filters={k: v for k, v in filters.items() if v}, limit=limit, marker=marker)
