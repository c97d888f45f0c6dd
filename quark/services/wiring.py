"""The wiring: every subscription to a change event in Quark, in one place.

Each event's handlers run in the order they are subscribed here, inside the
transaction of the change (``quark.services.events``). Where the order
matters, the comment above the group says why. ``tests/services/test_wiring.py``
holds this table to account.
"""

from __future__ import annotations

from quark.services.addressing import ip_policies
from quark.services.addressing.routes import RouteService
from quark.services.backends.outbox import Outbox
from quark.services.common.quotas import QuotaService
from quark.services.core.ports.service import PortService
from quark.services.dataplane import filter_hosts, hoststate
from quark.services.dataplane.agent_changes import AgentChanges
from quark.services.dataplane.dhcp_scheduling import DhcpScheduler
from quark.services.dataplane.l3_scheduling import L3Scheduler
from quark.services.events import (
    AddressGroupsChanged,
    AgentChanged,
    AgentReported,
    Events,
    FloatingIpAssociating,
    FloatingIpDeleting,
    NetworkClearing,
    NetworkDeleting,
    NetworkUpdated,
    PortAddressesChanged,
    PortDeleting,
    PortForwardingsChanged,
    PortGroupsChanging,
    PortsChanged,
    PortsCreating,
    ResourcesCreated,
    ResourcesWritten,
    RoutersChanged,
    SecurityGroupRulesChanged,
    SubnetCreated,
    SubnetDeleted,
    SubnetUpdated,
)
from quark.services.l3 import floating_ips, routers
from quark.services.l3.port_forwardings import PortForwardingService
from quark.services.security.groups import SecurityGroupService


def subscribe(
    events: Events,
    *,
    ports: PortService,
    routes: RouteService,
    security_groups: SecurityGroupService,
    dhcp_scheduler: DhcpScheduler,
    agent_changes: AgentChanges,
    l3_scheduler: L3Scheduler,
    quotas: QuotaService,
    floating_ip_service: floating_ips.FloatingIpService,
    port_forwardings: PortForwardingService,
    outbox: Outbox,
) -> None:
    # --- every countable resource ---------------------------------------------------
    # The last write of a create: a refused one rolls back whole, and the
    # project's quota lock is held only from here to the commit.
    events.subscribe(ResourcesCreated, quotas.on_resources_created)

    # --- every resource a backend driver realises -------------------------------------
    # A job for the driver of each change, in the change's transaction (only
    # drivers that need backend work; quark worker runs them after the commit).
    events.subscribe(ResourcesWritten, outbox.on_resources_written)

    # --- networks -------------------------------------------------------------------
    events.subscribe(NetworkUpdated, hoststate.on_network_updated)  # MTU: every host of the network
    # Before the in-use check: unassociated floating IPs go with their network.
    events.subscribe(NetworkClearing, floating_ip_service.on_network_clearing)
    # The ports left (DHCP) go with everything that hangs on them, before the
    # network's subnets and allocations are deleted.
    events.subscribe(NetworkDeleting, ports.on_network_deleting)
    events.subscribe(NetworkDeleting, ip_policies.on_network_deleting)

    # --- subnets --------------------------------------------------------------------
    # The ports' EUI-64 addresses on a new SLAAC subnet come first (a DHCP port
    # created after them asks for its own addresses), then route rows and
    # IP-policy exclusions, then the network's DHCP port (created, given an
    # address, or deleted), then the hosts are told: the generation bumps
    # last, so they cover the DHCP port's host too.
    events.subscribe(SubnetCreated, ports.on_subnet_created)
    events.subscribe(SubnetCreated, routes.on_subnet_created)
    events.subscribe(SubnetCreated, ip_policies.on_subnet_created)
    events.subscribe(SubnetCreated, dhcp_scheduler.on_subnet_created)
    events.subscribe(SubnetCreated, hoststate.on_subnet_changed)
    events.subscribe(SubnetUpdated, routes.on_subnet_updated)
    events.subscribe(SubnetUpdated, dhcp_scheduler.on_subnet_updated)
    events.subscribe(SubnetUpdated, hoststate.on_subnet_changed)
    events.subscribe(SubnetDeleted, ip_policies.on_subnet_deleted)
    events.subscribe(SubnetDeleted, dhcp_scheduler.on_subnet_deleted)
    events.subscribe(SubnetDeleted, hoststate.on_subnet_changed)

    # --- ports ----------------------------------------------------------------------
    events.subscribe(PortsCreating, security_groups.on_ports_creating)  # checked groups, or the default group
    events.subscribe(PortGroupsChanging, security_groups.on_port_groups_changing)
    # The hosts filtering by a remote group the port leaves or joins (docs/security_groups_enforcement.md).
    events.subscribe(PortGroupsChanging, filter_hosts.on_port_groups_changing)
    events.subscribe(PortsChanged, hoststate.on_ports_changed)
    events.subscribe(PortsChanged, filter_hosts.on_ports_changed)
    # The L3 hosts of the floating IPs about to be disassociated hear of it first.
    events.subscribe(PortAddressesChanged, l3_scheduler.on_port_addresses_changed)
    events.subscribe(PortAddressesChanged, floating_ip_service.on_port_addresses_changed)
    events.subscribe(PortAddressesChanged, port_forwardings.on_port_addresses_changed)
    events.subscribe(PortDeleting, l3_scheduler.on_port_deleting)
    events.subscribe(PortDeleting, floating_ip_service.on_port_deleting)
    events.subscribe(PortDeleting, port_forwardings.on_port_deleting)  # forwardings to the port go
    events.subscribe(PortDeleting, routers.on_port_deleting)  # a gateway port gone: no gateway
    events.subscribe(PortDeleting, hoststate.on_port_deleting)
    events.subscribe(PortDeleting, filter_hosts.on_port_deleting)

    # --- security groups ------------------------------------------------------------
    events.subscribe(SecurityGroupRulesChanged, filter_hosts.on_rules_changed)  # hosts of the group's ports
    # Hosts of the ports whose rules name the address group (docs/address_groups.md).
    events.subscribe(AddressGroupsChanged, filter_hosts.on_address_groups_changed)

    # --- floating IPs and their port forwardings ----------------------------------------
    # A floating IP with port forwardings can be neither associated nor deleted (409).
    events.subscribe(FloatingIpAssociating, port_forwardings.on_floatingip_associating)
    events.subscribe(FloatingIpDeleting, port_forwardings.on_floatingip_deleting)
    # New revisions of the floating IPs and internal ports (Neutron's revises_on_change).
    events.subscribe(PortForwardingsChanged, port_forwardings.on_port_forwardings_changed)
    # Then the routers' L3 hosts (a new generation: they realise the forwardings' DNAT).
    events.subscribe(PortForwardingsChanged, l3_scheduler.on_port_forwardings_changed)

    # --- routers (their L3 host, and its generation) -----------------------------------
    events.subscribe(RoutersChanged, l3_scheduler.on_routers_changed)

    # --- agents ---------------------------------------------------------------------
    events.subscribe(AgentReported, agent_changes.on_agent_reported)
    events.subscribe(AgentChanged, agent_changes.on_agent_changed)
    events.subscribe(AgentReported, l3_scheduler.on_agent_reported)  # routers of dead L3 hosts move
    events.subscribe(AgentChanged, l3_scheduler.on_agent_changed)
