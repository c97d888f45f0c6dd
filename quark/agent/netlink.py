"""Reading and changing links with pyroute2, optionally inside a namespace.

``Netlink(netns="hostA")`` opens its rtnetlink socket inside the named
namespace (``/run/netns/hostA``, as ``ip netns`` makes them) while the rest of
the process — its HTTP client in particular — stays where it is. This is how
one machine runs agents for several "hosts" in tests, and how the DHCP service
reaches into its per-network namespaces.

``snapshot()`` returns a ``model.ActualState``; ``apply(action)`` performs one
``plan`` action. Errors come out as ``NetlinkError`` with the errno; deleting
something that is already gone is not an error.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import socket
from typing import Any

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError

from quark.agent import plan as p
from quark.agent.model import ZERO_MAC, ActualState, Link

log = logging.getLogger(__name__)

IFF_UP = 0x1
RTPROT_STATIC = 4  # the L3 part's routes ("proto static"); routes of other origins are left alone
MAIN_TABLE = 254
RT_SCOPE_UNIVERSE = 0  # "scope global"

__all__ = ["Netlink", "NetlinkError"]


def _link_from_msg(msg: Any) -> Link:
    kind = msg.get(("linkinfo", "kind"))
    return Link(
        name=msg.get("ifname"),
        index=msg["index"],
        kind=kind,
        master=msg.get("master") or None,
        up=bool(msg["flags"] & IFF_UP),
        mac=(msg.get("address") or "").lower(),
        mtu=msg.get("mtu") or 0,
        **_kind_fields(msg, kind),
    )


def _kind_fields(msg: Any, kind: str | None) -> dict[str, Any]:
    """The ``Link`` fields only one kind of device has (the others keep their defaults)."""
    if kind == "veth":
        return {"peer_index": msg.get("link"), "peer_elsewhere": msg.get("link_netnsid") is not None}
    if kind == "vlan":
        data = msg.get(("linkinfo", "data"))
        return {"vlan_id": data.get("vlan_id") if data is not None else None, "parent_index": msg.get("link")}
    if kind == "vxlan":
        data = msg.get(("linkinfo", "data"))
        if data is None:
            return {}
        return {
            "vxlan_id": data.get("vxlan_id"),
            "vxlan_local": data.get("vxlan_local"),
            "vxlan_port": data.get("vxlan_port"),
        }
    return {}


def _static_route(destination: str) -> dict[str, Any]:
    """The netlink fields naming the agent's route to ``destination`` (a network)."""
    dest = ipaddress.ip_network(destination)
    return {
        "family": socket.AF_INET if dest.version == 4 else socket.AF_INET6,
        "dst": str(dest.network_address),
        "dst_len": dest.prefixlen,
        "proto": RTPROT_STATIC,
        "table": MAIN_TABLE,
    }


