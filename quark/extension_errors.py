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
