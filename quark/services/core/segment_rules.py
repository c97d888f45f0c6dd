"""What a segment may be and how a network's segments are kept, shared by
networks (the first segment, mirrored on the network's row), subnets
(``segment_id``) and Neutron's segments API (quark.services.core.segments).

See docs/segments.md: a network's first segment is ``segment_index`` 0 and
its id is ``primary_segment_id(network_id)``; every segment's ``segment_key``
is unique across all networks; the ids of range types are held in
``segment_allocations``.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors
from quark.clock import utcnow
from quark.db import models, segment_models
from quark.db.lookups import IDS, Lookup
from quark.ipam.segment_errors import (
    NetworkIdsDontMatch,
    NoUpdateSubnetWhenMultipleSegmentsOnNetwork,
    SegmentNotFound,
    SegmentsContainDuplicateEntry,
    SegmentsSetInConjunctionWithProviders,
    SubnetSegmentAssociationChangeNotAllowed,
    SubnetsNotAllAssociatedWithSegments,
)
from quark.ipam.segments import RANGE_TYPES, SegmentAllocator
from quark.services.core import segment_hosts

seg = segment_models.network_segments

# The segments of the networks shown, in index order (multi-provider's ``segments``).
NETWORK_SEGMENTS = Lookup(
    "network.segments",
    select(
        seg.c.network_id,
        seg.c.segment_index,
        seg.c.network_type,
        seg.c.physical_network,
        seg.c.segmentation_id,
    ).where(seg.c.network_id.in_(IDS)),
    order=("segment_index",),
)


def validate_provider(network_type: str, physnet: str | None, seg_id: int | None) -> None:
    """Neutron's type-driver rules for an explicitly requested segment."""

    def bad(reason: str) -> None:
        raise errors.InvalidInput(error_message=reason)

    if network_type in ("flat",):
        if not physnet:
            bad("physical_network required for flat provider network")
        if seg_id is not None:
            bad("segmentation_id not allowed for flat provider network")
    elif network_type == "vlan":
        if not physnet:
            bad("physical_network required for VLAN provider network")
        if seg_id is not None and not 1 <= seg_id <= 4094:
            bad(f"segmentation_id out of range ({seg_id}): VLAN ids are 1 to 4094")
    elif network_type in ("vxlan", "geneve", "gre"):
        if physnet:
            bad(f"provider:physical_network specified for {network_type} network")
    elif network_type == "local":
        if physnet or seg_id is not None:
            bad("provider:physical_network and provider:segmentation_id are not allowed for local networks")


def segment_key(network_type: str | None, physnet: str | None, seg_id: int | None) -> str | None:
    if network_type in (None, "local") or (network_type != "flat" and seg_id is None):
        return None
    return f"{network_type}:{physnet or ''}:{seg_id if seg_id is not None else ''}"


PROVIDER_ATTRS = ("provider:network_type", "provider:physical_network", "provider:segmentation_id")


def split_multi_provider(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    """multi-provider: a network created with ``segments``. The first becomes the
    network's provider attributes (in ``attrs``); the others are returned as the
    attributes of its extra segments (created after the network, in order)."""
    requested = attrs.pop("segments", None)
    if not requested:
        return []
    if any(attrs.get(a) is not None for a in PROVIDER_ATTRS):
        raise SegmentsSetInConjunctionWithProviders()
    keys = [tuple(sorted(segment.items())) for segment in requested]
    if len(set(keys)) != len(keys):
        raise SegmentsContainDuplicateEntry()
    attrs.update(requested[0])
    return [{a.split(":")[1]: segment.get(a) for a in PROVIDER_ATTRS} for segment in requested[1:]]


def primary_segment_id(network_id: str) -> str:
    """The id of a network's first segment: fixed by the network's (migration 0026 uses the same)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"quark:segment:{network_id}"))


async def add_primary(conn: AsyncConnection, network: dict[str, Any]) -> None:
    """The row of a new network's first segment (``network``: the networks row's values)."""
    if network["network_type"] is None:
        return
    now: datetime = network["created_at"]
    await conn.execute(
        insert(seg).values(
            id=primary_segment_id(network["id"]),
            network_id=network["id"],
            name=None,
            description="",
            network_type=network["network_type"],
            physical_network=network["physical_network"],
            segmentation_id=network["segmentation_id"],
            segment_key=network["segment_key"],
            segment_index=0,
            created_at=now,
            updated_at=now,
            revision_number=0,
        )
    )
    await segment_hosts.map_segment(conn, primary_segment_id(network["id"]), network["physical_network"])


async def add_segment(
    conn: AsyncConnection, allocator: SegmentAllocator, network: Any, index: int, attrs: dict[str, Any]
) -> str:
    """A segment of ``network`` (its row; locked by the caller) at ``index``: Neutron's type
    rules (400), its id from the ranges as a network's (or the one asked for, held), its key
    unique with every other segment's (409 ``SegmentationIdInUse``). Returns its id."""
    network_type, physnet, seg_id = attrs["network_type"], attrs.get("physical_network"), attrs.get("segmentation_id")
    validate_provider(network_type, physnet, seg_id)
    if network_type in RANGE_TYPES:  # as a network's own id (docs/segments.md)
        if seg_id is None:
            range_physnet, seg_id = await allocator.allocate(
                conn, network_type, physnet, network.id, network.project_id
            )
            physnet = range_physnet or None
        else:
            await allocator.allocate_specific(conn, network_type, physnet, seg_id, network.id)
    key = segment_key(network_type, physnet, seg_id)
    segment_id = str(uuid.uuid4())
    now = utcnow()
    try:
        await conn.execute(
            insert(seg).values(
                id=segment_id,
                network_id=network.id,
                name=attrs.get("name"),
                description=attrs.get("description") or "",
                network_type=network_type,
                physical_network=physnet,
                segmentation_id=seg_id,
                segment_key=key,
                segment_index=index,
                created_at=now,
                updated_at=now,
                revision_number=0,
            )
        )
    except IntegrityError:
        raise errors.SegmentationIdInUse(network_type=network_type, segment=key) from None
    await segment_hosts.map_segment(conn, segment_id, physnet)
    return segment_id


