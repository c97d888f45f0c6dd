"""Which instance a metadata request comes from: the port holding the
request's source address on the proxy's network (or on one of the router's
internal networks), found through the API — never from anything the VM says.

As Neutron's metadata agent: exactly one port must match (none, or an
address on two of a router's networks, is "not found"); the instance is the
port's ``device_id``, the project its ``project_id``. Ports of network
services (``network:*``: router interfaces, DHCP) are no instance — a
request from a router's or DHCP namespace's own address finds nothing. Answers are cached for
``ttl`` seconds (Neutron: 5), so a VM polling its metadata costs the API one
list per address and TTL, not one per request.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from quark import owners

ListPorts = Callable[[list[tuple[str, str]]], Awaitable[list[dict[str, Any]]]]


@dataclass(frozen=True)
class Instance:
    instance_id: str
    project_id: str
    port_id: str


class PortLookup:
    def __init__(self, list_ports: ListPorts, *, ttl: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self._list_ports = list_ports
        self.ttl = ttl
        self._clock = clock
        self._cache: dict[tuple[str, ...], tuple[float, Any]] = {}

    async def _cached(self, key: tuple[str, ...], fetch: Callable[[], Awaitable[Any]]) -> Any:
        now = self._clock()
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        value = await fetch()
        self._cache[key] = (now, value)
        if len(self._cache) > 4096:  # drop the expired ones once it grows
            self._cache = {k: v for k, v in self._cache.items() if now - v[0] < self.ttl}
        return value

    async def router_networks(self, router_id: str) -> tuple[str, ...]:
        """The networks of the router's interfaces (its gateway's external network excluded)."""

        async def fetch() -> tuple[str, ...]:
            params = [("device_id", router_id), *(("device_owner", o) for o in owners.ROUTER_INTERFACE)]
            ports = await self._list_ports(params)
            return tuple(sorted({p["network_id"] for p in ports}))

        value: tuple[str, ...] = await self._cached(("router", router_id), fetch)
        return value

    async def instance(self, address: str, *, network_id: str = "", router_id: str = "") -> Instance | None:
        """The instance behind ``address`` on the network, or on the router's networks."""
        if network_id:
            networks: tuple[str, ...] = (network_id,)
        elif router_id:
            networks = await self.router_networks(router_id)
        else:
            raise ValueError("a network id or a router id is needed")
        if not networks or not address:
            return None

        async def fetch() -> Instance | None:
            params = [*(("network_id", n) for n in networks), ("fixed_ips", f"ip_address={address}")]
            ports = [p for p in await self._list_ports(params) if not owners.is_network_service(p.get("device_owner"))]
            if len(ports) != 1 or not ports[0].get("device_id"):
                return None
            port = ports[0]
            return Instance(port["device_id"], port.get("project_id") or port.get("tenant_id") or "", port["id"])

        value: Instance | None = await self._cached(("ports", address, *networks), fetch)
        return value
