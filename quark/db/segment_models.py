"""Network segments (Neutron's ``segment`` extension): every segment of every
network, the first one included (docs/segments.md).

A network's first segment (``segment_index`` 0) is also kept on the network's
row (``network_type``, ``physical_network``, ``segmentation_id``,
``segment_key``), which is what the agents, the OVN driver and port binding
read; the extra segments of a multi-segment (routed) network live here only.
``segment_key`` is unique over every segment of every network, so no two
segments share a VLAN id, a VNI or a flat physical network; the ids of range
types are held in ``segment_allocations`` as the network's own are.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from quark.db.base import Base, StandardAttributes, table_of


class NetworkSegment(StandardAttributes, Base):
    __tablename__ = "network_segments"
    __table_args__ = (UniqueConstraint("network_id", "segment_index", name="uq_network_segments_network_index"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    network_id: Mapped[str] = mapped_column(ForeignKey("networks.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    network_type: Mapped[str] = mapped_column(String(32), index=True)
    physical_network: Mapped[str | None] = mapped_column(String(64))
    segmentation_id: Mapped[int | None] = mapped_column(Integer)
    # As networks.segment_key: "vlan:physnet1:100", "vxlan::5001", "flat:physnet1:"; NULL for local.
    segment_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    # 0: the network's first segment (mirrored on the network's row); then in creation order.
    segment_index: Mapped[int] = mapped_column(Integer, default=0)


network_segments = table_of(NetworkSegment)


class SegmentHostMapping(Base):
    """Which hosts reach which segment (Neutron's ``segmentHostMappings``):
    derived from the L2 agents' reports (a segment whose ``physical_network``
    is one of the host's ``bridge_mappings``), read when a port on a routed
    network is given a host (quark.services.core.segment_hosts)."""

    __tablename__ = "segment_host_mappings"

    segment_id: Mapped[str] = mapped_column(ForeignKey("network_segments.id"), primary_key=True)
    host: Mapped[str] = mapped_column(String(255), primary_key=True, index=True)


segment_host_mappings = table_of(SegmentHostMapping)
