"""Neutron's ``quark`` IPAM driver (``ipam_driver = quark``; docs/neutron_ipam_driver.md).

Imported by Neutron only (entry point group ``neutron.ipam_drivers``): it
imports Neutron. Every address Neutron hands out comes from Quark, one HTTP
round trip per allocation or release:

- a subnet is registered in Quark under Neutron's subnet id, on a Quark
  network with Neutron's network id (``allocate_subnet``; pools and gateway
  follow ``update_subnet``; ``remove_subnet`` releases and deletes it);
- an allocation names its holder, the Neutron port id, so the same request
  sent again (a retry after a lost answer) gets the same address, and a
  release names it too: Neutron's rollback of a failed request can only
  release what that port holds, never another port's address.

Neutron's ``Subnet.deallocate(address)`` carries no port; the port is the
``port`` argument of the Neutron frame that calls it
(``IpamPluggableBackend._ipam_deallocate_ips`` and the other callers all
have it), found by ``holder_of_caller``. Without one the release is by
address, as Neutron's own driver does.
"""

from __future__ import annotations

import uuid
from typing import Any

import netaddr
from neutron.ipam import driver as ipam_base
from neutron.ipam import exceptions as ipam_exc
from neutron.ipam import requests as ipam_req
from neutron.ipam import subnet_alloc
from neutron_lib import exceptions as n_exc
from oslo_config import cfg
from oslo_log import log as logging

from quark.neutron_ipam.client import QuarkClient, QuarkError, QuarkUnavailable, client_for
from quark.neutron_ipam.holders import holder_of_caller

LOG = logging.getLogger(__name__)


class QuarkIpamUnavailable(n_exc.ServiceUnavailable):
    message = "The IPAM service (Quark) is unavailable: %(reason)s"


def _client() -> QuarkClient:
    return client_for(cfg.CONF)


def _port_value(port: Any, key: str) -> Any:
    if isinstance(port, dict):
        return port.get(key)
    return getattr(port, key, None)


class QuarkAddressRequestFactory(ipam_req.AddressRequestFactory):
    """Neutron's requests, each carrying the port it is for (the holder)."""

    @classmethod
    def get_request(cls, context, port, ip_dict):
        request = super().get_request(context, port, ip_dict)
        request.quark_holder = _port_value(port, "id")
        request.quark_device_owner = _port_value(port, "device_owner") or ""
        request.quark_project_id = _port_value(port, "project_id")
        return request


class QuarkSubnetRequestFactory(ipam_req.SubnetRequestFactory):
    """Neutron's subnet requests, carrying the subnet's network and name."""

    @classmethod
    def get_request(cls, context, subnet, subnetpool):
        request = super().get_request(context, subnet, subnetpool)
        request.quark_network_id = subnet.get("network_id")
        request.quark_name = subnet.get("name") if isinstance(subnet.get("name"), str) else ""
        return request


def _translate(exc: QuarkError, subnet_ids: list[str], address: str | None) -> Exception:
    """Neutron's exception for Quark's error answer."""
    subnet_id = subnet_ids[0] if subnet_ids else ""
    if exc.kind in ("IpAddressAlreadyAllocated", "IpAddressExcludedByPolicy"):
        return ipam_exc.IpAddressAlreadyAllocated(subnet_id=subnet_id, ip=address)
    if exc.kind.startswith("IpAddressGenerationFailure"):
        if len(subnet_ids) > 1:
            return ipam_exc.IpAddressGenerationFailureAllSubnets()
        return ipam_exc.IpAddressGenerationFailure(subnet_id=subnet_id)
    if exc.kind in ("InvalidIpForSubnet", "InvalidIpForNetwork"):
        return ipam_exc.InvalidIpForSubnet(subnet_id=subnet_id, ip=address)
    if exc.status == 404:
        return n_exc.SubnetNotFound(subnet_id=subnet_id)
    return ipam_exc.InvalidSubnetRequest(reason=str(exc))


def _unavailable(exc: QuarkUnavailable) -> Exception:
    LOG.error("Quark IPAM unavailable: %s", exc)
    return QuarkIpamUnavailable(reason=str(exc))


def _subnet_call(method: str, *args: Any) -> Any:
    """A subnet call of the client: Quark's refusal is Neutron's InvalidSubnetRequest,
    an unreachable Quark a 503."""
    try:
        return getattr(_client(), method)(*args)
    except QuarkError as exc:
        raise ipam_exc.InvalidSubnetRequest(reason=str(exc)) from exc
    except QuarkUnavailable as exc:
        raise _unavailable(exc) from exc


