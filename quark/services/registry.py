"""Builds the services of one process over one database, and wires them."""

from __future__ import annotations

from dataclasses import dataclass

from quark.clock import Clock, utcnow
from quark.config import Settings
from quark.db.engine import Database
from quark.ipam.ip_allocator import IpAllocator
from quark.ipam.mac_allocator import MacAllocator
from quark.ipam.segments import SegmentAllocator
from quark.services import background, wiring
from quark.services.addressing.address_scopes import AddressScopeService
from quark.services.addressing.availability import AvailabilityService
from quark.services.addressing.external_ipam import ExternalIpamService
from quark.services.addressing.ip_addresses import IpAddressService
from quark.services.addressing.ip_policies import IpPolicyService
from quark.services.addressing.mac_ranges import MacRangeService
from quark.services.addressing.routes import RouteService
from quark.services.addressing.subnet_pools import SubnetPoolService
from quark.services.addressing.utilization import UtilizationService
from quark.services.backends.jobs import JobService
from quark.services.backends.outbox import Outbox
from quark.services.common.availability_zones import AvailabilityZoneService
from quark.services.common.base import ResourceService
from quark.services.common.idempotency import IdempotencyKeys
from quark.services.common.pool_rbac import ADDRESS_SCOPE, SUBNETPOOL
from quark.services.common.quotas import QuotaService
from quark.services.common.rbac import RbacTypes
from quark.services.common.rbac_policies import RbacPolicyService
from quark.services.compute.instances import InstanceService
from quark.services.core.network_rbac import NETWORK
from quark.services.core.network_segment_ranges import NetworkSegmentRangeService
from quark.services.core.network_services import NetworkServiceAssociationService, NetworkServiceService
from quark.services.core.networks import NetworkService
from quark.services.core.ports.service import PortService
from quark.services.core.segment_ranges import SegmentRangeService
from quark.services.core.segments import SegmentService
from quark.services.core.subnets import SubnetService
from quark.services.dataplane.agent_changes import AgentChanges
from quark.services.dataplane.agents import AgentService
from quark.services.dataplane.binding import AgentBinder
from quark.services.dataplane.dhcp_scheduling import DhcpScheduler
from quark.services.dataplane.host_summary import HostSummaryService
from quark.services.dataplane.hosts import HostService
from quark.services.dataplane.l3_agents import L3AgentScheduling
from quark.services.dataplane.l3_scheduling import L3Scheduler
from quark.services.dataplane.nova_events import NovaEvents
from quark.services.events import Events
from quark.services.l3.auto_allocate import AutoAllocateService
from quark.services.l3.flavors import FlavorService, ServiceProfileService
from quark.services.l3.floating_ips import FloatingIpService
from quark.services.l3.floatingip_pools import FloatingIpPoolService
from quark.services.l3.port_forwarding_backend import PortForwardingBackendViews
from quark.services.l3.port_forwardings import PortForwardingService
from quark.services.l3.routers import RouterService
from quark.services.security.address_group_rbac import ADDRESS_GROUP
from quark.services.security.address_groups import AddressGroupService
from quark.services.security.defaults import DefaultGroups
from quark.services.security.group_rbac import SECURITY_GROUP
from quark.services.security.groups import SecurityGroupService
from quark.services.security.rules import SecurityGroupRuleService
from quark.services.security.templates import DefaultRuleService


@dataclass
class Services:
    db: Database
    settings: Settings
    events: Events
    networks: NetworkService
    subnets: SubnetService
    ports: PortService
    mac_ranges: MacRangeService
    ip_policies: IpPolicyService
    availability: AvailabilityService
    security_groups: SecurityGroupService
    security_group_rules: SecurityGroupRuleService
    floating_ips: FloatingIpService
    # Served under /v2.0/floatingips/{id}/port_forwardings (api/port_forwardings.py).
    port_forwardings: PortForwardingService
    # What backend drivers are given of a forwarding (by_collection "port_forwardings").
    port_forwarding_views: PortForwardingBackendViews
    routers: RouterService
    # Served under /v2.0/auto-allocated-topology/{project_id} (api/auto_allocate.py).
    auto_allocate: AutoAllocateService
    subnet_pools: SubnetPoolService
    address_scopes: AddressScopeService
    instances: InstanceService
    ip_addresses: IpAddressService
    # Another system's IPAM (Neutron's ``quark`` driver) at /v2.0/ipam (api/external_ipam.py).
    external_ipam: ExternalIpamService
    routes: RouteService
    segment_ranges: SegmentRangeService
    # Per-project network type and driver (docs/network_services.md).
    network_services: NetworkServiceService
    network_service_associations: NetworkServiceAssociationService
    network_segment_ranges: NetworkSegmentRangeService
    # Neutron's segments of networks (docs/segments.md).
    segments: SegmentService
    default_security_group_rules: DefaultRuleService
    agents: AgentService
    availability_zones: AvailabilityZoneService
    floatingip_pools: FloatingIpPoolService
    hosts: HostService
    rbac_policies: RbacPolicyService
    address_groups: AddressGroupService
    flavors: FlavorService
    service_profiles: ServiceProfileService
    # Not served as resources: they react to changes (quark.services.wiring).
    dhcp_scheduler: DhcpScheduler
    agent_changes: AgentChanges
    l3_scheduler: L3Scheduler
    # Neutron's l3_agent_scheduler (api/l3_agents.py) and the periodic move off dead L3 agents.
    l3_agents: L3AgentScheduling
    # Limits per project (the quota API) and their enforcement (a subscriber).
    quotas: QuotaService
    # Idempotency-Key claims and answers of creates (docs/idempotency.md).
    idempotency: IdempotencyKeys
    # The backend drivers' jobs: written by the outbox (a subscriber), shown by /v2.0/jobs.
    outbox: Outbox
    jobs: JobService
    # The dashboard's reads (docs/dashboard.md): utilization and heat maps, what hosts run.
    utilization: UtilizationService
    host_summary: HostSummaryService
    # What the app's lifespan starts and stops (quark.services.background); it knows no task by name.
    periodic_tasks: list[background.PeriodicTask]

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
            "port_forwardings": self.port_forwarding_views,  # the backends' view (worker, sync)
            "routers": self.routers,
            "subnetpools": self.subnet_pools,
            "address-scopes": self.address_scopes,
            "ip_addresses": self.ip_addresses,
            "routes": self.routes,
            "segment_allocation_ranges": self.segment_ranges,
            "jobs": self.jobs,
            "rbac-policies": self.rbac_policies,
            "network-services": self.network_services,
            "network-service-associations": self.network_service_associations,
            "address-groups": self.address_groups,
        }[collection]


