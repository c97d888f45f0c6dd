"""Quark's exception hierarchy.

Domain code raises these; the API maps the *base* classes to HTTP status
codes in one place (``quark.api.faults``) and renders Neutron's error body
``{"NeutronError": {"type": <class name>, "message": ..., "detail": ""}}``.
The class name is the wire ``type`` and therefore part of the contract:
python-neutronclient and Nova branch on it. Never rename a leaf class.

Each leaf has a ``message`` template filled from its keyword arguments.
"""

from __future__ import annotations

from quark import error_bases

# The bases (quark/error_bases.py), named here too: every error is errors.X.
QuarkError = error_bases.QuarkError
BadRequest = error_bases.BadRequest
NotAuthorized = error_bases.NotAuthorized
NotFound = error_bases.NotFound
Conflict = error_bases.Conflict
InUse = error_bases.InUse
UnprocessableEntity = error_bases.UnprocessableEntity
PreconditionFailed = error_bases.PreconditionFailed
RequestEntityTooLarge = error_bases.RequestEntityTooLarge
ServiceUnavailable = error_bases.ServiceUnavailable
MethodNotAllowed = error_bases.MethodNotAllowed


class HTTPRequestEntityTooLarge(RequestEntityTooLarge):
    message = "Request is too large: the body exceeds {limit} bytes."


# --- 400 ----------------------------------------------------------------------


class HTTPBadRequest(BadRequest):
    """Body and query checks (Neutron answers these from webob)."""

    message = "{msg}"


class InvalidInput(BadRequest):
    message = "Invalid input for operation: {error_message}."


class InvalidActionForType(InvalidInput):
    message = "Invalid action '{action}' for object type '{object_type}'. Valid actions: {valid_actions}"


class InvalidIpForNetwork(BadRequest):
    message = "IP address {ip_address} is not a valid IP for any of the subnets on the specified network."


class InvalidIpForSubnet(BadRequest):
    message = "IP address {ip_address} is not a valid IP for the specified subnet."


class InvalidAllocationPool(BadRequest):
    message = "The allocation pool {pool} is not valid."


class OutOfBoundsAllocationPool(BadRequest):
    message = "The allocation pool {pool} spans beyond the subnet cidr {subnet_cidr}."


class HostRoutesExhausted(BadRequest):
    message = "Unable to complete operation for {subnet_id}. The number of host routes exceeds the limit {quota}."


class DNSNameServersExhausted(BadRequest):
    message = "Unable to complete operation for {subnet_id}. The number of DNS nameservers exceeds the limit {quota}."


class InvalidCIDR(BadRequest):
    message = "Invalid CIDR {input} given as IP prefix."


class AllocationOnAutoAddressSubnet(BadRequest):
    message = "IPv6 address {ip} cannot be directly assigned to a port on subnet {subnet_id} as the subnet is configured for automatic addresses."


class PortSecurityAndIPRequiredForSecurityGroups(BadRequest):
    message = "Port security must be enabled and port must have an IP address in order to use security groups."


class DuplicateAddressPairInRequest(BadRequest):
    message = "Request contains duplicate address pair: mac_address {mac_address} ip_address {ip_address}."


class AllowedAddressPairExhausted(BadRequest):
    message = "The number of allowed address pair exceeds the maximum {quota}."


class InvalidMacAddressRange(BadRequest):
    message = "Invalid MAC address range: {reason}."


class SecurityGroupRemoteGroupAndRemoteIpPrefix(BadRequest):
    message = "Only remote_ip_prefix or remote_group_id may be provided."


class SecurityGroupRuleInvalidProtocol(BadRequest):
    message = "Security group rule protocol {protocol} not supported. Only protocol values [None, tcp, udp, icmp, icmpv6] and integer representations [0 to 255] are supported."


class SecurityGroupProtocolRequiredWithPorts(BadRequest):
    message = "Must also specify protocol if port range is given."


class SecurityGroupInvalidPortRange(BadRequest):
    message = "For TCP/UDP protocols, port_range_min must be <= port_range_max"


class SecurityGroupMissingIcmpType(BadRequest):
    message = "ICMP code (port-range-max) {value} is provided but ICMP type (port-range-min) is missing."


class SecurityGroupInvalidIcmpValue(BadRequest):
    message = "Invalid value for ICMP {field} (port-range-{attr}): {value}. It must be 0 to 255."


class SecurityGroupRuleParameterConflict(BadRequest):
    message = "Conflicting value ethertype {ethertype} for CIDR {cidr}"


class SecurityGroupInvalidPortValue(BadRequest):
    message = "Invalid value for port {port}"


class SecurityGroupInvalidProtocolForPort(BadRequest):
    message = "Ports cannot be specified for protocol {protocol}. Ports are only supported for {valid_port_protocols}."


class SecurityGroupEthertypeConflictWithProtocol(BadRequest):
    message = "Invalid ethertype {ethertype} for protocol {protocol}."


class SecurityGroupCannotRemoveDefault(InUse):
    message = "Insufficient rights for removing default security group."


class SecurityGroupCannotUpdateDefault(InUse):
    message = "Updating default security group not allowed."


