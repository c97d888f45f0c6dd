"""The extension aliases Quark advertises. Clients branch on these, so only
what really works is listed (contract §1.3)."""

from __future__ import annotations

from quark.api.links import ALIAS as LINKS_ALIAS

UPDATED = "2026-11-23T00:00:00-00:00"

# alias -> (name, description)
EXTENSIONS: dict[str, tuple[str, str]] = {
    "project-id": ("project_id field enabled", "Extension that indicates that project_id field is enabled."),
    "standard-attr-description": ("standard-attr-description", "Extension to add descriptions to standard attributes"),
    "standard-attr-timestamp": (
        "Resource timestamps",
        "Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes.",
    ),
    "standard-attr-revisions": (
        "Resource revision numbers",
        "This extension will display the revision number of neutron resources.",
    ),
    "revision-if-match": (
        "If-Match constraints based on revision_number",
        "Extension indicating that If-Match based on revision_number is supported.",
    ),
    "standard-attr-tag": (
        "Tag support for resources with standard attribute",
        "Enables to set tag on resources with standard attribute.",
    ),
    "pagination": ("Pagination support", "Extension that indicates that pagination is enabled."),
    "sorting": ("Sorting support", "Extension that indicates that sorting is enabled."),
    "empty-string-filtering": (
        "Empty String Filtering Extension",
        "Allow filtering by attributes with empty string value",
    ),
    "ip-substring-filtering": (
        "IP address substring filtering",
        "Provides IP address substring filtering when listing ports",
    ),
    "external-net": ("Neutron external network", "Adds external network attribute to network resource."),
    "subnet-external-network": (
        "Subnet External Network",
        "Informs if the subnet is associated to an external network.",
    ),
    "filter-validation": ("Filter parameters validation", "Provides validation on filter parameters."),
    "provider": ("Provider Network", "Expose mapping of virtual networks to physical networks"),
    "net-mtu": ("Network MTU", "Provides MTU attribute for a network resource."),
    "net-mtu-writable": ("Network MTU (writable)", "Provides a writable MTU attribute for a network resource."),
    "port-security": ("Port Security", "Provides port security"),
    "binding": ("Port Binding", "Expose port bindings of a virtual port to external application"),
    "port-mac-address-regenerate": (
        "Neutron Port MAC address regenerate",
        "Network port MAC address regenerate",
    ),
    "allowed-address-pairs": ("Allowed Address Pairs", "Provides allowed address pairs"),
    "extra_dhcp_opt": (
        "Neutron Extra DHCP options",
        "Extra options configuration for DHCP. For example PXE boot options to DHCP clients can be specified (e.g. tftp-server, server-ip-address, bootfile-name)",
    ),
    "dns-integration": ("DNS Integration", "Provides integration with DNS."),
    "ip_allocation": ("IP Allocation", "IP allocation extension."),
    "subnet-service-types": ("Subnet service types", "Provides ability to set the subnet service_types field"),
    "network-ip-availability": (
        "Network IP Availability",
        "Provides IP availability data for each network and subnet.",
    ),
    "security-group": ("security-group", "The security groups extension."),
    "stateful-security-group": ("Stateful security group", "Indicates if the security group is stateful or not"),
    "security-groups-normalized-cidr": (
        "Normalized CIDR field for security group rules",
        "Add new field with normalized remote_ip_prefix cidr in SG rule",
    ),
    "security-groups-shared-filtering": (
        "Security group filtering on the shared field",
        "Support filtering security groups on the shared field",
    ),
    "rbac-policies": (
        "RBAC Policies",
        "Allows creation and modification of policies that control project access to resources.",
    ),
    "rbac-security-groups": ("Add security_group type to network RBAC", "Add security_group type to network RBAC"),
    "rbac-subnetpool": ("Add subnetpool type to RBAC", "Add subnetpool type to RBAC"),
    "rbac-address-scope": ("Add address_scope type to RBAC", "Add address_scope type to RBAC"),
    "rbac-address-group": ("Add address_group type to RBAC", "Add address_group type to RBAC"),
    "address-group": ("Address group", "Support address group"),
    "security-groups-remote-address-group": (
        "Remote address group id field for security group rules",
        "Add new field of remote address group id in security group rules",
    ),
    "fip-port-details": ("Floating IP Port Details Extension", "Add port_details attribute to Floating IP resource"),
    "service-type": ("Service Type Management", "API for retrieving service providers for Neutron advanced services"),
    "router": (
        "Neutron L3 Router",
        "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway.",
    ),
    "floatingip-pools": ("Floating IP Pools Extension", "Provides a floating IP pools API."),
    "ext-gw-mode": (
        "Neutron L3 Configurable external gateway mode",
        "Extension of the router abstraction for specifying whether SNAT should occur on the external gateway",
    ),
    "extraroute": ("Neutron Extra Route", "Extra routes configuration for L3 router"),
    # HA routers: scheduled on several L3 hosts, the database picks the active one (docs/l3.md).
    "l3-ha": ("HA Router extension", "Adds HA capability to routers."),
    # distributed routers: stored and shown, realised centrally (docs/routers.md).
    "dvr": ("Distributed Virtual Router", "Enables configuration of Distributed Virtual Routers."),
    "router-admin-state-down-before-update": (
        "Enforce Router's Admin State Down Before Update Extension",
        "Ensure that the admin state of a router is down (admin_state_up=False) before updating the distributed attribute",
    ),
    "extraroute-atomic": (
        "Atomically add/remove extra routes",
        "Edit extra routes of a router on server side by atomically adding/removing extra routes",
    ),
    "floating-ip-port-forwarding": (
        "Floating IP Port Forwarding",
        "Allow port forwarding from floating IP port to an internal port",
    ),
    "floating-ip-port-forwarding-description": (
        "Floating IP Port Forwarding new attribute description",
        "Add a description field to Port Forwarding rules",
    ),
    "floating-ip-port-forwarding-port-ranges": (
        "Floating IP Port Forwarding support port ranges",
        "Add support to port ranges",
    ),
    "floating-ip-port-forwarding-detail": (
        "Floating IP port forwarding detail",
        "Allow list floating ip return more port forwarding data, include'id' and 'internal_port_id'",
    ),
    "expose-port-forwarding-in-fip": (
        "Expose Floating IP port forwardings",
        "Expose port forwarding fields in floating IP response",
    ),
    "subnet_allocation": ("Subnet Allocation", "Enables allocation of subnets from a subnet pool"),
    "subnetpool-prefix-ops": (
        "Subnet Pool Prefix Operations",
        "Provides support for adjusting the prefix list of subnet pools",
    ),
    "default-subnetpools": (
        "Default Subnetpools",
        "Provides ability to mark and use a subnetpool as the default.",
    ),
    "address-scope": ("Address scope", "Address scopes extension."),
    "agent": ("agent", "The agent management extension."),
    "l3_agent_scheduler": ("L3 Agent Scheduler", "Schedule routers among l3 agents"),
    "flavors": ("Neutron Service Flavors", "Flavor specification for Neutron advanced services."),
    "auto-allocated-topology": (
        "Auto Allocated Topology Services",
        "Auto Allocated Topology Services.",
    ),
    "availability_zone": ("Availability Zone", "The availability zone extension."),
    "availability_zone_filter": (
        "Availability Zone Filter Extension",
        "Add filter parameters to AvailabilityZone resource",
    ),
    "network_availability_zone": ("Network Availability Zone", "Availability zone support for network."),
    "router_availability_zone": ("Router Availability Zone", "Availability zone support for router."),
    "quotas": ("Quota management support", "Expose functions for quotas management per project"),
    "quota_details": ("Quota details management support", "Expose functions for quotas usage statistics per project"),
    "quota-check-limit": (
        "Quota engine limit check",
        "Support for checking the resource usage before applying a new quota limit",
    ),
    "quota-check-limit-default": (
        "Quota engine limit check by default",
        "By default, the Neutron quota engine checks the resource usage before applying a new quota limit",
    ),
    "instances": (
        "Instances",
        "Quark: all of a device's ports in one request and one transaction (POST /v2.0/instances), its whole network info in one GET, its teardown in one DELETE.",
    ),
    "network-nested-create": (
        "Nested network create",
        "Quark: a network created with its subnets in one POST, all or nothing.",
    ),
    "ports-delete-by-filter": (
        "Port delete by filter",
        "Quark: DELETE /v2.0/ports?<filters> removes every matching port in one transaction, all or nothing.",
    ),
    "ip_policies": ("IP policies", "Quark: CIDRs excluded from automatic allocation on subnets or networks."),
    "ipam_strategy": (
        "IPAM strategies",
        "Quark: per-network choice of what ports created without fixed_ips get (NEUTRON, ANY, BOTH, BOTH_REQUIRED).",
    ),
    "mac_address_ranges": (
        "MAC address ranges",
        "Quark: admin-managed ranges that port MAC addresses are allocated from.",
    ),
    "ip_addresses": (
        "IP addresses",
        "Quark: addresses for any device, added to ports or shared by several ports (/v2.0/ip_addresses).",
    ),
    "network-segment-range": (
        "Neutron Network Segment Range",
        "Provides support for the network segment range management",
    ),
    "segment": ("Segment", "Segments extension."),
    "l3-flavors": ("Router Flavor Extension", "Flavor support for routers."),
    "subnet-segmentid-writable": (
        "Subnet SegmentID (writable)",
        "Provides a writable segment_id attribute for a subnet resource.",
    ),
    "multi-provider": (
        "Multi Provider Network",
        "Expose mapping of virtual networks to multiple physical networks",
    ),
    "standard-attr-segment": ("Standard Attribute Segment Extension", "Add standard attributes to Segment resource"),
    "security-groups-default-rules": (
        "Default rules for security groups",
        "Configure set of security group rules used as default rules for every new security group",
    ),
    "segment_allocation_ranges": (
        "Segment allocation ranges",
        "Quark: admin-managed VLAN id and VXLAN VNI ranges that networks get their segment from (/v2.0/segment_allocation_ranges).",
    ),
    "quark-jobs": (
        "Backend jobs",
        "Quark: the backend drivers' asynchronous work of every write (/v2.0/jobs), its status and errors; "
        "a write that made one answers its id in X-Quark-Job-Id.",
    ),
    "network-services": (
        "Network services per project",
        "Quark: admin-managed kinds of project network (flat, flat with DHCP, VLAN, VXLAN; each with its backend driver) "
        "and the one of each project (/v2.0/network-services, /v2.0/network-service-associations).",
    ),
    "network-plugin": (
        "Network backend driver",
        "Quark: per-network choice of the backend driver that realises it (network_plugin).",
    ),
    "routes": (
        "Subnet routes",
        "Quark: a subnet's host routes as resources (/v2.0/routes), shown in the subnet's host_routes.",
    ),
    LINKS_ALIAS: (
        "Permanent resource links",
        "Quark: every resource carries links: self (versioned) and bookmark (no version, stable for the resource's life), as the compute API does.",
    ),
}


def extension_view(alias: str) -> dict:
    name, description = EXTENSIONS[alias]
    return {"alias": alias, "name": name, "description": description, "updated": UPDATED, "links": []}
