"""Generic HTTP handlers of a Neutron collection: list, create (single and
bulk), show, update, delete, and the tags sub-resource.

Handlers only parse, call a service and serialise; the rules live in the
services, the attribute knowledge in ``definitions``.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from quark import errors
from quark.api import body as bodies
from quark.api import idempotency
from quark.api.authz import Authorizer, present, with_policy_fields
from quark.api.definitions.base import Resource
from quark.api.links import add_if_asked, base_url
from quark.api.query import parse_list_query
from quark.api.responses import json_response, no_content
from quark.context import Context
from quark.services.common.listing import ListQuery

_REVISION = re.compile(r"^revision_number=([+-]?\d+)$")


def ctx_of(request: Request) -> Context:
    return request.scope["state"]["ctx"]


async def read_json(request: Request) -> Any:
    limit = request.app.state.settings.max_request_body_size
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise errors.HTTPRequestEntityTooLarge(limit=limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise errors.HTTPRequestEntityTooLarge(limit=limit)
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise errors.HTTPBadRequest(msg="Resource body required")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise errors.HTTPBadRequest(msg="Malformed request body") from None
    # A NUL is refused in every string of every body, keys included: PostgreSQL
    # cannot store one, and the other backends must answer alike. JSON can
    # only carry it escaped, so bodies without the escape are not walked.
    if b"\\u0000" in raw and _has_nul(body):
        raise errors.HTTPBadRequest(msg="Invalid input: the NUL character (\\u0000) is not allowed")
    return body


def _has_nul(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def if_match_revision(request: Request) -> int | None:
    """``If-Match: revision_number=N`` (contract §4.7); other etags are ignored."""
    header = request.headers.get("if-match")
    if header is None:
        return None
    found = []
    for tag in (t.strip().strip('"') for t in header.split(",")):
        if tag.startswith("revision_number"):
            match = _REVISION.match(tag)
            if match is None:
                raise errors.HTTPBadRequest(msg=f"Invalid If-Match header value: {tag}")
            found.append(int(match.group(1)))
    if len(found) > 1:
        raise errors.HTTPBadRequest(msg="Multiple revision_number etags are not supported")
    return found[0] if found else None


def authorizer(request: Request) -> Authorizer:
    """The policy decisions of this request (``quark.api.authz``)."""
    state = request.app.state
    return Authorizer(state.policy, ctx_of(request), state.services)


def pagination_links(request: Request, resource: Resource, query: ListQuery, items: list[dict]) -> list[dict] | None:
    """Neutron's get_pagination_links: "next" is left out only when a forward page
    is short, "previous" only when a reverse page is short; an empty page still
    links back (without a marker, as Neutron's)."""
    if not query.limit:
        return None
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("marker", "page_reverse")]
    url = f"{base_url(request)}{request.url.path}"
    if items and "id" not in items[0]:
        return []
    first = [("marker", items[0]["id"])] if items else []
    last = [("marker", items[-1]["id"])] if items else []
    links: list[dict] = []
    short = len(items) < query.limit
    if not (short and not query.page_reverse):
        links.append({"rel": "next", "href": f"{url}?{urlencode(params + last)}"})
    if not (short and query.page_reverse):
        links.append({"rel": "previous", "href": f"{url}?{urlencode(params + first + [('page_reverse', 'True')])}"})
    return links


class CollectionService(Protocol):
    """Everything the generic handlers may call on a collection's service; only the
    methods behind the routes a collection has are called (``CollectionRoutes.routes``):
    reads and tags come from ``ResourceService``, a writable collection's service adds
    update and delete, and ``delete_matching`` exists where the resource has
    ``delete_by_filter``. Arguments are positional, as the handlers pass them, so each
    service may name its id parameter after its resource.
    (``builtins.list``: in this class body ``list`` names the method.)"""

    async def list(self, ctx: Context, query: ListQuery, /) -> builtins.list[dict]: ...
    async def get(self, ctx: Context, resource_id: str, fields: builtins.list[str] | None = None, /) -> dict: ...
    async def create(self, ctx: Context, attrs: dict, /) -> dict: ...
    async def create_bulk(self, ctx: Context, items: builtins.list[dict], /) -> builtins.list[dict]: ...
    async def update(self, ctx: Context, resource_id: str, attrs: dict, if_match: int | None = None, /) -> dict: ...
    async def delete(self, ctx: Context, resource_id: str, if_match: int | None = None, /) -> None: ...
    async def delete_matching(self, ctx: Context, query: ListQuery, /) -> builtins.list[str]: ...
    def missing(self, resource_id: str, /) -> errors.QuarkError: ...
    async def get_tags(self, ctx: Context, resource_id: str, /) -> builtins.list[str]: ...
    async def has_tag(self, ctx: Context, resource_id: str, tag: str, /) -> None: ...
    async def replace_tags(self, ctx: Context, resource_id: str, tags: builtins.list[str], /) -> builtins.list[str]: ...
    async def add_tags(self, ctx: Context, resource_id: str, tags: builtins.list[str], /) -> builtins.list[str]: ...
    async def remove_tag(self, ctx: Context, resource_id: str, tag: str | None, /) -> None: ...


