"""Builds the services of one process over one database."""

from __future__ import annotations

from dataclasses import dataclass

from quark.clock import utcnow
from quark.config import Settings
from quark.db.engine import Database
from quark.ipam.ip_allocator import IpAllocator
from quark.ipam.mac_allocator import MacAllocator
from quark.ipam.segments import SegmentAllocator
from quark.services.addressing.availability import AvailabilityService
from quark.services.addressing.ip_addresses import IpAddressService
from quark.services.addressing.ip_policies import IpPolicyService
from quark.services.addressing.mac_ranges import MacRangeService
from quark.services.addressing.routes import RouteService
from quark.services.common.base import ResourceService
from quark.services.compute.instances import InstanceService
from quark.services.core.networks import NetworkService
from quark.services.core.ports import PortService
from quark.services.core.segment_ranges import SegmentRangeService
from quark.services.core.subnets import SubnetService
from quark.services.dataplane.agents import AgentService
from quark.services.dataplane.binding import AgentBinder
from quark.services.dataplane.nova_events import NovaEvents
from quark.services.dataplane.service import DataplaneService
from quark.services.l3.floating_ips import FloatingIpService
from quark.services.security.groups import DefaultGroups, SecurityGroupRuleService, SecurityGroupService


@dataclass
class Services:
    db: Database
    settings: Settings
    networks: NetworkService
    subnets: SubnetService
    ports: PortService
    mac_ranges: MacRangeService
    ip_policies: IpPolicyService
    availability: AvailabilityService
    security_groups: SecurityGroupService
    security_group_rules: SecurityGroupRuleService
    floating_ips: FloatingIpService
    instances: InstanceService
    ip_addresses: IpAddressService
    routes: RouteService
    segment_ranges: SegmentRangeService
    agents: AgentService
    dataplane: DataplaneService

    def by_collection(self, collection: str) -> ResourceService:
        return {
            "networks": self.networks,
            "subnets": self.subnets,
            "ports": self.ports,
            "mac_address_ranges": self.mac_ranges,
            "ip_policies": self.ip_policies,
            "security-groups": self.security_groups,
            "security-group-rules": self.security_group_rules,
            "floatingips": self.floating_ips,
            "ip_addresses": self.ip_addresses,
            "routes": self.routes,
            "segment_allocation_ranges": self.segment_ranges,
        }[collection]


def build_services(db: Database, settings: Settings, clock=utcnow) -> Services:
    ips = IpAllocator(settings.ipam_reuse_after, clock)
    macs = MacAllocator(settings.ipam_reuse_after, clock, db)
    segments = SegmentAllocator(clock)
    networks = NetworkService(db, settings)
    networks.segments = segments
    binder = AgentBinder(settings, clock)
    ports = PortService(db, settings, ips, macs, binder)
    networks.ports = ports
    subnets = SubnetService(db, settings, ips)
    networks.subnets = subnets
    security_groups = SecurityGroupService(db, settings, DefaultGroups())
    ports.security_groups = security_groups
    routes = RouteService(db, settings)
    agents = AgentService(db, settings, clock)
    dataplane = DataplaneService(db, settings, binder, NovaEvents(settings, clock), clock)
    dataplane.ports, dataplane.agents = ports, agents
    agents.dataplane = dataplane
    subnets.dataplane = dataplane
    routes.subnets = subnets
    return Services(
        db=db,
        settings=settings,
        networks=networks,
        subnets=subnets,
        ports=ports,
        mac_ranges=MacRangeService(db, settings, macs),
        ip_policies=IpPolicyService(db, settings),
        availability=AvailabilityService(db),
        security_groups=security_groups,
        security_group_rules=SecurityGroupRuleService(db, settings),
        floating_ips=FloatingIpService(db, settings, ports),
        instances=InstanceService(db, networks, subnets, ports, security_groups),
        ip_addresses=IpAddressService(db, settings, ports),
        routes=routes,
        segment_ranges=SegmentRangeService(db, settings, segments),
        agents=agents,
        dataplane=dataplane,
    )