def _allocate(subnet_ids: list[str], request: ipam_req.AddressRequest) -> tuple[netaddr.IPAddress, str]:
    """One round trip: an address for the request's port on one of ``subnet_ids``."""
    if isinstance(request, ipam_req.BulkAddressRequest):
        raise ipam_exc.InvalidAddressType(address_type="bulk")
    address = str(request.address) if isinstance(request, ipam_req.SpecificAddressRequest) else None
    holder = getattr(request, "quark_holder", None)
    attrs: dict[str, Any] = {
        # No port (none of Neutron's callers do this): a holder of its own, released by address.
        "holder": holder or f"unkeyed:{uuid.uuid4()}",
        "subnet_ids": list(subnet_ids),
        "device_owner": getattr(request, "quark_device_owner", ""),
    }
    if address is not None:
        attrs["ip_address"] = address
    if getattr(request, "quark_project_id", None):
        attrs["project_id"] = request.quark_project_id
    try:
        answer = _client().allocate(attrs)
    except QuarkError as exc:
        raise _translate(exc, list(subnet_ids), address) from exc
    except QuarkUnavailable as exc:
        raise _unavailable(exc) from exc
    return netaddr.IPAddress(answer["ip_address"]), answer["subnet_id"]


class QuarkSubnet(ipam_base.Subnet):
    """A Neutron subnet in Quark. Made without a round trip; the details are
    read only when Neutron asks for them (and known at once after a registration)."""

    def __init__(self, subnet_id: str, details: dict | None = None) -> None:
        self._subnet_id = subnet_id
        self._details = details

    def allocate(self, address_request):
        address, _ = _allocate([self._subnet_id], address_request)
        return address

    def deallocate(self, address):
        try:
            _client().release(self._subnet_id, str(netaddr.IPAddress(str(address))), holder_of_caller())
        except QuarkError as exc:
            raise _translate(exc, [self._subnet_id], str(address)) from exc
        except QuarkUnavailable as exc:
            raise _unavailable(exc) from exc

    def get_details(self):
        if self._details is None:
            self._details = _subnet_call("get_subnet", self._subnet_id)
        d = self._details
        pools = [netaddr.IPRange(p["start"], p["end"]) for p in d["allocation_pools"]]
        return ipam_req.SpecificSubnetRequest(d["project_id"], d["id"], d["cidr"], d["gateway_ip"], pools)


class QuarkSubnetGroup(ipam_base.SubnetGroup):
    def __init__(self, subnet_ids: list[str]) -> None:
        self._subnet_ids = list(subnet_ids)

    def allocate(self, address_request):
        return _allocate(self._subnet_ids, address_request)


class QuarkPool(subnet_alloc.SubnetAllocator):
    """The driver Neutron loads (``ipam_driver = quark``)."""

    def get_subnet_request_factory(self):
        return QuarkSubnetRequestFactory

    def get_address_request_factory(self):
        return QuarkAddressRequestFactory

    def allocate_subnet(self, subnet_request):
        network_id = getattr(subnet_request, "quark_network_id", None)
        name = getattr(subnet_request, "quark_name", "")
        if self._subnetpool:  # a CIDR out of a Neutron subnet pool: Neutron's own pool logic picks it
            subnet_request = super().allocate_subnet(subnet_request).get_details()
        if not isinstance(subnet_request, ipam_req.SpecificSubnetRequest):
            raise ipam_exc.InvalidSubnetRequestType(subnet_type=type(subnet_request))
        if not network_id:
            raise ipam_exc.InvalidSubnetRequest(reason="the subnet's network is not known")
        details = self._register(subnet_request, network_id, name)
        return QuarkSubnet(details["id"], details)

    def _register(self, request, network_id: str | None, name: str = "") -> dict:
        cidr = request.subnet_cidr
        attrs: dict[str, Any] = {
            "network_id": network_id,
            "cidr": str(cidr),
            "ip_version": cidr.version,
            "project_id": request.project_id,
            "gateway_ip": None if request.gateway_ip is None else str(request.gateway_ip),
            "name": name or "",
        }
        if request.allocation_pools:
            attrs["allocation_pools"] = [
                {"start": str(netaddr.IPAddress(r.first)), "end": str(netaddr.IPAddress(r.last))}
                for r in request.allocation_pools
            ]
        return _subnet_call("register_subnet", request.subnet_id, attrs)

    def get_subnet(self, subnet_id):
        return QuarkSubnet(subnet_id)

    def update_subnet(self, subnet_request):
        if not subnet_request.subnet_id:
            raise ipam_exc.InvalidSubnetRequest(reason="An identifier must be specified when updating a subnet")
        network_id = getattr(subnet_request, "quark_network_id", None)
        if not network_id:
            network_id = self._network_of(subnet_request)
        details = self._register(subnet_request, network_id)
        return QuarkSubnet(details["id"], details)

    @staticmethod
    def _network_of(subnet_request) -> str:
        return _subnet_call("get_subnet", subnet_request.subnet_id)["network_id"]

    def remove_subnet(self, subnet_id):
        _subnet_call("remove_subnet", subnet_id)

    def get_allocator(self, subnet_ids):
        return QuarkSubnetGroup(subnet_ids)

    def needs_rollback(self):
        return True
