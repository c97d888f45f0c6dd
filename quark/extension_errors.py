"""The errors of Neutron's small extensions Quark serves (subnet service
types, availability zones, auto-allocated topology, flavors), with Neutron's
wire types (neutron_lib.exceptions and the extensions' own)."""

from __future__ import annotations

from quark import error_bases

# --- subnet-service-types -------------------------------------------------------------


class InvalidSubnetServiceType(error_bases.BadRequest):
    message = "Subnet service type {service_type} does not correspond to a valid device owner."


class InvalidInputSubnetServiceType(error_bases.BadRequest):
    message = "Subnet service type {service_type} is not a string."


# --- availability_zone ------------------------------------------------------------------


class AvailabilityZoneNotFound(error_bases.NotFound):
    message = "AvailabilityZone {availability_zone} could not be found."


# --- auto-allocated-topology ------------------------------------------------------------


class AutoAllocationFailure(error_bases.Conflict):
    message = "Deployment error: {reason}."


class DefaultExternalNetworkExists(error_bases.Conflict):
    message = "A default external network already exists: {net_id}."


# --- flavors (neutron_lib.exceptions.flavors) ---------------------------------------------


class FlavorNotFound(error_bases.NotFound):
    message = "Flavor {flavor_id} could not be found."


class ServiceProfileNotFound(error_bases.NotFound):
    message = "Service Profile {sp_id} could not be found."


class FlavorInUse(error_bases.InUse):
    message = "Flavor {flavor_id} is used by some service instance."


class FlavorDisabled(error_bases.ServiceUnavailable):
    message = "Flavor is not enabled."


class ServiceProfileDisabled(error_bases.ServiceUnavailable):
    message = "Service Profile is not enabled."


class InvalidFlavorServiceType(error_bases.BadRequest):
    message = "Invalid service type {service_type}."


class ServiceProfileInUse(error_bases.InUse):
    message = "Service Profile {sp_id} is used by some service instance."


class FlavorServiceProfileBindingExists(error_bases.Conflict):
    message = "Service Profile {sp_id} is already associated with flavor {fl_id}."


class FlavorServiceProfileBindingNotFound(error_bases.NotFound):
    message = "Service Profile {sp_id} is not associated with flavor {fl_id}."


class ServiceProfileDriverNotFound(error_bases.NotFound):
    message = "Service Profile driver {driver} could not be found."


class ServiceProfileEmpty(error_bases.BadRequest):
    message = "Service Profile needs either a driver or metainfo."


class InvalidServiceType(error_bases.BadRequest):
    message = "Invalid service type: {service_type}."
