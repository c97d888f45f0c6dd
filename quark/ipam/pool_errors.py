"""The errors of subnet pools and address scopes, with Neutron's wire types
(neutron_lib.exceptions and neutron_lib.exceptions.address_scope)."""

from __future__ import annotations

from quark import error_bases


class SubnetPoolNotFound(error_bases.NotFound):
    message = "Subnet pool {subnetpool_id} could not be found."


class AddressScopeNotFound(error_bases.NotFound):
    message = "Address scope {address_scope_id} could not be found."


class EmptySubnetPoolPrefixList(error_bases.BadRequest):
    message = "Empty subnet pool prefix list."


class PrefixVersionMismatch(error_bases.BadRequest):
    message = "Cannot mix IPv4 and IPv6 prefixes in a subnet pool."


class UnsupportedMinSubnetPoolPrefix(error_bases.BadRequest):
    message = "Prefix '{prefix}' not supported in IPv{version} pool."


class IllegalSubnetPoolPrefixBounds(error_bases.BadRequest):
    message = "Illegal prefix bounds: {prefix_type}={prefixlen}, {base_prefix_type}={base_prefixlen}."


class IllegalSubnetPoolPrefixUpdate(error_bases.BadRequest):
    message = "Illegal update to prefixes: {msg}."


class IllegalSubnetPoolUpdate(error_bases.BadRequest):
    message = "Illegal subnetpool update : {reason}."


class SubnetPoolDeleteError(error_bases.BadRequest):
    message = "Unable to delete subnet pool: {reason}."


class MaxPrefixSubnetAllocationError(error_bases.BadRequest):
    message = "Unable to allocate subnet with prefix length {prefixlen}, maximum allowed prefix is {max_prefixlen}."


class MinPrefixSubnetAllocationError(error_bases.BadRequest):
    message = "Unable to allocate subnet with prefix length {prefixlen}, minimum allowed prefix is {min_prefixlen}."


class SubnetAllocationError(error_bases.Conflict):
    """Neutron raises it as a bare NeutronException (a 500); Quark answers 409:
    the pool has no room for the request, which the caller can act on."""

    message = "Failed to allocate subnet: {reason}."


class SubnetPoolQuotaExceeded(error_bases.Conflict):
    message = "Per-project subnet pool prefix quota exceeded."


class IllegalSubnetPoolAssociationToAddressScope(error_bases.BadRequest):
    message = (
        "Illegal subnetpool association: subnetpool {subnetpool_id} cannot be associated "
        "with address scope {address_scope_id}."
    )


class IllegalSubnetPoolIpVersionAssociationToAddressScope(error_bases.BadRequest):
    message = (
        "Illegal subnetpool association: subnetpool {subnetpool_id} cannot associate with address scope "
        "{address_scope_id} because subnetpool ip_version is not {ip_version}."
    )


class AddressScopePrefixConflict(error_bases.Conflict):
    message = "Failed to associate address scope: subnetpools within an address scope must have unique prefixes."


class AddressScopeInUse(error_bases.InUse):
    message = (
        "Unable to complete operation on address scope {address_scope_id}. "
        "There are one or more subnet pools in use on the address scope."
    )


class AddressScopeUpdateError(error_bases.BadRequest):
    message = "Unable to update address scope {address_scope_id} : {reason}."


class NetworkAddressScopeAffinityError(error_bases.BadRequest):
    message = (
        "Subnets of the same address family hosted on the same network must all participate in the same address scope."
    )


class NetworkSubnetPoolAffinityError(error_bases.BadRequest):
    message = "Subnets hosted on the same network must be allocated from the same subnet pool."


class RbacPolicyInitError(error_bases.BadRequest):
    message = "Failed to create RBAC policy on object {object_id} because {reason}."