async def remove_network_segments(conn: AsyncConnection, allocator: SegmentAllocator, network_id: str) -> None:
    """A network is going: its segments go, the ids of the extra ones back to their ranges
    (the first one's id is the network's, released with it)."""
    rows = (await conn.execute(select(seg).where(seg.c.network_id == network_id).order_by(seg.c.id))).all()
    for row in rows:
        if row.segment_index != 0:
            await release(conn, allocator, row)
    if rows:
        ids = [row.id for row in rows]
        await segment_hosts.unmap_segments(conn, ids)
        await conn.execute(delete(models.tags).where(models.tags.c.resource_id.in_(ids)))
        await conn.execute(delete(seg).where(seg.c.network_id == network_id))


async def release(conn: AsyncConnection, allocator: SegmentAllocator, row: Any) -> None:
    if row.network_type in RANGE_TYPES and row.segmentation_id is not None:
        await allocator.release(conn, row.network_type, row.physical_network, row.segmentation_id)


async def check_subnet_segment(conn: AsyncConnection, network_id: str, segment_id: str | None) -> str | None:
    """A new subnet's ``segment_id``: a segment of the subnet's network (400
    ``NetworkIdsDontMatch``; 404 ``SegmentNotFound``), and the network's subnets
    either all on segments or none (400 ``SubnetsNotAllAssociatedWithSegments``)."""
    await _check_owner(conn, network_id, segment_id)
    s = models.subnets
    present = (
        await conn.execute(select(s.c.segment_id.is_(None)).where(s.c.network_id == network_id).distinct())
    ).scalars()
    if set(present) - {segment_id is None}:
        raise SubnetsNotAllAssociatedWithSegments(network_id=network_id)
    return segment_id


async def _check_owner(conn: AsyncConnection, network_id: str, segment_id: str | None) -> None:
    if segment_id is None:
        return
    # Shared lock: a concurrent delete of the segment waits for this subnet (then 409), or wins (then 404).
    owner = await conn.scalar(select(seg.c.network_id).where(seg.c.id == segment_id).with_for_update(read=True))
    if owner is None:
        raise SegmentNotFound(segment_id=segment_id)
    if owner != network_id:
        raise NetworkIdsDontMatch(subnet_network=network_id, segment_id=segment_id)


async def check_segment_change(conn: AsyncConnection, subnet: Any, segment_id: str | None) -> None:
    """``subnet-segmentid-writable``, Neutron's rules (``_validate_segment`` on update):
    only the one subnet of a network of one segment may move onto it (400
    ``SubnetsNotAllAssociatedWithSegments`` when the network has other subnets,
    ``NoUpdateSubnetWhenMultipleSegmentsOnNetwork``), and a subnet already on a
    segment keeps it (400 ``SubnetSegmentAssociationChangeNotAllowed``)."""
    if segment_id == subnet.segment_id:
        return
    s = models.subnets
    network_id = subnet.network_id
    present = list((await conn.execute(select(s.c.segment_id).where(s.c.network_id == network_id))).scalars())
    if len(present) > 1:
        raise SubnetsNotAllAssociatedWithSegments(network_id=network_id)
    if subnet.segment_id is not None:
        raise SubnetSegmentAssociationChangeNotAllowed()
    count = await conn.scalar(select(func.count()).select_from(seg).where(seg.c.network_id == network_id))
    if (count or 0) > 1:
        raise NoUpdateSubnetWhenMultipleSegmentsOnNetwork(network_id=network_id)
    await _check_owner(conn, network_id, segment_id)


def segments_by_network(found: Iterable[Any]) -> dict[str, list[dict]]:
    """multi-provider's ``segments`` of each network shown that has more than one."""
    out: dict[str, list[dict]] = defaultdict(list)
    for row in found:
        out[row.network_id].append(
            {
                "provider:network_type": row.network_type,
                "provider:physical_network": row.physical_network,
                "provider:segmentation_id": row.segmentation_id,
            }
        )
    return {network_id: views for network_id, views in out.items() if len(views) > 1}
