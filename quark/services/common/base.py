"""What every resource service shares: visibility, get/list, revisions, tags.

A resource service subclasses ``ResourceService`` and supplies its table, the
attribute→column map used by filters and sorting, a visibility clause for
non-admin callers, and the Neutron views of a batch of rows: ``lookups``
names the related rows the views need (tags, addresses, ...), fetched for
the whole batch in one statement (quark.db.lookups), and ``assemble`` builds
the views from the rows and what was found. Never a query per row.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Column, ColumnElement, Select, Table, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors
from quark.clock import utcnow
from quark.config import Settings
from quark.context import Context
from quark.db import models
from quark.db.engine import Database
from quark.db.lookups import IDS, Lookup, fetch_by_ids
from quark.services.common import listing
from quark.services.common.idempotency import answered
from quark.services.common.listing import ListQuery
from quark.services.events import Events

MAX_TAGS = 50

# Services have a ``list`` method, which hides the built-in type in their class
# bodies' annotations: these aliases keep it in reach.
Views = list[dict]
Strings = list[str]
Found = dict[str, list[Any]]  # related rows of the rows shown, by lookup name


def new_id() -> str:
    return str(uuid.uuid4())


def format_time(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def standard_view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "project_id": row.project_id,
        "tenant_id": row.project_id,
        "description": row.description,
        "created_at": format_time(row.created_at),
        "updated_at": format_time(row.updated_at),
        "revision_number": row.revision_number,
    }


def check_revision(row: Any, if_match: int | None) -> None:
    if if_match is not None and row.revision_number != if_match:
        raise errors.HTTPPreconditionFailed(expected=if_match, current=row.revision_number)


def resolve_project(ctx: Context, attrs: dict[str, Any]) -> str:
    """project_id / tenant_id from the body: equal if both given, admin for others."""
    project = attrs.pop("project_id", None)
    tenant = attrs.pop("tenant_id", None)
    if project is not None and tenant is not None and project != tenant:
        raise errors.HTTPBadRequest(msg="'project_id' and 'tenant_id' do not match")
    requested = project or tenant
    if requested and requested != ctx.project_id and not ctx.is_admin:
        raise errors.HTTPBadRequest(
            msg="Specifying 'project_id' or 'tenant_id' other than the authenticated project in request requires admin privileges"
        )
    return requested or ctx.project_id


# The tags of the rows being shown (any resource: tags are keyed by resource id).
TAGS = Lookup(
    "tags",
    select(models.tags.c.resource_id, models.tags.c.tag).where(models.tags.c.resource_id.in_(IDS)),
    order=("tag",),
)


def tags_by_resource(found: dict[str, list[Any]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for row in found.get("tags", ()):
        out[row.resource_id].append(row.tag)
    return out


async def load_tags(conn: AsyncConnection, ids: Sequence[str]) -> dict[str, list[str]]:
    return tags_by_resource(await fetch_by_ids(conn, [TAGS], ids))


def standard_columns(table: Table) -> dict[str, Column]:
    """Filter/sort columns every standard-attribute resource has."""
    c = table.c
    columns = {
        "id": c.id,
        "project_id": c.project_id,
        "tenant_id": c.project_id,
        "description": c.description,
        "revision_number": c.revision_number,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    }
    if "name" in c:  # security group rules, floating IPs have none
        columns["name"] = c.name
    return columns


async def insert_new(conn: AsyncConnection, table: Table, attrs: dict[str, Any], **values: Any) -> str:
    """Insert a new resource row: ``values``, a new ``id`` (unless given), the
    ``name`` and ``description`` of ``attrs`` ("" when absent) where ``table``
    has them, and, for a standard-attribute row, created and updated now at
    revision 0. Returns the row's id."""
    c = table.c
    values.setdefault("id", new_id())
    for key in ("name", "description"):
        if key in c:
            values.setdefault(key, attrs.get(key) or "")
    if "revision_number" in c:
        now = utcnow()
        values = {"created_at": now, "updated_at": now, "revision_number": 0, **values}
    await conn.execute(insert(table).values(**values))
    return str(values["id"])


