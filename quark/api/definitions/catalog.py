"""Every collection the API serves, with the service that answers it.

Routes, the ``GET /v2.0/`` listing and the OpenAPI document all come from
this one table, so a collection is added in exactly one place.
"""

from __future__ import annotations

from quark.api.definitions.addresses import IP_ADDRESS, ROUTE
from quark.api.definitions.base import Resource
from quark.api.definitions.core import (
    IP_POLICY,
    MAC_ADDRESS_RANGE,
    NETWORK,
    NETWORK_IP_AVAILABILITY,
    PORT,
    SUBNET,
)
from quark.api.definitions.dataplane import (
    AGENT,
    AVAILABILITY_ZONE,
    NETWORK_SEGMENT_RANGE,
    SEGMENT,
    SEGMENT_ALLOCATION_RANGE,
)
from quark.api.definitions.flavors import FLAVOR, SERVICE_PROFILE
from quark.api.definitions.jobs import JOB
from quark.api.definitions.l3 import FLOATINGIP, FLOATINGIP_POOL, ROUTER
from quark.api.definitions.network_services import NETWORK_SERVICE, NETWORK_SERVICE_ASSOCIATION
from quark.api.definitions.pools import ADDRESS_SCOPE, SUBNETPOOL
from quark.api.definitions.rbac import RBAC_POLICY
from quark.api.definitions.security import (
    ADDRESS_GROUP,
    DEFAULT_SECURITY_GROUP_RULE,
    SECURITY_GROUP,
    SECURITY_GROUP_RULE,
)

# resource -> attribute of quark.services.registry.Services
SERVED: tuple[tuple[Resource, str], ...] = (
    (NETWORK, "networks"),
    (SUBNET, "subnets"),
    (PORT, "ports"),
    (MAC_ADDRESS_RANGE, "mac_ranges"),
    (IP_POLICY, "ip_policies"),
    (NETWORK_IP_AVAILABILITY, "availability"),
    (SECURITY_GROUP, "security_groups"),
    (SECURITY_GROUP_RULE, "security_group_rules"),
    (DEFAULT_SECURITY_GROUP_RULE, "default_security_group_rules"),
    (FLOATINGIP, "floating_ips"),
    (FLOATINGIP_POOL, "floatingip_pools"),
    (ROUTER, "routers"),
    (SUBNETPOOL, "subnet_pools"),
    (ADDRESS_SCOPE, "address_scopes"),
    (IP_ADDRESS, "ip_addresses"),
    (ROUTE, "routes"),
    (SEGMENT_ALLOCATION_RANGE, "segment_ranges"),
    (NETWORK_SEGMENT_RANGE, "network_segment_ranges"),
    (SEGMENT, "segments"),
    (AGENT, "agents"),
    (AVAILABILITY_ZONE, "availability_zones"),
    (JOB, "jobs"),
    (RBAC_POLICY, "rbac_policies"),
    (NETWORK_SERVICE, "network_services"),
    (NETWORK_SERVICE_ASSOCIATION, "network_service_associations"),
    (ADDRESS_GROUP, "address_groups"),
    (FLAVOR, "flavors"),
    (SERVICE_PROFILE, "service_profiles"),
)

RESOURCES: dict[str, Resource] = {resource.collection: resource for resource, _ in SERVED}