class Netlink:
    def __init__(self, netns: str | None = None):
        self.netns = netns or None
        self._ipr: AsyncIPRoute | None = None

    async def open(self) -> Netlink:
        if self._ipr is None:
            # flags=0: use the namespace, never create it
            kwargs: dict[str, Any] = {"netns": self.netns, "flags": 0} if self.netns else {}
            ipr = AsyncIPRoute(**kwargs)
            await ipr.setup_endpoint()
            self._ipr = ipr
        return self

    async def close(self) -> None:
        if self._ipr is not None:
            ipr, self._ipr = self._ipr, None
            try:
                ipr.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass

    async def __aenter__(self) -> Netlink:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def ipr(self) -> AsyncIPRoute:
        if self._ipr is None:
            raise RuntimeError("Netlink is not open")
        return self._ipr

    # --- reading -------------------------------------------------------------

    async def links(self) -> list[Link]:
        return [_link_from_msg(msg) async for msg in await self.ipr.link("dump")]

    async def flood_peers(self, index: int) -> frozenset[str]:
        dsts = set()
        async for msg in await self.ipr.fdb("dump", ifindex=index):
            if msg.get("ifindex") == index and (msg.get("lladdr") or "").lower() == ZERO_MAC and msg.get("dst"):
                dsts.add(msg.get("dst"))
        return frozenset(dsts)

    async def snapshot(self, *, with_fdb: bool = True) -> ActualState:
        links = await self.links()
        flood: dict[str, frozenset[str]] = {}
        if with_fdb:
            for link in links:
                if link.kind == "vxlan":
                    flood[link.name] = await self.flood_peers(link.index)
        return ActualState.of(links, flood)

    async def index(self, name: str) -> int | None:
        found = await self.ipr.link_lookup(ifname=name)
        return found[0] if found else None

    async def _require(self, name: str) -> int:
        index = await self.index(name)
        if index is None:
            raise NetlinkError(errno.ENODEV, f"no device {name}")
        return index

    # --- changing ------------------------------------------------------------

    async def apply(self, action: p.Action) -> None:
        if isinstance(action, p.AddBridge):
            await self._add_bridge(action)
        elif isinstance(action, p.AddVxlan):
            await self._add_vxlan(action)
        elif isinstance(action, p.AddVlan):
            await self._add_vlan(action)
        elif isinstance(action, p.AddVeth):
            await self._add_veth(action)
        elif isinstance(action, p.SetLink):
            await self._set_link(action)
        elif isinstance(action, p.AddFlood):
            await self.ipr.fdb("append", ifindex=await self._require(action.device), lladdr=ZERO_MAC, dst=action.dst)
        elif isinstance(action, p.DelFlood):
            await self._del_flood(action)
        elif isinstance(action, p.DelLink):
            await self._del_link(action)
        else:  # pragma: no cover - every action type is handled above
            raise TypeError(f"unknown action {action!r}")

    async def _add_bridge(self, action: p.AddBridge) -> None:
        await self.ipr.link(
            "add", ifname=action.name, kind="bridge", mtu=action.mtu, br_forward_delay=0, br_stp_state=0
        )

    async def _add_vxlan(self, action: p.AddVxlan) -> None:
        await self.ipr.link(
            "add",
            ifname=action.name,
            kind="vxlan",
            vxlan_id=action.vni,
            vxlan_local=action.local,
            vxlan_port=action.port,
            vxlan_learning=1,
            mtu=action.mtu,
        )

    async def _add_vlan(self, action: p.AddVlan) -> None:
        await self.ipr.link(
            "add",
            ifname=action.name,
            kind="vlan",
            link=await self._require(action.parent),
            vlan_id=action.vlan_id,
            mtu=action.mtu,
        )

    async def _add_veth(self, action: p.AddVeth) -> None:
        peer: dict[str, Any] = {"ifname": action.peer, "mtu": action.mtu}
        if action.mac:
            peer["address"] = action.mac
        await self.ipr.link("add", ifname=action.name, kind="veth", peer=peer, mtu=action.mtu)

    async def _set_link(self, action: p.SetLink) -> None:
        """One netlink request per attribute that changes, in this order: MAC, MTU, master, state."""
        ipr = self.ipr
        index = await self._require(action.name)
        if action.mac is not None:
            await ipr.link("set", index=index, address=action.mac)
        if action.mtu is not None:
            await ipr.link("set", index=index, mtu=action.mtu)
        if action.master is not None:
            await ipr.link("set", index=index, master=await self._require(action.master))
        if action.up is not None:
            await ipr.link("set", index=index, state="up" if action.up else "down")

    async def _del_flood(self, action: p.DelFlood) -> None:
        """An entry or device already gone is not an error."""
        try:
            await self.ipr.fdb("del", ifindex=await self._require(action.device), lladdr=ZERO_MAC, dst=action.dst)
        except NetlinkError as exc:
            if exc.code not in (errno.ENOENT, errno.ENODEV):
                raise

    async def _del_link(self, action: p.DelLink) -> None:
        """A device already gone (or going, with its veth peer) is not an error."""
        index = await self.index(action.name)
        if index is None:
            return
        try:
            await self.ipr.link("del", index=index)
        except NetlinkError as exc:
            if exc.code != errno.ENODEV:
                raise

    # --- namespaces and addresses (the DHCP service) ---------------------------

    async def move_to_netns(self, name: str, netns: str) -> None:
        await self.ipr.link("set", index=await self._require(name), net_ns_fd=netns)

    async def addresses(self, name: str) -> set[str]:
        index = await self._require(name)
        found = set()
        async for msg in await self.ipr.addr("dump", index=index):
            if msg.get("index") == index:
                found.add(f"{msg.get('address')}/{msg['prefixlen']}")
        return found

    async def add_address(self, name: str, cidr: str) -> None:
        address, prefixlen = cidr.split("/")
        kwargs: dict[str, Any] = {}
        if ":" in address:
            kwargs["flags"] = 0x02  # IFA_F_NODAD: usable at once
        try:
            await self.ipr.addr(
                "add", index=await self._require(name), address=address, prefixlen=int(prefixlen), **kwargs
            )
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:
                raise

    async def del_address(self, name: str, cidr: str) -> None:
        address, prefixlen = cidr.split("/")
        try:
            await self.ipr.addr("del", index=await self._require(name), address=address, prefixlen=int(prefixlen))
        except NetlinkError as exc:
            if exc.code not in (errno.EADDRNOTAVAIL, errno.ENODEV):
                raise

    async def global_addresses(self) -> dict[int, set[str]]:
        """Device index -> its global-scope IPv4 and IPv6 addresses ("ip/prefixlen")."""
        found: dict[int, set[str]] = {}
        async for msg in await self.ipr.addr("dump"):
            if msg.get("scope") != RT_SCOPE_UNIVERSE or msg.get("family") not in (socket.AF_INET, socket.AF_INET6):
                continue
            local = msg.get("local") or msg.get("address")
            found.setdefault(msg["index"], set()).add(f"{local}/{msg['prefixlen']}")
        return found

    async def set_up(self, name: str, up: bool = True) -> None:
        await self.ipr.link("set", index=await self._require(name), state="up" if up else "down")

    # --- routes (the L3 part, in a router's namespace) ---------------------------

    async def static_routes(self) -> dict[str, str]:
        """destination -> next hop ("" if none) of the main table's ``proto static``
        routes, IPv4 and IPv6; destinations as networks (``10.1.2.3/32``,
        ``0.0.0.0/0``, ``::/0``), as ``l3_plan.route_destination`` writes them."""
        found: dict[str, str] = {}
        for family, zero in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
            async for msg in await self.ipr.route("dump", family=family):
                if msg.get("proto") != RTPROT_STATIC or msg.get("table") != MAIN_TABLE:
                    continue
                dest = ipaddress.ip_network(f"{msg.get('dst') or zero}/{msg['dst_len']}")
                hop = msg.get("gateway")
                found[str(dest)] = str(ipaddress.ip_address(hop)) if hop else ""
        return found

    async def replace_route(self, destination: str, next_hop: str) -> None:
        """Add or change the ``proto static`` route to ``destination`` (a network)."""
        await self.ipr.route("replace", **_static_route(destination), gateway=next_hop)

    async def del_route(self, destination: str) -> None:
        """Remove the ``proto static`` route to ``destination``; one already gone is not an error."""
        try:
            await self.ipr.route("del", **_static_route(destination))
        except NetlinkError as exc:
            if exc.code not in (errno.ESRCH, errno.ENOENT):
                raise


async def vlan_supported(netns: str | None = None) -> bool:
    """Probe 8021q: create a VLAN device on a throwaway veth pair, remove all."""
    probe = f"qvl{os.getpid() % 100000}"
    async with Netlink(netns) as nl:
        try:
            await nl.ipr.link("add", ifname=probe, kind="veth", peer={"ifname": probe + "p"})
        except NetlinkError as exc:
            log.warning("cannot probe 8021q (%s): VLAN networks will be reported ERROR", exc)
            return False
        try:
            await nl.ipr.link("add", ifname=probe + ".9", kind="vlan", link=await nl._require(probe), vlan_id=9)
            return True
        except NetlinkError as exc:
            log.info("8021q not available (%s): VLAN networks will be reported ERROR", exc)
            return False
        finally:
            await nl.apply(p.DelLink(probe))  # takes its peer and the VLAN device with it