def build_services(db: Database, settings: Settings, clock: Clock = utcnow) -> Services:
    """Every service of a process, each given what it depends on; their
    reactions to each other's changes are wired in ``quark.services.wiring``."""
    events = Events()
    ips = IpAllocator(settings.ipam_reuse_after, clock)
    macs = MacAllocator(settings.ipam_reuse_after, clock, db)
    segments = SegmentAllocator(clock)
    binder = AgentBinder(settings, clock)
    subnets = SubnetService(db, settings, events, ips)
    networks = NetworkService(db, settings, events, segments, subnets)
    ports = PortService(db, settings, events, ips, macs, binder)
    security_groups = SecurityGroupService(db, settings, DefaultGroups(events), events)
    routers = RouterService(db, settings, ports, events)
    floating_ips = FloatingIpService(db, settings, ports, events)
    quotas = QuotaService(db, settings)
    address_scopes = AddressScopeService(db, settings, events)
    dhcp_scheduler = DhcpScheduler(settings, clock, ports)
    agents = AgentService(db, settings, events, clock)
    l3_scheduler = L3Scheduler(settings, clock, binder)
    # The object types RBAC policies may name; a shareable resource adds its own.
    idempotency = IdempotencyKeys(db, settings, clock)
    hosts = HostService(db, settings, NovaEvents(settings, clock), clock)
    l3_agents = L3AgentScheduling(db, agents, l3_scheduler, settings.l3_reschedule_interval)
    rbac_types = RbacTypes()
    for object_type in (NETWORK, SECURITY_GROUP, SUBNETPOOL, ADDRESS_SCOPE, ADDRESS_GROUP):
        rbac_types.register(object_type)
    services = Services(
        db=db,
        settings=settings,
        events=events,
        networks=networks,
        subnets=subnets,
        ports=ports,
        mac_ranges=MacRangeService(db, settings, macs),
        ip_policies=IpPolicyService(db, settings),
        availability=AvailabilityService(db),
        utilization=UtilizationService(db, settings, clock),
        host_summary=HostSummaryService(db),
        security_groups=security_groups,
        security_group_rules=SecurityGroupRuleService(db, settings, events),
        floating_ips=floating_ips,
        port_forwardings=PortForwardingService(db, settings, floating_ips, events),
        port_forwarding_views=PortForwardingBackendViews(db, settings, floating_ips),
        routers=routers,
        auto_allocate=AutoAllocateService(db, networks, subnets, routers),
        subnet_pools=SubnetPoolService(db, settings, address_scopes, events),
        address_scopes=address_scopes,
        instances=InstanceService(db, networks, subnets, ports, security_groups),
        ip_addresses=IpAddressService(db, settings, ports, events),
        external_ipam=ExternalIpamService(db, networks, subnets, ips),
        routes=RouteService(db, settings, events, subnets),
        segment_ranges=SegmentRangeService(db, settings, segments),
        network_services=NetworkServiceService(db, settings),
        network_service_associations=NetworkServiceAssociationService(db, settings),
        agents=agents,
        network_segment_ranges=NetworkSegmentRangeService(db, settings, segments),
        segments=SegmentService(db, settings, segments),
        default_security_group_rules=DefaultRuleService(db, settings),
        hosts=hosts,
        rbac_policies=RbacPolicyService(db, settings, rbac_types, events),
        address_groups=AddressGroupService(db, settings, events),
        availability_zones=AvailabilityZoneService(db),
        floatingip_pools=FloatingIpPoolService(db),
        flavors=FlavorService(db, settings),
        service_profiles=ServiceProfileService(db, settings),
        dhcp_scheduler=dhcp_scheduler,
        agent_changes=AgentChanges(binder, dhcp_scheduler, clock),
        l3_scheduler=l3_scheduler,
        l3_agents=l3_agents,
        quotas=quotas,
        idempotency=idempotency,
        outbox=Outbox(settings, clock),
        jobs=JobService(db, settings),
        periodic_tasks=background.periodic_tasks(
            db, settings, idempotency=idempotency, hosts=hosts, l3_agents=l3_agents
        ),
    )
    wiring.subscribe(
        events,
        ports=ports,
        routes=services.routes,
        security_groups=security_groups,
        dhcp_scheduler=dhcp_scheduler,
        agent_changes=services.agent_changes,
        l3_scheduler=services.l3_scheduler,
        quotas=quotas,
        floating_ip_service=floating_ips,
        port_forwardings=services.port_forwardings,
        outbox=services.outbox,
    )
    events.freeze()
    return services
