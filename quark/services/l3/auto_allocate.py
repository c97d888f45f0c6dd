"""Auto-allocated topology (alias ``auto-allocated-topology``;
docs/auto_allocated_topology.md): ``GET /v2.0/auto-allocated-topology/{project_id}``
gives a project a network, a subnet from each default subnet pool and a
router whose gateway is on the default external network, once; the next
calls answer the same network. ``DELETE`` takes it down again.

As Neutron's (``neutron/services/auto_allocate``): the pieces are made one
after the other through the network, subnet and router services (each its
own transaction), the network stays ``admin_state_up: false`` until the
topology is recorded; a failure cleans up what was made and answers 409
``AutoAllocationFailure``; of two concurrent first calls, the one whose
record loses the race removes its pieces and answers the winner's network.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import delete, insert, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import error_bases, errors, extension_errors
from quark.context import Context
from quark.db import l3_models, models, pool_models
from quark.db.engine import Database
from quark.services.core.networks import NetworkService
from quark.services.core.subnets import SubnetService
from quark.services.l3.routers import RouterService

LOG = logging.getLogger(__name__)

t = l3_models.auto_allocated_topologies
n = models.networks
sp = pool_models.subnetpools

DRY_RUN = "dry-run"


class AutoAllocateService:
    def __init__(self, db: Database, networks: NetworkService, subnets: SubnetService, routers: RouterService) -> None:
        self.db = db
        self.networks = networks
        self.subnets = subnets
        self.routers = routers

    # --- reads -------------------------------------------------------------------------

    async def _recorded(self, project_id: str) -> Any:
        async with self.db.read() as conn:
            return (await conn.execute(select(t).where(t.c.project_id == project_id))).first()

    async def _requirements(self) -> tuple[str, list[int]]:
        """The default external network and the IP versions of the default pools, or 409."""
        async with self.db.read() as conn:
            external = await _default_external(conn)
            versions = sorted(
                (await conn.execute(select(sp.c.ip_version).where(sp.c.is_default == true()).distinct())).scalars()
            )
        if external is None:
            raise extension_errors.AutoAllocationFailure(reason="No default router:external network")
        if not versions:
            raise extension_errors.AutoAllocationFailure(reason="No default subnetpools defined")
        return external, versions

    # --- the API ---------------------------------------------------------------------------

    async def get(self, project_id: str, fields: list[str]) -> dict:
        """The project's topology (made now if it has none), or only the check of
        what making it needs (``fields=dry-run``)."""
        if DRY_RUN in fields:
            await self._requirements()
            return {"id": "dry-run=pass", "project_id": project_id}
        if fields:
            raise errors.BadRequest(resource="auto_allocate", msg="Unrecognized field")
        found = await self._recorded(project_id)
        if found is not None:
            return _view(found.network_id, project_id)
        external, versions = await self._requirements()
        return _view(await self._build(project_id, external, versions), project_id)

    async def delete(self, project_id: str) -> None:
        found = await self._recorded(project_id)
        if found is None:
            return
        async with self.db.write() as conn:
            await conn.execute(delete(t).where(t.c.project_id == project_id))
        await self._cleanup(Context.admin(project_id), found.network_id, found.router_id)

    # --- building ----------------------------------------------------------------------------

    async def _build(self, project_id: str, external: str, versions: list[int]) -> str:
        ctx = Context.admin(project_id)
        network = (await self.networks.create_bulk(ctx, [_network_attrs(project_id)]))[0]
        router_id: str | None = None
        try:
            subnets = await self.subnets.create_bulk(
                ctx, [_subnet_attrs(project_id, network["id"], version) for version in versions]
            )
        except errors.QuarkError as exc:
            LOG.warning("auto-allocation for %s: no private network: %s", project_id, exc)
            await self._cleanup(ctx, network["id"], None)
            raise extension_errors.AutoAllocationFailure(reason="Unable to provide project private network") from None
        try:
            router_id = (await self.routers.create_bulk(ctx, [_router_attrs(project_id, external)]))[0]["id"]
            for subnet in subnets:
                await self.routers.add_interface(ctx, router_id, {"subnet_id": subnet["id"]})
        except errors.QuarkError as exc:
            LOG.warning("auto-allocation for %s: no external connectivity: %s", project_id, exc)
            await self._cleanup(ctx, network["id"], router_id)
            raise extension_errors.AutoAllocationFailure(reason="Unable to provide external connectivity") from None
        return await self._save(ctx, project_id, network["id"], router_id)

    async def _save(self, ctx: Context, project_id: str, network_id: str, router_id: str) -> str:
        try:
            async with self.db.write() as conn:
                await conn.execute(insert(t).values(project_id=project_id, network_id=network_id, router_id=router_id))
        except IntegrityError:
            # Another request made the project's topology meanwhile: it wins.
            await self._cleanup(ctx, network_id, router_id)
            winner = await self._recorded(project_id)
            assert winner is not None
            return str(winner.network_id)
        await self.networks.update(ctx, network_id, {"admin_state_up": True})
        return network_id

    async def _cleanup(self, ctx: Context, network_id: str, router_id: str | None) -> None:
        """Remove what a topology made; pieces already gone are skipped (Neutron's ignore_notfound)."""
        if router_id is not None:
            await _ignore_missing(self._drop_router(ctx, router_id, network_id))
        await _ignore_missing(self.networks.delete(ctx, network_id))

    async def _drop_router(self, ctx: Context, router_id: str, network_id: str) -> None:
        async with self.db.read() as conn:
            subnet_ids = list(
                (await conn.execute(select(models.subnets.c.id).where(models.subnets.c.network_id == network_id)))
                .scalars()
                .all()
            )
        for subnet_id in subnet_ids:
            await _ignore_missing(self.routers.remove_interface(ctx, router_id, {"subnet_id": subnet_id}))
        await self.routers.delete(ctx, router_id)


async def _ignore_missing(call: Any) -> None:
    try:
        await call
    except error_bases.NotFound:
        pass


async def _default_external(conn: AsyncConnection) -> str | None:
    found = await conn.scalar(
        select(n.c.id).where(n.c.is_default.is_(True), n.c.router_external.is_(True)).order_by(n.c.created_at).limit(1)
    )
    return None if found is None else str(found)


def _view(network_id: str, project_id: str) -> dict:
    return {"id": network_id, "project_id": project_id, "tenant_id": project_id}


def _network_attrs(project_id: str) -> dict:
    return {"name": "auto_allocated_network", "admin_state_up": False, "project_id": project_id, "shared": False}


def _subnet_attrs(project_id: str, network_id: str, version: int) -> dict:
    return {
        "name": f"auto_allocated_subnet_v{version}",
        "network_id": network_id,
        "project_id": project_id,
        "ip_version": version,
        "use_default_subnetpool": True,
    }


def _router_attrs(project_id: str, external: str) -> dict:
    return {
        "name": "auto_allocated_router",
        "external_gateway_info": {"network_id": external},
        "project_id": project_id,
        "admin_state_up": True,
    }