class SecurityGroupDefaultAlreadyExists(InUse):
    message = "Default security group already exists."


class InvalidExternalNetwork(BadRequest):
    message = "External network {net_id} is not a valid external network: {reason}"


class FloatingIPPortAlreadyAssociated(InUse):
    message = "Cannot associate floating IP {floating_ip_address} ({fip_id}) with port {port_id} using fixed IP {fixed_ip}, as that fixed IP already has a floating IP on external network {net_id}."


class BadFloatingIPPort(BadRequest):
    message = "Port {port_id} cannot be associated with a floating IP: {reason}"


class PortNotOnAddressNetwork(BadRequest):
    message = "Port {port_id} is on network {port_network_id}, not on the address's network {net_id}."


class FixedIpAddressHasOnePort(BadRequest):
    message = "A fixed address is held by at most one port ({count} given); create a shared address for several ports."


class SharedIpAddressNeedsPorts(BadRequest):
    message = "A shared address must be held by at least one port; delete the address instead."


class PortRequiresDisassociation(BadRequest):
    message = "Port {port_id} holds address {ip} for service '{service}'; set its service to 'none' first."


class IpAddressServiceNotShared(BadRequest):
    message = "Address {ip} is not shared: only holders of a shared address have a service."


class InvalidRoute(BadRequest):
    message = "Invalid route: {reason}."


# --- 403 ----------------------------------------------------------------------


class PolicyNotAuthorized(NotAuthorized):
    message = "({action}) is disallowed by policy."


class QuotaMissingTenant(BadRequest):
    message = "Tenant-id was missing from quota request."


class AdminRequired(NotAuthorized):
    message = "User does not have admin privileges: {reason}."


# --- 404 ----------------------------------------------------------------------


class HTTPNotFound(NotFound):
    message = "The resource could not be found."


class RbacPolicyNotFound(NotFound):
    message = "RBAC policy of type {object_type} with ID {id} not found"


class NetworkNotFound(NotFound):
    message = "Network {net_id} could not be found."


class SubnetNotFound(NotFound):
    message = "Subnet {subnet_id} could not be found."


class PortNotFound(NotFound):
    message = "Port {port_id} could not be found."


class MacAddressRangeNotFound(NotFound):
    message = "MAC address range {mac_address_range_id} could not be found."


class IpPolicyNotFound(NotFound):
    message = "IP policy {id} could not be found."


class TagNotFound(NotFound):
    message = "Tag {tag} could not be found for {resource_type} {resource_id}."


class SegmentAllocationRangeNotFound(NotFound):
    message = "Segment allocation range {range_id} could not be found."


class AgentNotFound(NotFound):
    message = "Agent {id} could not be found."


class JobNotFound(NotFound):
    message = "Job {id} could not be found."


class ExtensionNotFound(NotFound):
    message = "Extension with alias {alias} does not exist."


class SecurityGroupNotFound(NotFound):
    message = "Security group {id} does not exist"


class AddressGroupNotFound(NotFound):
    message = "Address group {address_group_id} could not be found."


class SecurityGroupRuleNotFound(NotFound):
    message = "Security group rule {id} does not exist"


class FloatingIPNotFound(NotFound):
    message = "Floating IP {floatingip_id} could not be found"


class IpAddressNotFound(NotFound):
    message = "IP address {ip_address_id} could not be found."


class NotAllPortOrDeviceFound(NotFound):
    message = "Device {device_id} has no port on network {net_id}."


class PortNotHoldingAddress(NotFound):
    message = "Port {port_id} does not hold IP address {ip_address_id}."


class TenantQuotaNotFound(NotFound):
    message = "Quota for tenant {tenant_id} could not be found."


class QuotaResourceUnknown(NotFound):
    message = "Unknown quota resources {unknown}."


class RouteNotFound(NotFound):
    message = "Route {route_id} could not be found."


# --- 409 ----------------------------------------------------------------------


class NetworkInUse(InUse):
    message = (
        "Unable to complete operation on network {net_id}. There are one or more ports still in use on the network."
    )


class SubnetInUse(InUse):
    message = (
        "Unable to complete operation on subnet {subnet_id}: One or more ports have an IP allocation from this subnet."
    )


class ServicePortInUse(InUse):
    message = "Port {port_id} cannot be deleted directly via the port API: {reason}."


class L3PortInUse(InUse):
    message = "Port {port_id} has owner {device_owner} and therefore cannot be deleted directly via the port API."


class PortInUse(InUse):
    message = "Unable to complete operation on port {port_id} for network {net_id}. Port already has an attached device {device_id}."


class MacAddressRangeInUse(InUse):
    message = "MAC address range {mac_address_range_id} has allocated MAC addresses and cannot be deleted."


class OverQuota(Conflict):
    message = "Quota exceeded for resources: {overs}."


class IpAddressAlreadyAllocated(Conflict):
    message = "IP address {ip} already allocated in subnet {subnet_id}."


class MacAddressInUse(InUse):
    message = "Unable to complete operation for network {net_id}. The mac address {mac} is in use."


class IpAddressGenerationFailure(Conflict):
    message = "No more IP addresses available on network {net_id}."


