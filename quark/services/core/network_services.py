"""Network services per project (Quark extension, admin-managed; docs/network_services.md).

A *network service* is a kind of project network: its type (``flat``,
``flat_dhcp``, ``vlan``, ``vxlan``), the physical network it uses and the
backend driver that realises it. An *association* gives one project one
service: a network that project creates without provider attributes gets the
service's type, a segment from the matching segment allocation ranges, and
the service's driver as its ``network_plugin`` (``NetworkService.create_in``
asks ``of_project``). A project without one gets the deployment default
(``tenant_network_type``, ``backend_driver``).

Checked when a service is written: the driver is installed and declares the
kind's network type (``Driver.network_types``), else 400 ``InvalidInput``. A
service that a project or a network still names cannot be deleted (409).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import delete, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors
from quark.context import Context
from quark.db import models
from quark.db.network_service_models import network_service_associations as nsa
from quark.db.network_service_models import network_services as ns
from quark.drivers import loading
from quark.drivers.base import UnknownDriver
from quark.services.common import base
from quark.services.common.base import ResourceService, check_revision


class Kind(NamedTuple):
    network_type: str
    # Whether a subnet of its networks has DHCP when the create does not say.
    dhcp: bool
    # "required", "optional" or "forbidden"
    physical_network: str


KINDS = {
    "flat": Kind("flat", False, "required"),
    "flat_dhcp": Kind("flat", True, "required"),
    "vlan": Kind("vlan", True, "optional"),
    "vxlan": Kind("vxlan", True, "forbidden"),
}


class NetworkServiceNotFound(errors.NotFound):
    message = "Network service {network_service_id} could not be found."


class NetworkServiceAssociationNotFound(errors.NotFound):
    message = "Project {project_id} has no network service association."


class NetworkServiceInUse(errors.InUse):
    message = "Network service {network_service_id} is in use: {reason}."


class NetworkServiceAssociationExists(errors.Conflict):
    message = "Project {project_id} already has a network service association: change it with PUT."


def check_driver(driver: str, network_type: str) -> None:
    """400 unless ``driver`` is installed and declares ``network_type``."""
    try:
        supported = loading.supports(driver, network_type)
    except UnknownDriver:
        raise errors.InvalidInput(error_message=f"driver {driver!r} is not an installed driver") from None
    if not supported:
        raise errors.InvalidInput(error_message=f"driver {driver!r} does not realise {network_type} networks")


def check_physical_network(kind: str, physnet: str) -> None:
    rule = KINDS[kind].physical_network
    if rule == "required" and not physnet:
        raise errors.InvalidInput(error_message=f"physical_network is required for a {kind} network service")
    if rule == "forbidden" and physnet:
        raise errors.InvalidInput(error_message=f"physical_network is not allowed for a {kind} network service")


async def of_project(conn: AsyncConnection, project_id: str) -> Any | None:
    """The network service of ``project_id``'s association, or None (the default applies).

    Share-locked until the caller's transaction ends: a delete of the service
    (which locks it for update) waits for the network being made from it, then
    sees that network and answers 409, never a foreign-key error."""
    stmt = (
        select(ns)
        .join(nsa, nsa.c.network_service_id == ns.c.id)
        .where(nsa.c.id == project_id)
        .with_for_update(read=True)
    )
    return (await conn.execute(stmt)).first()


async def dhcp_default(conn: AsyncConnection, network: Any) -> bool:
    """``enable_dhcp`` of a subnet created on ``network`` without saying: false on a
    network of a ``flat`` service (DHCP is someone else's there), true otherwise."""
    service_id = getattr(network, "network_service_id", None)
    if service_id is None:
        return True
    kind = await conn.scalar(select(ns.c.kind).where(ns.c.id == service_id))
    return kind is None or KINDS[kind].dhcp


class NetworkServiceService(ResourceService):
    """``/v2.0/network-services``: the kinds an admin offers (no owner)."""

    table = ns
    not_found = NetworkServiceNotFound
    not_found_key = "network_service_id"
    columns = {
        "id": ns.c.id,
        "name": ns.c.name,
        "description": ns.c.description,
        "kind": ns.c.kind,
        "physical_network": ns.c.physical_network,
        "driver": ns.c.driver,
        "revision_number": ns.c.revision_number,
        "created_at": ns.c.created_at,
        "updated_at": ns.c.updated_at,
    }

    def visible(self, ctx: Context):
        return None  # no owner: who may see them is the policy's decision

    def assemble(self, rows: Sequence[Any], found: base.Found, query: Any) -> base.Views:
        return [self._view(row) for row in rows]

    @staticmethod
    def _view(row: Any) -> dict:
        kind = KINDS[row.kind]
        return {
            "id": row.id,
            "name": row.name,
            "description": row.description,
            "kind": row.kind,
            "network_type": kind.network_type,
            "enable_dhcp": kind.dhcp,
            "physical_network": row.physical_network or None,
            "driver": row.driver,
            "created_at": base.format_time(row.created_at),
            "updated_at": base.format_time(row.updated_at),
            "revision_number": row.revision_number,
        }

    async def create_in(self, conn: AsyncConnection, ctx: Context, attrs: dict) -> str:
        kind, physnet = attrs["kind"], attrs.get("physical_network") or ""
        check_physical_network(kind, physnet)
        check_driver(attrs["driver"], KINDS[kind].network_type)
        return await base.insert_new(conn, ns, attrs, kind=kind, physical_network=physnet, driver=attrs["driver"])

    async def authorize_write(self, conn: AsyncConnection, ctx: Context, row: Any) -> None:
        return None  # admin-only by the policy

    async def update(self, ctx: Context, service_id: str, attrs: dict, if_match: int | None = None) -> dict:
        """Name, description and driver (for networks made from now on; existing
        networks keep theirs). Raises InvalidInput for a driver that cannot."""

        async def work(conn: AsyncConnection) -> dict:
            row = await self.writable_row(conn, ctx, service_id, if_match)
            if "driver" in attrs:
                check_driver(attrs["driver"], KINDS[row.kind].network_type)
            changes = {k: attrs[k] for k in ("name", "description", "driver") if k in attrs}
            await self.bump_revision(conn, service_id, **changes)
            return await self.render_one(conn, ctx, service_id)

        return await self.db.run_write(work)

    async def delete(self, ctx: Context, service_id: str, if_match: int | None = None) -> None:
        """Raises NetworkServiceInUse while a project's association or a network names it."""

        async def work(conn: AsyncConnection) -> None:
            await self.writable_row(conn, ctx, service_id, if_match)
            for column, what in (
                (nsa.c.network_service_id, "projects are associated with it"),
                (models.networks.c.network_service_id, "networks were made from it"),
            ):
                if await conn.scalar(select(exists().where(column == service_id))):
                    raise NetworkServiceInUse(network_service_id=service_id, reason=what)
            try:
                await conn.execute(delete(ns).where(ns.c.id == service_id))
            except IntegrityError:  # an association or network written meanwhile
                raise NetworkServiceInUse(network_service_id=service_id, reason="it was just taken") from None

        await self.db.run_write(work)


class NetworkServiceAssociationService(ResourceService):
    """``/v2.0/network-service-associations``: one per project; its id is the project's."""

    table = nsa
    not_found = NetworkServiceAssociationNotFound
    not_found_key = "project_id"
    columns = {
        "id": nsa.c.id,
        "project_id": nsa.c.id,
        "tenant_id": nsa.c.id,
        "network_service_id": nsa.c.network_service_id,
        "description": nsa.c.description,
        "revision_number": nsa.c.revision_number,
        "created_at": nsa.c.created_at,
        "updated_at": nsa.c.updated_at,
    }

    def visible(self, ctx: Context):
        return None if ctx.is_admin else nsa.c.id == ctx.project_id

    def assemble(self, rows: Sequence[Any], found: base.Found, query: Any) -> base.Views:
        return [
            {
                "id": row.id,
                "project_id": row.id,
                "tenant_id": row.id,
                "network_service_id": row.network_service_id,
                "description": row.description,
                "created_at": base.format_time(row.created_at),
                "updated_at": base.format_time(row.updated_at),
                "revision_number": row.revision_number,
            }
            for row in rows
        ]

    @staticmethod
    async def _check_service(conn: AsyncConnection, service_id: str) -> None:
        # Share-locked: a delete of the service waits for this transaction (then 409).
        found = await conn.scalar(select(ns.c.id).where(ns.c.id == service_id).with_for_update(read=True))
        if found is None:
            raise NetworkServiceNotFound(network_service_id=service_id)

    async def create_in(self, conn: AsyncConnection, ctx: Context, attrs: dict) -> str:
        project_id = base.resolve_project(ctx, attrs)
        await self._check_service(conn, attrs["network_service_id"])
        if await conn.scalar(select(exists().where(nsa.c.id == project_id))):
            raise NetworkServiceAssociationExists(project_id=project_id)
        try:
            await base.insert_new(conn, nsa, attrs, id=project_id, network_service_id=attrs["network_service_id"])
        except IntegrityError:  # a concurrent create for the same project
            raise NetworkServiceAssociationExists(project_id=project_id) from None
        return project_id

    async def authorize_write(self, conn: AsyncConnection, ctx: Context, row: Any) -> None:
        if not ctx.is_admin and row.id != ctx.project_id:
            raise errors.PolicyNotAuthorized(action="rule:update_network_service_association")

    async def update(self, ctx: Context, project_id: str, attrs: dict, if_match: int | None = None) -> dict:
        """Another service for the project (its networks made from now on)."""

        async def work(conn: AsyncConnection) -> dict:
            await self.writable_row(conn, ctx, project_id, if_match)
            if "network_service_id" in attrs:
                await self._check_service(conn, attrs["network_service_id"])
            changes = {k: attrs[k] for k in ("network_service_id", "description") if k in attrs}
            await self.bump_revision(conn, project_id, **changes)
            return await self.render_one(conn, ctx, project_id)

        return await self.db.run_write(work)

    async def delete(self, ctx: Context, project_id: str, if_match: int | None = None) -> None:
        """The project goes back to the deployment default (its networks keep theirs)."""

        async def work(conn: AsyncConnection) -> None:
            row = await self.get_row(conn, ctx, project_id, for_update=True)
            check_revision(row, if_match)
            await conn.execute(delete(nsa).where(nsa.c.id == project_id))

        await self.db.run_write(work)
