"""The errors of address groups (neutron-lib's ``exceptions/address_group.py``);
``AddressGroupNotFound`` is in quark.errors (security-group rules answer it too)."""

from __future__ import annotations

from quark import error_bases


class AddressGroupInUse(error_bases.InUse):
    message = "Address group {address_group_id} is in use on one or more security group rules."


class AddressesNotFound(error_bases.NotFound):
    message = "Addresses {addresses} not found in the address group {address_group_id}."


class AddressesAlreadyExist(error_bases.BadRequest):
    message = "Addresses {addresses} already exist in the address group {address_group_id}."
