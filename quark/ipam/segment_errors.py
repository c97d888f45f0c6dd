"""The errors of Neutron's network segment ranges and segments, with Neutron's
wire types (neutron_lib.exceptions.network_segment_range,
neutron.services.segments.exceptions)."""

from __future__ import annotations

from quark import error_bases


class NetworkSegmentRangeNotFound(error_bases.NotFound):
    message = "Network Segment Range {range_id} could not be found."


class NetworkSegmentRangeNetTypeNotSupported(error_bases.BadRequest):
    message = "Network type {type} does not support network segment ranges."


class NetworkSegmentRangeReferencedByProject(error_bases.InUse):
    message = "Network Segment Range {range_id} is referenced by one or more tenant networks."


class NetworkSegmentRangeDefaultReadOnly(error_bases.BadRequest):
    message = "Network Segment Range {range_id} is a default segment range which could not be updated or deleted."


class NetworkSegmentRangeOverlaps(error_bases.Conflict):
    message = "Network segment range overlaps with range(s) with id {range_id}"


# Neutron's segments (neutron.services.segments.exceptions).


class SegmentNotFound(error_bases.NotFound):
    message = "Segment {segment_id} could not be found."


class SegmentInUse(error_bases.InUse):
    message = "Segment '{segment_id}' cannot be deleted: {reason}."


class SubnetsNotAllAssociatedWithSegments(error_bases.BadRequest):
    message = (
        "All of the subnets on network '{network_id}' must either all be associated with segments "
        "or all not associated with any segment."
    )


class NetworkIdsDontMatch(error_bases.BadRequest):
    message = "The subnet's network id, '{subnet_network}', doesn't match the network_id of segment '{segment_id}'"


class HostNotConnectedToAnySegment(error_bases.Conflict):
    message = (
        "Host {host} is not connected to any segments on routed provider network '{network_id}'.  "
        "It should be connected to one."
    )


class HostNotCompatibleWithFixedIps(error_bases.Conflict):
    message = (
        "Host {host} is not connected to a segment where the existing fixed_ips on port {port_id} "
        "will function given the routed network topology."
    )


class FixedIpsSubnetsNotOnSameSegment(error_bases.BadRequest):
    message = "Cannot allocate addresses from different segments."


class NoUpdateSubnetWhenMultipleSegmentsOnNetwork(error_bases.BadRequest):
    message = (
        "The network '{network_id}' has multiple segments, it is only possible to associate an existing "
        "subnet with a segment on networks with a single segment."
    )


class SubnetSegmentAssociationChangeNotAllowed(error_bases.BadRequest):
    message = "A subnet that is already associated with a segment cannot have its segment association changed."


# multi-provider (neutron_lib.exceptions.multiprovidernet).


class SegmentsSetInConjunctionWithProviders(error_bases.BadRequest):
    message = "Segments and provider values cannot both be set."


class SegmentsContainDuplicateEntry(error_bases.BadRequest):
    message = "Duplicate segment entry in request."
