"""SQLAlchemy 2 models: the one authoritative store of network state.

Thin, typed tables; queries live in the services, address maths in ipam/.
Every name (tables, indexes, constraints) is explicit so that the Alembic
migrations are the same on SQLite, PostgreSQL and MariaDB.

Addresses are stored twice on allocations: ``address`` (canonical text, what
clients filter on) and ``address_key`` (fixed-width lower-case hex, so that
string order is numeric order on every database; see ipam.addressing.ip_key).
The allocator's cursor (``subnets.next_ip_key``) and the released-address
index (``ix_ip_allocations_reuse``) are what lets allocation avoid loading
the set of used addresses.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from quark.db.base import NAMING, Base, StandardAttributes, table_of
from quark.db.host_models import host_changes, host_generations
from quark.db.idempotency_model import idempotency_keys


class Network(StandardAttributes, Base):
    __tablename__ = "networks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255), default="", index=True)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    shared: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    router_external: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    mtu: Mapped[int] = mapped_column(Integer)
    port_security_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    network_type: Mapped[str | None] = mapped_column(String(32))
    physical_network: Mapped[str | None] = mapped_column(String(64))
    segmentation_id: Mapped[int | None] = mapped_column(Integer)
    # "vlan:physnet1:100", "vxlan::5001", "flat:physnet1:" — unique, so two
    # networks never share a segment. NULL when no segment is held.
    segment_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    dns_domain: Mapped[str] = mapped_column(String(255), default="")
    availability_zone_hints: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # auto-allocated-topology: the default external network (one at most); NULL: false.
    is_default: Mapped[bool | None] = mapped_column(Boolean)
    ipam_strategy: Mapped[str] = mapped_column(String(32), default="NEUTRON")
    # The backend driver that realises it (docs/drivers.md); NULL on networks
    # older than drivers: the deployment's backend_driver.
    network_plugin: Mapped[str | None] = mapped_column(String(64))
    # The network service it was made from (docs/network_services.md); NULL otherwise.
    network_service_id: Mapped[str | None] = mapped_column(ForeignKey("network_services.id"), index=True)


class Subnet(StandardAttributes, Base):
    __tablename__ = "subnets"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    network_id: Mapped[str] = mapped_column(ForeignKey("networks.id"), index=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255), default="", index=True)
    ip_version: Mapped[int] = mapped_column(Integer)
    cidr: Mapped[str] = mapped_column(String(64), index=True)
    gateway_ip: Mapped[str | None] = mapped_column(String(64))
    enable_dhcp: Mapped[bool] = mapped_column(Boolean, default=True)
    ipv6_ra_mode: Mapped[str | None] = mapped_column(String(32))
    ipv6_address_mode: Mapped[str | None] = mapped_column(String(32))
    # [[start, end], ...] canonical text, sorted by start.
    allocation_pools: Mapped[list[Any]] = mapped_column(JSON, default=list)
    dns_nameservers: Mapped[list[Any]] = mapped_column(JSON, default=list)
    host_routes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    service_types: Mapped[list[Any]] = mapped_column(JSON, default=list)
    segment_id: Mapped[str | None] = mapped_column(String(36))
    subnetpool_id: Mapped[str | None] = mapped_column(String(36), index=True)
    # Allocator cursor: address_key of the next never-used candidate; NULL
    # once the pools have been walked to the end (then only released
    # addresses can be handed out).
    next_ip_key: Mapped[str | None] = mapped_column(String(32))
    # [[first, last], ...] address ranges excluded by IP policies (of the
    # subnet and of its network), kept here so allocation needs no join;
    # rewritten whenever a policy or its attachment changes.
    excluded_ranges: Mapped[list[Any]] = mapped_column(JSON, default=list)


class IpAllocation(Base):
    """One row per address ever handed out in a subnet (unique per subnet).

    Releasing keeps the row with ``deallocated`` set, which both quarantines
    the address (``deallocated_at``) and keeps it out of the cursor's way.
    """

    __tablename__ = "ip_allocations"
    __table_args__ = (
        UniqueConstraint("subnet_id", "address_key", name="uq_ip_allocations_subnet_address"),
        Index("ix_ip_allocations_reuse", "subnet_id", "deallocated", "deallocated_at"),
        # The port quota counts a project's live addresses held by no single port (an index range).
        Index("ix_ip_allocations_standalone", "project_id", "port_id", "deallocated"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subnet_id: Mapped[str] = mapped_column(ForeignKey("subnets.id"))
    network_id: Mapped[str] = mapped_column(String(36), index=True)
    ip_version: Mapped[int] = mapped_column(Integer)
    address: Mapped[str] = mapped_column(String(64), index=True)
    address_key: Mapped[str] = mapped_column(String(32))
    port_id: Mapped[str | None] = mapped_column(String(36), index=True)
    project_id: Mapped[str | None] = mapped_column(String(255))
    allocated_at: Mapped[datetime] = mapped_column(DateTime)
    deallocated: Mapped[bool] = mapped_column(Boolean, default=False)
    deallocated_at: Mapped[datetime | None] = mapped_column(DateTime)


class IpUsage(Base):
    """Addresses in use per subnet, as a sharded counter.

    Every allocation and release adds to one of ``USAGE_SHARDS`` rows picked
    at random, so concurrent allocators rarely touch the same row; the sum is
    the subnet's use (availability, fullest-first subnet choice) without
    counting allocation rows. ``quark ipam check --fix`` recomputes it.
    """

    __tablename__ = "ip_usage"

    subnet_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    shard: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    used: Mapped[int] = mapped_column(BigInteger, default=0)


class IpPolicy(StandardAttributes, Base):
    """Quark IP policy: CIDRs never handed out automatically on its targets."""

    __tablename__ = "ip_policies"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    # canonical CIDRs
    exclude: Mapped[list[Any]] = mapped_column(JSON, default=list)


class IpPolicyTarget(Base):
    """A subnet or network an IP policy applies to (one policy per target)."""

    __tablename__ = "ip_policy_targets"

    target_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    target_type: Mapped[str] = mapped_column(String(16))  # "subnet" | "network"
    policy_id: Mapped[str] = mapped_column(ForeignKey("ip_policies.id"), index=True)


class SecurityGroup(StandardAttributes, Base):
    __tablename__ = "security_groups"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255), default="", index=True)
    stateful: Mapped[bool] = mapped_column(Boolean, default=True)


class DefaultSecurityGroup(Base):
    """Which group is a project's ``default`` (one per project, made lazily)."""

    __tablename__ = "default_security_groups"

    project_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    security_group_id: Mapped[str] = mapped_column(String(36))