class IpAddressGenerationFailureNoMatchingSubnet(IpAddressGenerationFailure):
    message = "No valid service subnet for the given device owner, network {network_id}, service type {service_type}."


class UnsupportedPortDeviceOwner(Conflict):
    message = "Operation {op} is not supported for device_owner {device_owner} on port {port_id}."


class IpAddressExcludedByPolicy(Conflict):
    message = "IP address {ip} of subnet {subnet_id} is excluded by an IP policy; only an admin may request it."


class IpPolicyAlreadyExists(Conflict):
    message = "{target} already has an IP policy."


class MacAddressGenerationFailure(ServiceUnavailable):
    message = "Unable to generate unique mac on network {net_id}: no MAC address range has free addresses."


class OverlappingAllocationPools(Conflict):
    message = "Found overlapping allocation pools: {pool_1} and {pool_2} for subnet {subnet_cidr}."


class GatewayConflictWithAllocationPools(Conflict):
    message = "Gateway ip {ip_address} conflicts with allocation pool {pool}."


class GatewayIpInUse(Conflict):
    message = "Current gateway ip {ip_address} already in use by port {port_id}. Unable to update."


class AllocationPoolStrandsAddresses(Conflict):
    message = "Allocation pools cannot be changed: address {ip_address} is allocated outside the new pools."


class AddressPairAndPortSecurityRequired(Conflict):
    message = "Port Security must be enabled in order to have allowed address pairs on a port."


class PortSecurityPortHasSecurityGroup(InUse):
    message = "Port has security group associated. Cannot disable port security or IP address until security group is removed."


class PortBound(InUse):
    message = "Unable to complete operation on port {port_id}, port is already bound, port type: {vif_type}, old_mac {old_mac}, new_mac {new_mac}."


class RbacPolicyInUse(InUse):
    message = (
        "RBAC policy on object {object_id} cannot be removed because other objects depend on it.\nDetails: {details}"
    )


class DuplicateRbacPolicy(Conflict):
    message = "An RBAC policy already exists with those values."


class InvalidSharedSetting(Conflict):
    message = "Unable to reconfigure sharing settings for network {network}. Multiple tenants are using it."


class SegmentationIdInUse(InUse):
    message = "Unable to create the network. The {network_type} segment {segment} is in use by another network."


class SegmentAllocationRangeOverlap(Conflict):
    message = "Segment allocation range {range} overlaps range {other}."


class SegmentAllocationRangeInUse(InUse):
    message = "Segment allocation range {range_id} has segment ids held by networks (e.g. {segmentation_id} of network {network_id}) and cannot be deleted."


class NetworkMTUSubnetConflict(Conflict):
    message = "MTU of {net_id} is not valid, subnet requires a minimum of {mtu}"


class MacAddressRangeOverlap(Conflict):
    message = "MAC address range {cidr} overlaps range {other}."


class Duplicate(Conflict):
    message = "{resource} {id} already exists."


class SecurityGroupInUse(InUse):
    message = "Security Group {id} in use."


class SecurityGroupConflict(Conflict):
    message = "Error {reason} while attempting the operation."


class SecurityGroupRuleExists(InUse):
    message = "Security group rule already exists. Rule id is {rule_id}."


class PortIpAddressLimitExceeded(Conflict):
    message = "Port {port_id} would hold {count} addresses; at most {limit} are allowed per port."


class SharedIpAddressLimitExceeded(Conflict):
    message = "Project {project_id} already has {limit} shared addresses on network {net_id}, the most allowed."


class SharedIpAddressPortLimitExceeded(Conflict):
    message = "A shared address may be held by at most {limit} ports; {count} were given."


class AddressOfServicePort(Conflict):
    message = (
        "Port {port_id} is a {device_owner} port: its addresses are managed by that service, not through ip_addresses."
    )


class DuplicateRouteConflict(Conflict):
    message = "Subnet {subnet_id} already has a route to {cidr}."


# --- 412 ----------------------------------------------------------------------


class HTTPPreconditionFailed(PreconditionFailed):
    message = "Constrained to {expected}, but current revision is {current}"


# --- 500 / 503 ----------------------------------------------------------------


class NoNetworkAvailable(ServiceUnavailable):
    message = "Unable to create the network. No tenant network is available for allocation."


class RetryRequest(QuarkError):
    """Raised inside a transaction to ask the service boundary to run it again.

    Not a client-facing error: when retries are exhausted the boundary turns
    it into :class:`ServiceUnavailable`.
    """

    message = "The request conflicted with a concurrent one; retry."


# --- Idempotency-Key (docs/idempotency.md) -------------------------------------


class InvalidIdempotencyKey(BadRequest):
    message = "Invalid Idempotency-Key header: {reason}."


class IdempotencyKeyReused(UnprocessableEntity):
    message = (
        "The Idempotency-Key was already used for a different request (another body, method or path); "
        "use a new key for a new request."
    )


class IdempotencyKeyInFlight(Conflict):  # retry_after=<seconds>: its Retry-After header
    message = "A request with this Idempotency-Key is still being processed; retry it later."