class ResourceService:
    table: ClassVar[Table]
    not_found: ClassVar[type[errors.NotFound]]
    not_found_key: ClassVar[str]
    # attribute name -> column, for filters and sort keys
    columns: ClassVar[dict[str, Column]]
    # (attribute, lookup): the related rows a view needs for that attribute,
    # keyed by the bind parameter ``ids`` (the ids of the rows shown)
    related: ClassVar[tuple[tuple[str, Lookup], ...]] = ()

    def __init__(self, db: Database, settings: Settings, events: Events | None = None) -> None:
        self.db = db
        self.settings = settings
        # Where the service publishes its changes (quark.services.events); a
        # service built alone (tests) publishes to no one.
        self.events = events if events is not None else Events()

    # --- hooks -------------------------------------------------------------

    def visible(self, ctx: Context) -> ColumnElement[bool] | None:
        """WHERE clause of the rows a non-admin may see; None means all."""
        if ctx.is_admin:
            return None
        return self.table.c.project_id == ctx.project_id

    def extra_filters(self, query: ListQuery) -> list[ColumnElement[bool]]:
        return []

    def lookups(self, query: ListQuery) -> list[Lookup]:
        """The ``related`` lookups of the attributes ``query`` wants, each once."""
        return list(dict.fromkeys(lookup for attribute, lookup in self.related if query.wants(attribute)))

    def assemble(self, rows: Sequence[Any], found: Found, query: ListQuery) -> Views:
        """The views of ``rows``, given what ``lookups`` found (by lookup name)."""
        raise NotImplementedError

    async def render(self, conn: AsyncConnection, ctx: Context, rows: Sequence[Any], query: ListQuery) -> Views:
        found = await fetch_by_ids(conn, self.lookups(query), [r.id for r in rows])
        return self.assemble(rows, found, query)

    # --- reads -------------------------------------------------------------

    def missing(self, resource_id: str) -> errors.QuarkError:
        """The error of a resource that does not exist (or that the caller may not see)."""
        return self.not_found(**{self.not_found_key: resource_id})

    def _raise_not_found(self, resource_id: str) -> None:
        raise self.missing(resource_id)

    def visible_row(self, ctx: Context, resource_id: str) -> Select:
        """SELECT of one row by id, if the caller can see it."""
        stmt = select(self.table).where(self.table.c.id == resource_id)
        clause = self.visible(ctx)
        return stmt if clause is None else stmt.where(clause)

    async def get_row(self, conn: AsyncConnection, ctx: Context, resource_id: str, *, for_update: bool = False) -> Any:
        stmt = self.visible_row(ctx, resource_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await conn.execute(stmt)).first()
        if row is None:
            self._raise_not_found(resource_id)
        return row

    async def writable_row(
        self, conn: AsyncConnection, ctx: Context, resource_id: str, if_match: int | None = None
    ) -> Any:
        """The row a change is about: seen by the caller (404), locked, the
        caller's to change (403), at the revision ``If-Match`` names (412)."""
        row = await self.get_row(conn, ctx, resource_id, for_update=True)
        await self.authorize_write(conn, ctx, row)
        check_revision(row, if_match)
        return row

    async def get(self, ctx: Context, resource_id: str, fields: list[str] | None = None) -> dict:
        async with self.db.read() as conn:
            row = await self.get_row(conn, ctx, resource_id)
            return (await self.render(conn, ctx, [row], ListQuery(fields=fields or [])))[0]

    async def facts(
        self, ids: Iterable[str], names: Sequence[str], ctx: Context | None = None
    ) -> dict[str, dict[str, Any]]:
        """Named attributes (``columns``) of the rows ``ids``, whoever owns them: what
        the policy needs of a parent (a port's network) to decide; never shown as is
        (``ctx``: the asking caller, for facts that depend on who asks, as ``shared``)."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        stmt = select(self.table.c.id, *(self.columns[n] for n in names)).where(self.table.c.id.in_(wanted))
        async with self.db.read() as conn:
            return {row[0]: dict(zip(names, row[1:], strict=True)) for row in await conn.execute(stmt)}

    async def list(self, ctx: Context, query: ListQuery) -> list[dict]:
        # Lists may lag (a replica's), never behind the caller's own writes (quark.db.replica).
        async with self.db.read(lag_ok=True) as conn:
            # A marker the caller cannot see is as unknown as one that does not exist:
            # an empty page either way (its sort values must not position a page).
            marker = (await conn.execute(self.visible_row(ctx, query.marker))).first() if query.marker else None
            if query.marker and marker is None:
                return []
            stmt = listing.order_and_page(self.matching(ctx, query), self.table, self.columns, query, marker)
            rows = list((await conn.execute(stmt)).all())
            if query.page_reverse:
                rows.reverse()
            return await self.render(conn, ctx, rows, query)

    def matching(self, ctx: Context, query: ListQuery) -> Select:
        """SELECT of the rows the caller can see that match the query's filters."""
        stmt = select(self.table)
        clause = self.visible(ctx)
        if clause is not None:
            stmt = stmt.where(clause)
        where = [
            *listing.filter_clauses(self.columns, query),
            *listing.tag_clauses(self.table.c.id, query),
            *self.extra_filters(query),
        ]
        if query.changed_since is not None and "updated_at" in self.table.c:
            where.append(self.table.c.updated_at >= query.changed_since)
        return stmt.where(*where) if where else stmt

    async def views_of(self, ctx: Context, ids: Strings) -> Views:
        """Views of those of ``ids`` that exist, read only (an import's look-up:
        unlike ``list``, never a side effect such as a project's default group)."""
        async with self.db.read() as conn:
            rows = list(await conn.execute(select(self.table).where(self.table.c.id.in_(ids))))
            return await self.render(conn, ctx, rows, ListQuery())

    async def render_one(self, conn: AsyncConnection, ctx: Context, resource_id: str) -> dict:
        return (await self.render_ids(conn, ctx, [resource_id]))[0]

    async def render_ids(self, conn: AsyncConnection, ctx: Context, ids: Strings) -> Views:
        """Views of freshly written rows, in the order of ``ids``, with one batch of queries."""
        rows = {r.id: r for r in await conn.execute(select(self.table).where(self.table.c.id.in_(ids)))}
        return await self.render(conn, ctx, [rows[i] for i in ids], ListQuery())

    # --- writes shared by every resource -------------------------------------

    async def create(self, ctx: Context, attrs: dict) -> dict:
        return (await self.create_bulk(ctx, [attrs]))[0]

    async def create_bulk(self, ctx: Context, items: Views) -> Views:
        """All-or-nothing: every item through ``create_in`` in one transaction."""

        async def work(conn: AsyncConnection) -> Views:
            ids = [await self.create_in(conn, ctx, dict(attrs)) for attrs in items]
            return await self.render_ids(conn, ctx, ids)

        return await self.db.run_write(answered(ctx, work))

    async def create_in(self, conn: AsyncConnection, ctx: Context, attrs: dict) -> str:
        """Insert one resource in the caller's transaction; returns its id."""
        raise NotImplementedError

    async def bump_revision(self, conn: AsyncConnection, resource_id: str, **changes: Any) -> datetime:
        """Write ``changes`` with the next revision; the ``updated_at`` written
        (whole seconds, stored exactly: a caller may render the row without reading it back)."""
        now = utcnow()
        await conn.execute(
            update(self.table)
            .where(self.table.c.id == resource_id)
            .values(revision_number=self.table.c.revision_number + 1, updated_at=now, **changes)
        )
        return now

    async def authorize_write(self, conn: AsyncConnection, ctx: Context, row: Any) -> None:
        """Non-owners who can see a row (a shared network) still may not change it."""
        if not ctx.is_admin and row.project_id != ctx.project_id:
            raise errors.PolicyNotAuthorized(action=f"rule:update_{self.table.name[:-1]}")

    # --- tags ----------------------------------------------------------------

    async def get_tags(self, ctx: Context, resource_id: str) -> Strings:
        async with self.db.read() as conn:
            await self.get_row(conn, ctx, resource_id)
            return (await load_tags(conn, [resource_id])).get(resource_id, [])

    async def has_tag(self, ctx: Context, resource_id: str, tag: str) -> None:
        if tag not in await self.get_tags(ctx, resource_id):
            raise errors.TagNotFound(tag=tag, resource_type=self.table.name[:-1], resource_id=resource_id)

    async def replace_tags(self, ctx: Context, resource_id: str, tags: Iterable[str]) -> Strings:
        wanted = sorted(set(tags))
        if len(wanted) > MAX_TAGS:
            raise errors.HTTPBadRequest(msg=f"The number of tags exceeds the limit of {MAX_TAGS}")

        async def work(conn: AsyncConnection) -> Strings:
            row = await self.get_row(conn, ctx, resource_id, for_update=True)
            await self.authorize_write(conn, ctx, row)
            await write_tags(conn, resource_id, wanted)
            await self.bump_revision(conn, resource_id)
            return wanted

        return await self.db.run_write(work)

    async def add_tags(self, ctx: Context, resource_id: str, tags: Iterable[str]) -> Strings:
        async def work(conn: AsyncConnection) -> Strings:
            row = await self.get_row(conn, ctx, resource_id, for_update=True)
            await self.authorize_write(conn, ctx, row)
            current = (await load_tags(conn, [resource_id])).get(resource_id, [])
            wanted = sorted(set(current) | set(tags))
            if len(wanted) > MAX_TAGS:
                raise errors.HTTPBadRequest(msg=f"The number of tags exceeds the limit of {MAX_TAGS}")
            if wanted != current:
                await write_tags(conn, resource_id, wanted)
                await self.bump_revision(conn, resource_id)
            return wanted

        return await self.db.run_write(work)

    async def remove_tag(self, ctx: Context, resource_id: str, tag: str | None) -> None:
        """Remove one tag (404 if absent) or, with ``tag=None``, all of them."""

        async def work(conn: AsyncConnection) -> None:
            row = await self.get_row(conn, ctx, resource_id, for_update=True)
            await self.authorize_write(conn, ctx, row)
            t = models.tags
            stmt = delete(t).where(t.c.resource_id == resource_id)
            if tag is not None:
                stmt = stmt.where(t.c.tag == tag)
            result = await conn.execute(stmt)
            if tag is not None and result.rowcount == 0:
                raise errors.TagNotFound(tag=tag, resource_type=self.table.name[:-1], resource_id=resource_id)
            if result.rowcount:
                await self.bump_revision(conn, resource_id)

        await self.db.run_write(work)


async def write_tags(conn: AsyncConnection, resource_id: str, tags: Sequence[str]) -> None:
    t = models.tags
    await conn.execute(delete(t).where(t.c.resource_id == resource_id))
    if tags:
        await conn.execute(insert(t), [{"resource_id": resource_id, "tag": tag} for tag in tags])


def validate_tags(tags: Sequence[str]) -> list[str]:
    if len(set(tags)) > MAX_TAGS:
        raise errors.HTTPBadRequest(msg=f"The number of tags exceeds the limit of {MAX_TAGS}")
    return sorted(set(tags))
