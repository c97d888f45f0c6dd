"""The errors of the router API, with neutron-lib's names (the wire ``type``),
statuses and messages (neutron_lib/exceptions/l3.py and extraroute.py)."""

from __future__ import annotations

from quark import errors


class RouterNotFound(errors.NotFound):
    message = "Router {router_id} could not be found"


class RouterInUse(errors.InUse):
    message = "Router {router_id} {reason}"


class RouterInterfaceNotFound(errors.NotFound):
    message = "Router {router_id} does not have an interface with id {port_id}"


class RouterInterfaceNotFoundForSubnet(errors.NotFound):
    message = "Router {router_id} has no interface on subnet {subnet_id}"


class RouterInterfaceInUseByFloatingIP(errors.InUse):
    message = (
        "Router interface for subnet {subnet_id} on router {router_id} cannot be deleted, "
        "as it is required by one or more floating IPs."
    )


class RouterInterfaceInUseByRoute(errors.InUse):
    message = (
        "Router interface for subnet {subnet_id} on router {router_id} cannot be deleted, "
        "as it is required by one or more routes."
    )


class RouterExternalGatewayInUseByFloatingIp(errors.InUse):
    message = (
        "Gateway cannot be updated for router {router_id}, since a gateway to external network {net_id} "
        "is required by one or more floating IPs."
    )


class ExternalGatewayForFloatingIPNotFound(errors.NotFound):
    message = (
        "External network {external_network_id} is not reachable from subnet {subnet_id}.  "
        "Therefore, cannot associate Port {port_id} with a Floating IP."
    )


class InvalidRoutes(errors.InvalidInput):
    message = "Invalid format for routes: {routes}, {reason}"


class RoutesExhausted(errors.BadRequest):
    message = "Unable to complete operation for {router_id}. The number of routes exceeds the maximum {quota}."


class RouterBadRequest(errors.BadRequest):
    """Neutron's ``BadRequest(resource='router', msg=...)``."""

    wire_type = "BadRequest"
    message = "Bad router request: {msg}."