JOB_HEADER = "X-Quark-Job-Id"


def with_job(response: Response, ctx: Context, resource_ids: builtins.list[Any]) -> Response:
    """``X-Quark-Job-Id``: the backend job the write made (a bulk's parent job;
    several, comma-separated, when one request made several without one), if
    it made any (docs/jobs.md)."""
    jobs = [ctx.jobs["*"]] if "*" in ctx.jobs else [ctx.jobs[i] for i in resource_ids if i in ctx.jobs]
    if jobs:
        response.headers[JOB_HEADER] = ",".join(jobs)
    return response


class CollectionRoutes:
    """The routes of one collection, bound to its service."""

    def __init__(self, resource: Resource, service: Callable[[Request], CollectionService]) -> None:
        self.resource = resource
        self.service = service

    def routes(self, prefix: str = "/v2.0") -> list[Route]:
        out: list[Route] = []
        for segment in (self.resource.collection, *self.resource.aliases):
            out += self._routes_at(prefix, segment)
        return out

    def _routes_at(self, prefix: str, segment: str) -> list[Route]:
        coll = f"{prefix}/{segment}"
        out = [
            Route(coll, self.index, methods=["GET"]),
            Route(coll + "/{id}", self.show, methods=["GET"]),
            # The bookmark link: the resource without a version in its URL, for good.
            Route(f"/{segment}/{{id}}", self.show, methods=["GET"]),
        ]
        if self.resource.read_only:
            return out
        if self.resource.creatable:
            out.append(Route(coll, self.create, methods=["POST"]))
        out += [
            Route(coll + "/{id}", self.update, methods=["PUT"]),
            Route(coll + "/{id}", self.delete, methods=["DELETE"]),
        ]
        if self.resource.delete_by_filter:
            out.append(Route(coll, self.delete_matching, methods=["DELETE"]))
        if self.resource.has_tags:
            out += [
                Route(coll + "/{id}/tags", self.tags_index, methods=["GET"]),
                Route(coll + "/{id}/tags", self.tags_replace, methods=["PUT"]),
                Route(coll + "/{id}/tags", self.tags_add, methods=["POST"]),
                Route(coll + "/{id}/tags", self.tags_delete_all, methods=["DELETE"]),
                Route(coll + "/{id}/tags/{tag}", self.tag_check, methods=["GET"]),
                Route(coll + "/{id}/tags/{tag}", self.tag_add, methods=["PUT"]),
                Route(coll + "/{id}/tags/{tag}", self.tag_delete, methods=["DELETE"]),
            ]
        return out

    async def index(self, request: Request) -> Response:
        ctx, authz = ctx_of(request), authorizer(request)
        settings = request.app.state.settings
        query = parse_list_query(self.resource, request.query_params.multi_items(), settings.pagination_max_limit)
        if authz.refuses_all(self.resource):
            return json_response({self.resource.body_collection: []})
        items = await self.service(request).list(ctx, with_policy_fields(self.resource, query))
        shown = await authz.visible(self.resource, items)
        link = self._linker(request, query.fields)
        payload: dict[str, Any] = {
            self.resource.body_collection: [present(authz, self.resource, link(i), query.fields) for i in shown]
        }
        links = pagination_links(request, self.resource, query, items)
        if links is not None:
            payload[f"{self.resource.body_collection}_links"] = links
        return json_response(payload)

    async def create(self, request: Request) -> Response:
        body = await read_json(request)
        return await idempotency.guarded(
            request, ctx_of(request), body, lambda keyed: self._create(request, body, keyed)
        )

    async def _create(self, request: Request, body: Any, keyed: idempotency.Keyed) -> Response:
        ctx, authz = keyed.ctx, authorizer(request)
        max_bulk = request.app.state.settings.max_bulk_size
        items, bulk = bodies.parse_create(self.resource, body, ctx, max_bulk=max_bulk)
        await authz.create(self.resource, items)
        service, link = self.service(request), self._linker(request, [])
        if bulk:

            def render_bulk(created: builtins.list[dict]) -> dict:
                return {self.resource.body_collection: [present(authz, self.resource, link(o), []) for o in created]}

            bulk_ctx = keyed.context(render_bulk)
            views = await service.create_bulk(bulk_ctx, items)
            return with_job(keyed.respond(render_bulk, views), bulk_ctx, [v.get("id") for v in views])

        def render(created: dict | builtins.list[dict]) -> dict:
            # A create's transaction returns the view, or the list of one view.
            obj = created[0] if isinstance(created, builtins.list) else created
            return {self.resource.name: present(authz, self.resource, link(obj), [])}

        one_ctx = keyed.context(render)
        created = await service.create(one_ctx, items[0])
        view = created[0] if isinstance(created, builtins.list) else created
        return with_job(keyed.respond(render, created), one_ctx, [view.get("id")])

    def _linker(self, request: Request, fields: builtins.list[str]) -> Callable[[dict], dict]:
        return add_if_asked(request, self.resource.collection, fields, self.resource.key)

    async def _visible(self, request: Request, authz: Authorizer, fields: builtins.list[str] | None = None) -> dict:
        """The object of the URL, if the caller may see it (404 otherwise, as a missing one)."""
        resource_id = request.path_params["id"]
        asked = with_policy_fields(self.resource, ListQuery(fields=fields or [])).fields
        obj = await self.service(request).get(authz.ctx, resource_id, asked)
        await authz.show(self.resource, obj, self.service(request).missing(resource_id))
        return obj

    async def show(self, request: Request) -> Response:
        authz = authorizer(request)
        fields = [f for f in request.query_params.getlist("fields") if f]
        obj = self._linker(request, fields)(await self._visible(request, authz, fields))
        return json_response({self.resource.name: present(authz, self.resource, obj, fields)})

    async def update(self, request: Request) -> Response:
        ctx, authz = ctx_of(request), authorizer(request)
        attrs = bodies.parse_update(self.resource, await read_json(request), ctx)
        service, resource_id = self.service(request), request.path_params["id"]
        current = await service.get(ctx, resource_id)
        await authz.change(self.resource, "update", current, attrs, service.missing(resource_id))
        obj = self._linker(request, [])(await service.update(ctx, resource_id, attrs, if_match_revision(request)))
        return with_job(json_response({self.resource.name: present(authz, self.resource, obj, [])}), ctx, [resource_id])

    async def delete(self, request: Request) -> Response:
        if (await request.body()).strip():
            raise errors.HTTPBadRequest(msg="Request body is not supported in DELETE.")
        ctx, authz = ctx_of(request), authorizer(request)
        service, resource_id = self.service(request), request.path_params["id"]
        current = await service.get(ctx, resource_id)
        await authz.change(self.resource, "delete", current, {}, service.missing(resource_id))
        await service.delete(ctx, resource_id, if_match_revision(request))
        return with_job(no_content(), ctx, [resource_id])

    async def delete_matching(self, request: Request) -> Response:
        """Quark bulk delete by filter (all or nothing); answers the ids removed.
        Every match must pass ``delete_<resource>`` (403 for the first that does not)."""
        if (await request.body()).strip():
            raise errors.HTTPBadRequest(msg="Request body is not supported in DELETE.")
        ctx, authz = ctx_of(request), authorizer(request)
        query = parse_list_query(self.resource, request.query_params.multi_items())
        service = self.service(request)
        for obj in await authz.visible(self.resource, await service.list(ctx, query)):
            await authz.change(self.resource, "delete", obj, {}, service.missing(obj["id"]))
        deleted = await service.delete_matching(ctx, query)
        return json_response({f"deleted_{self.resource.body_collection}": deleted})

    # --- tags (contract §3.10) ---------------------------------------------------
    # Neutron's rules: get_<r>:tags (GET), update_<r>:tags (PUT), create_<r>:tags
    # (POST), delete_<r>:tags (DELETE), each on an object the caller can see.

    async def _tags_allowed(self, request: Request, verb: str) -> None:
        authz = authorizer(request)
        obj = await self._visible(request, authz)
        name = f"{verb}_{self.resource.name}:tags"
        await authz.sub_action(self.resource, name, obj, self.service(request).missing(request.path_params["id"]))

    async def tags_index(self, request: Request) -> Response:
        await self._tags_allowed(request, "get")
        return json_response({"tags": await self.service(request).get_tags(ctx_of(request), request.path_params["id"])})

    async def tags_replace(self, request: Request) -> Response:
        tags = bodies.parse_tags_body(await read_json(request))
        await self._tags_allowed(request, "update")
        result = await self.service(request).replace_tags(ctx_of(request), request.path_params["id"], tags)
        return json_response({"tags": result})

    async def tags_add(self, request: Request) -> Response:
        tags = bodies.parse_tags_body(await read_json(request))
        await self._tags_allowed(request, "create")
        result = await self.service(request).add_tags(ctx_of(request), request.path_params["id"], tags)
        return json_response({"tags": result})

    async def tags_delete_all(self, request: Request) -> Response:
        await self._tags_allowed(request, "delete")
        await self.service(request).remove_tag(ctx_of(request), request.path_params["id"], None)
        return no_content()

    async def tag_check(self, request: Request) -> Response:
        await self._tags_allowed(request, "get")
        await self.service(request).has_tag(ctx_of(request), request.path_params["id"], request.path_params["tag"])
        return no_content()

    async def tag_add(self, request: Request) -> Response:
        tag = bodies._tags([request.path_params["tag"]])[0]
        await self._tags_allowed(request, "update")
        await self.service(request).add_tags(ctx_of(request), request.path_params["id"], [tag])
        return Response(status_code=201)

    async def tag_delete(self, request: Request) -> Response:
        await self._tags_allowed(request, "delete")
        await self.service(request).remove_tag(ctx_of(request), request.path_params["id"], request.path_params["tag"])
        return no_content()