class SecurityGroupRule(StandardAttributes, Base):
    __tablename__ = "security_group_rules"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    security_group_id: Mapped[str] = mapped_column(ForeignKey("security_groups.id"), index=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    direction: Mapped[str] = mapped_column(String(16))
    ethertype: Mapped[str] = mapped_column(String(8))
    protocol: Mapped[str | None] = mapped_column(String(40))
    port_range_min: Mapped[int | None] = mapped_column(Integer)
    port_range_max: Mapped[int | None] = mapped_column(Integer)
    remote_ip_prefix: Mapped[str | None] = mapped_column(String(64))
    remote_group_id: Mapped[str | None] = mapped_column(String(36), index=True)
    remote_address_group_id: Mapped[str | None] = mapped_column(String(36), index=True)


class FloatingIp(StandardAttributes, Base):
    """A floating IP: an address of an external network, held by an internal
    port (device_owner ``network:floatingip``) so the IPAM, quotas and
    ``NetworkInUse`` treat it like any other holder; optionally associated
    with one fixed IP of one port."""

    __tablename__ = "floatingips"
    __table_args__ = (
        # One floating IP per fixed IP (NULLs, i.e. unassociated, never collide).
        UniqueConstraint(
            "floating_network_id", "port_id", "fixed_ip_address", name="uq_floatingips_network_port_fixed_ip"
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    floating_network_id: Mapped[str] = mapped_column(ForeignKey("networks.id"), index=True)
    floating_port_id: Mapped[str] = mapped_column(String(36), unique=True)
    floating_ip_address: Mapped[str] = mapped_column(String(64), index=True)
    port_id: Mapped[str | None] = mapped_column(String(36), index=True)
    fixed_ip_address: Mapped[str | None] = mapped_column(String(64), index=True)
    router_id: Mapped[str | None] = mapped_column(String(36), index=True)
    status: Mapped[str] = mapped_column(String(16), default="DOWN")


class MacAddressRange(Base):
    __tablename__ = "mac_address_ranges"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    cidr: Mapped[str | None] = mapped_column(String(32))
    first_address: Mapped[int] = mapped_column(BigInteger)
    last_address: Mapped[int] = mapped_column(BigInteger)  # inclusive
    # Cursor: next never-used MAC; NULL once the range has been walked.
    next_address: Mapped[int | None] = mapped_column(BigInteger)
    do_not_use: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class MacAllocation(Base):
    """A MAC handed out from a range (globally unique within the ranges)."""

    __tablename__ = "mac_allocations"
    __table_args__ = (Index("ix_mac_allocations_reuse", "range_id", "deallocated", "deallocated_at"),)

    address: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    # No foreign key on purpose: its key-share lock on the range row would make
    # every MAC insert wait for (and deadlock with) the short transactions that
    # move the range cursor. Range deletion removes its allocations itself.
    range_id: Mapped[str] = mapped_column(String(36))
    allocated_at: Mapped[datetime] = mapped_column(DateTime)
    deallocated: Mapped[bool] = mapped_column(Boolean, default=False)
    deallocated_at: Mapped[datetime | None] = mapped_column(DateTime)


class Port(StandardAttributes, Base):
    __tablename__ = "ports"
    __table_args__ = (UniqueConstraint("network_id", "mac_address", name="uq_ports_network_mac"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    network_id: Mapped[str] = mapped_column(ForeignKey("networks.id"), index=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255), default="", index=True)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="DOWN")
    mac_address: Mapped[str] = mapped_column(String(17), index=True)
    # True when this port holds the mac_allocations row of its MAC and must
    # release it on delete.
    mac_allocated: Mapped[bool] = mapped_column(Boolean, default=False)
    device_id: Mapped[str] = mapped_column(String(255), default="", index=True)
    device_owner: Mapped[str] = mapped_column(String(255), default="", index=True)
    port_security_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    allowed_address_pairs: Mapped[list[Any]] = mapped_column(JSON, default=list)
    extra_dhcp_opts: Mapped[list[Any]] = mapped_column(JSON, default=list)
    binding_host_id: Mapped[str] = mapped_column(String(255), default="", index=True)
    binding_vnic_type: Mapped[str] = mapped_column(String(64), default="normal")
    binding_profile: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    binding_vif_type: Mapped[str] = mapped_column(String(64), default="unbound")
    binding_vif_details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dns_name: Mapped[str] = mapped_column(String(255), default="")
    ip_allocation: Mapped[str] = mapped_column(String(16), default="immediate")


class PortSecurityGroup(Base):
    __tablename__ = "port_security_groups"

    port_id: Mapped[str] = mapped_column(ForeignKey("ports.id"), primary_key=True)
    security_group_id: Mapped[str] = mapped_column(String(36), primary_key=True, index=True)


class Tag(Base):
    """Tags of every standard-attribute resource; ids are globally unique."""

    __tablename__ = "tags"

    resource_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tag: Mapped[str] = mapped_column(String(255), primary_key=True, index=True)


# --- Quark ip_addresses (shared holders) and routes (migration 0004) ----------


class IpAddressPort(Base):
    """A port holding a *shared* address (Quark's shared IPs).

    An ordinary address has one holder, ``ip_allocations.port_id``, which is
    what port create and port list read. A shared address has
    ``ip_allocations.port_id`` NULL and one row here per holder, so the hot
    paths pay only one extra indexed lookup (``ix_ip_address_ports_port_id``)
    and only this table knows about sharing. Rows go with their allocation
    (ON DELETE CASCADE); a port is detached explicitly before it is deleted.
    """

    __tablename__ = "ip_address_ports"

    allocation_id: Mapped[str] = mapped_column(ForeignKey("ip_allocations.id", ondelete="CASCADE"), primary_key=True)
    port_id: Mapped[str] = mapped_column(ForeignKey("ports.id"), primary_key=True, index=True)
    # Quark's per-port "service" of a shared address ("none" = no owner); a
    # holder with another value cannot be dropped until it is reset.
    service: Mapped[str] = mapped_column(String(255), default="none")
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Route(StandardAttributes, Base):
    """A subnet host route (Quark's /v2.0/routes).

    The rows are the subnet's host routes: ``subnets.host_routes`` is kept
    equal to them in the same transactions (it is what subnet reads, DHCP and
    Nova use), whichever API changes them.
    """

    __tablename__ = "routes"
    __table_args__ = (UniqueConstraint("subnet_id", "cidr", name="uq_routes_subnet_cidr"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subnet_id: Mapped[str] = mapped_column(ForeignKey("subnets.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    cidr: Mapped[str] = mapped_column(String(64))
    gateway: Mapped[str] = mapped_column(String(64))


# --- dataplane: segments, agents, host generations, Nova events (migration 0005) ----


class SegmentRange(StandardAttributes, Base):
    """A range of segment ids (VLAN ids of one physical network, or VNIs)
    that networks get theirs from: Quark's /v2.0/segment_allocation_ranges
    and Neutron's /v2.0/network_segment_ranges are two views of these rows.

    ``next_id`` is the allocator's cursor: the next id never handed out from
    this range (NULL once the range has been walked); released ids come back
    through ``segment_allocations`` rows, so no row exists per free id.
    ``shared`` false: the range serves only ``project_id``'s networks (and
    before the shared ones); ``is_default``: made from the ``segment_ranges``
    setting (Neutron's ``default``: read-only through Neutron's API).
    """

    __tablename__ = "segment_ranges"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    network_type: Mapped[str] = mapped_column(String(32))
    # "" for tunnel types
    physical_network: Mapped[str] = mapped_column(String(64), default="")
    minimum: Mapped[int] = mapped_column(Integer)
    maximum: Mapped[int] = mapped_column(Integer)  # inclusive
    next_id: Mapped[int | None] = mapped_column(Integer)
    # NULL for shared ranges
    project_id: Mapped[str | None] = mapped_column(String(255), index=True)
    shared: Mapped[bool] = mapped_column(Boolean, default=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)


class SegmentAllocation(Base):
    """A segment id held by a network, or released and waiting for reuse.

    The primary key makes an id impossible to hand out twice; a row exists
    only for ids ever held (cursor walk, explicit provider ids), never for
    free ones.
    """

    __tablename__ = "segment_allocations"
    __table_args__ = (
        Index("ix_segment_allocations_reuse", "network_type", "physical_network", "allocated", "released_at"),
    )

    network_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    physical_network: Mapped[str] = mapped_column(String(64), primary_key=True)
    segmentation_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    network_id: Mapped[str | None] = mapped_column(String(36))
    allocated: Mapped[bool] = mapped_column(Boolean, default=True)
    released_at: Mapped[datetime | None] = mapped_column(DateTime)


class Agent(Base):
    """A host agent (L2 agent, DHCP service), registered by its reports."""

    __tablename__ = "agents"
    __table_args__ = (UniqueConstraint("agent_type", "host", name="uq_agents_type_host"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    agent_type: Mapped[str] = mapped_column(String(64))
    binary: Mapped[str] = mapped_column(String(255), default="")
    topic: Mapped[str] = mapped_column(String(255), default="")
    host: Mapped[str] = mapped_column(String(255), index=True)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    configurations: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    availability_zone: Mapped[str | None] = mapped_column(String(255))
    resources_synced: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    heartbeat_timestamp: Mapped[datetime] = mapped_column(DateTime)


class NovaEvent(Base):
    """Outbox of Nova external events, written with the status change that
    causes them and sent by a background task with retries."""

    __tablename__ = "nova_events"
    __table_args__ = (Index("ix_nova_events_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    server_uuid: Mapped[str] = mapped_column(String(255))
    tag: Mapped[str] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(16))
    # pending | sent | failed
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime)
    last_error: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)


class Quota(Base):
    """A project's limit on one resource where not the default (``GET /v2.0/quotas``)."""

    __tablename__ = "quotas"

    project_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    limit: Mapped[int] = mapped_column(Integer)


class QuotaLock(Base):
    """Locked (``FOR UPDATE``) by a create before it counts the project's rows, so
    one project's creates of a resource are counted one after the other (services.common.quotas)."""

    __tablename__ = "quota_locks"

    project_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)


networks = table_of(Network)
subnets = table_of(Subnet)
ip_allocations = table_of(IpAllocation)
mac_address_ranges = table_of(MacAddressRange)
mac_allocations = table_of(MacAllocation)
ports = table_of(Port)
port_security_groups = table_of(PortSecurityGroup)
tags = table_of(Tag)
ip_usage = table_of(IpUsage)
security_groups = table_of(SecurityGroup)
floatingips = table_of(FloatingIp)
default_security_groups = table_of(DefaultSecurityGroup)
security_group_rules = table_of(SecurityGroupRule)
ip_policies = table_of(IpPolicy)
ip_policy_targets = table_of(IpPolicyTarget)
ip_address_ports = table_of(IpAddressPort)
routes = table_of(Route)
segment_ranges = table_of(SegmentRange)
segment_allocations = table_of(SegmentAllocation)
agents = table_of(Agent)
nova_events = table_of(NovaEvent)
quotas = table_of(Quota)
quota_locks = table_of(QuotaLock)

__all__ = ["NAMING", "Base", "host_changes", "host_generations", "idempotency_keys"]
