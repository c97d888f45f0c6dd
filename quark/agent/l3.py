"""The L3 part of the agent (``quark agent --l3``, docs/l3.md): realise the
routers scheduled to this host and report what is realised.

For every router of the host's desired state (its ``routers``) it converges:

1. the namespace ``<prefix>qr-<router id>`` exists, loopback up, IPv4
   forwarding on;
2. each router port's ``vm…`` device — created in the host namespace by the
   L2 part like any port's, its ``tap…`` end on the network's bridge — is
   moved into it, carries the port's MAC, MTU and addresses (the gateway
   device also each floating address, /32) and is up;
3. the default route via the external subnet's gateway and the extra routes
   (``proto static``: the agent's; others are left alone);
4. the nftables table ``ip quark`` (``quark.agent.l3_plan.ruleset``): SNAT,
   the floating IPs' DNAT/SNAT and the port forwardings' DNAT, replaced
   atomically when it differs;
5. with ``enable_metadata_proxy``, for a router with an IPv4 interface:
   169.254.169.254/32 on the namespace's ``lo`` and a metadata proxy keyed
   by the router id listening there (``quark.agent.l3_metadata``), started
   again when dead, stopped with the router.

A pass runs on a new document and every ``check_interval`` seconds; a router
namespace the document does not name is deleted — but only from the second
pass on, so a restarted agent rebuilds before it removes. Statuses (router,
its ports, its floating IPs) are pushed when they differ from what the
server shows (``port_status`` and ``l3_status``).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quark import names
from quark.agent import l3_plan as plan
from quark.agent.client import L3_AGENT_TYPE, L3_BINARY, AgentApiClient
from quark.agent.dnsmasq import METADATA_CIDR
from quark.agent.l3_metadata import RouterProxies
from quark.agent.l3_plan import Device, Router, RouterPort
from quark.agent.netlink import Netlink, NetlinkError
from quark.agent.watch import Watch, run_loops, wait_any

log = logging.getLogger(__name__)

NETNS_DIR = Path("/run/netns")


@dataclass
class L3Config:
    host: str
    netns: str | None = None  # where the L2 part's devices live
    namespace_prefix: str = ""
    report_interval: float = 5.0
    check_interval: float = 1.0
    watch_wait: float = 30.0
    # A metadata proxy per router with interfaces (docs/l3.md), sending to the metadata agent's socket.
    enable_metadata_proxy: bool = False
    metadata_proxy_socket: str = "/var/lib/quark/metadata_proxy"
    state_dir: str = "/var/lib/quark/l3"  # the proxies' pid and log files


class CommandFailed(RuntimeError):
    pass


async def run(*cmd: str, stdin: str | None = None) -> str:
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        stdin=asyncio.subprocess.PIPE if stdin is not None else None,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(stdin.encode() if stdin is not None else None)
    if proc.returncode != 0:
        raise CommandFailed(f"{' '.join(cmd)}: {(err or out).decode(errors='replace').strip()}")
    return out.decode()


async def _devices(nl: Netlink) -> dict[str, Device]:
    """The devices of ``nl``'s namespace: MAC, admin state, MTU, global addresses."""
    addresses = await nl.global_addresses()
    return {
        link.name: Device(link.name, link.mac, link.up, link.mtu, addresses.get(link.index, set()))
        for link in await nl.links()
    }


class L3Agent:
    def __init__(self, client: AgentApiClient, config: L3Config):
        self.client = client
        self.config = config
        self.watch = Watch(
            lambda since, wait: client.desired_state(config.host, since=since, wait=wait),
            wait=config.watch_wait,
            name=f"desired_state[{config.host}] (l3)",
        )
        self.restored = False
        self._nat: dict[str, str] = {}  # namespace -> digest of the ruleset applied there
        self._forwarding: dict[str, bool] = {}  # namespace -> forwarding as last set
        # namespace -> (floating, internal) pairs of the ruleset applied there (plan.nat_mappings)
        self._mappings: dict[str, set[tuple[str, str]]] = {}
        self._pushed: dict[str, tuple[str, Any]] = {}  # id -> (status, generation)
        self.realised = 0
        self.proxies = (
            RouterProxies(config.metadata_proxy_socket, Path(config.state_dir), NETNS_DIR)
            if config.enable_metadata_proxy
            else None
        )

    def namespace(self, router_id: str) -> str:
        return names.router_namespace(router_id, self.config.namespace_prefix)

    def _host_ip(self) -> list[str]:
        return ["ip", "-n", self.config.netns] if self.config.netns else ["ip"]

    # --- reporting -------------------------------------------------------------------

    async def report(self, start_flag: bool) -> None:
        await self.client.report(
            host=self.config.host,
            agent_type=L3_AGENT_TYPE,
            binary=L3_BINARY,
            configurations={
                "routers": self.realised,
                "agent_mode": "legacy",
                "namespace_prefix": self.config.namespace_prefix,
                "metadata_proxy": self.proxies is not None,
            },
            start_flag=start_flag,
        )

    # --- one router --------------------------------------------------------------------

    async def _namespace(self, ns: str) -> None:
        if (NETNS_DIR / ns).exists():
            return
        await run("ip", "netns", "add", ns)
        await run("ip", "-n", ns, "link", "set", "lo", "up")
        self._nat.pop(ns, None)
        self._forwarding.pop(ns, None)
        self._mappings[ns] = set()  # a new namespace: no flows yet
        log.info("namespace %s created", ns)

    async def _set_forwarding(self, ns: str, on: bool) -> None:
        """IPv4 and IPv6 forwarding in the namespace: on while the router is admin up."""
        if self._forwarding.get(ns) == on:
            return
        value = int(on)
        forwarding = (f"net.ipv4.ip_forward={value}", f"net.ipv6.conf.all.forwarding={value}")
        await run("ip", "netns", "exec", ns, "sysctl", "-qw", *forwarding)
        self._forwarding[ns] = on

    async def _port(
        self, ns: str, router: Router, port: RouterPort, devices: dict[str, Device], host: set[str]
    ) -> bool:
        """Converge one port's device; True if something changed."""
        dev = devices.get(port.device)
        if dev is None:
            if port.device not in host:
                return False  # the L2 part has not plugged it yet
            await run(*self._host_ip(), "link", "set", port.device, "netns", ns)
            dev = Device(port.device)
        ipn = ["ip", "-n", ns]
        changed = False
        if dev.mac != port.mac_address or dev.mtu != port.mtu:
            await run(*ipn, "link", "set", port.device, "address", port.mac_address, "mtu", str(port.mtu))
            changed = True
        wanted = plan.wanted_addresses(router, port)
        for cidr in sorted(wanted - dev.addresses):
            await run(*ipn, "addr", "replace", cidr, "dev", port.device)
            changed = True
        for cidr in sorted(dev.addresses - wanted):
            await run(*ipn, "addr", "del", cidr, "dev", port.device)
            changed = True
        if not dev.up:
            await run(*ipn, "link", "set", port.device, "up")
            changed = True
        return changed

    @staticmethod
    async def _routes(nl: Netlink, router: Router, devices: dict[str, Device]) -> None:
        """Make the namespace's ``proto static`` routes the plan's, through netlink:
        destinations compared as networks, so a pass with nothing to change
        changes nothing."""
        gw = router.gateway
        wanted = plan.wanted_routes(router, with_default=gw is not None and gw.device in devices)
        current = await nl.static_routes()
        for dest, hop in sorted(wanted.items()):
            if current.get(dest) != hop:
                try:
                    await nl.replace_route(dest, hop)
                except NetlinkError as exc:  # a next hop not on a subnet yet
                    log.warning("router %s: route %s via %s: %s", router.id, dest, hop, exc)
        for dest in sorted(set(current) - set(wanted)):
            await nl.del_route(dest)

    async def _nat_rules(self, ns: str, router: Router) -> bool:
        text = plan.ruleset(router)
        tables = await run("ip", "netns", "exec", ns, "nft", "list", "tables")
        present = f"table ip {plan.TABLE}" in tables
        if present and self._nat.get(ns) == plan.digest(text):
            return True
        await run("ip", "netns", "exec", ns, "nft", "-f", "-", stdin=plan.replace_script(text))
        self._nat[ns] = plan.digest(text)
        before, after = self._mappings.get(ns), plan.nat_mappings(router)
        self._mappings[ns] = after
        if before is not None:  # unknown after a restart: the namespace's flows are left as they are
            await self._forget_flows(ns, router, plan.conntrack_deletions(before, after))
        log.info(
            "router %s: NAT rules set (%d floating IPs, %d port forwardings)",
            router.id,
            len(router.floating_ips),
            len(router.port_forwardings),
        )
        return True

    async def _forget_flows(self, ns: str, router: Router, deletions: list[tuple[str, ...]]) -> None:
        """Delete the conntrack entries of mappings that went (after the new rules
        are loaded, so the flows' next packets are translated by them)."""
        if not deletions:
            return
        if shutil.which("conntrack") is None:
            log.warning("router %s: conntrack not found: established flows keep their old translation", router.id)
            return
        for args in deletions:
            try:
                await run("ip", "netns", "exec", ns, "conntrack", "-D", *args)
            except CommandFailed as exc:  # exit status 1: no such flow
                log.debug("router %s: %s", router.id, exc)
        log.info("router %s: conntrack entries of %d old NAT mappings deleted", router.id, len(deletions) // 2)

    async def _metadata(self, ns: str, router: Router, devices: dict[str, Device]) -> None:
        if self.proxies is None:
            return
        if not (router.admin_state_up and plan.serves_metadata(router)):
            self.proxies.stop(router.id, ns)
            return
        lo = devices.get("lo")
        if lo is None or METADATA_CIDR not in lo.addresses:
            await run("ip", "-n", ns, "addr", "replace", METADATA_CIDR, "dev", "lo")
        try:
            await self.proxies.ensure(router.id, ns)
        except RuntimeError as exc:  # tried again on the next pass
            log.warning("router %s: %s", router.id, exc)

    async def ensure_router(self, router: Router, host_links: set[str]) -> tuple[str, dict[str, str], dict[str, str]]:
        """Converge one router; an admin-down one keeps its wired ports only
        (``plan.inert``: no forwarding, routes, NAT or metadata proxy)."""
        found = router
        moving = router.admin_state_up and not router.standby
        router = router if moving else plan.inert(router)
        ns = self.namespace(router.id)
        await self._namespace(ns)
        await self._set_forwarding(ns, moving)
        async with Netlink(ns) as nl:  # one netlink socket in the namespace for the pass's reads
            devices = await _devices(nl)
            changed = False
            for port in router.ports:
                changed |= await self._port(ns, router, port, devices, host_links)
            if changed:
                devices = await _devices(nl)
            await self._routes(nl, router, devices)
        nat_ok = False
        try:
            nat_ok = await self._nat_rules(ns, router)
        except CommandFailed as exc:
            log.warning("router %s: %s", router.id, exc)
        await self._metadata(ns, found, devices)
        return plan.statuses(found, devices, nat_ok)

    async def remove_router(self, ns: str) -> None:
        if self.proxies is not None:  # before its namespace: a proxy would live on in it
            self.proxies.stop(ns[len(self.namespace("")) :], ns)
        await run("ip", "netns", "del", ns)
        self._nat.pop(ns, None)
        self._forwarding.pop(ns, None)
        self._mappings.pop(ns, None)
        log.info("namespace %s removed", ns)

    def own_namespaces(self) -> set[str]:
        prefix = self.namespace("")
        if not NETNS_DIR.is_dir():
            return set()
        return {p.name for p in NETNS_DIR.iterdir() if p.name.startswith(prefix)}

    # --- one pass ----------------------------------------------------------------------

    async def converge_once(self, doc: dict[str, Any]) -> None:
        routers = plan.routers_of(doc)
        async with Netlink(self.config.netns) as host:
            host_links = {link.name for link in await host.links()}
        router_st: dict[str, str] = {}
        port_st: dict[str, str] = {}
        fip_st: dict[str, str] = {}
        ha_st: dict[str, str] = {}
        for router in routers:
            try:
                status, ports, fips = await self.ensure_router(router, host_links)
                if router.ha:
                    ha_st[router.id] = router.ha_state  # realised as the server decided
            except (CommandFailed, NetlinkError) as exc:
                log.warning("router %s: %s", router.id, exc)
                status, ports, fips = plan.statuses(router, {}, False)
            if not router.standby:  # the active host reports the router's status
                router_st[router.id] = status
            port_st.update(ports)
            fip_st.update(fips)
        if self.restored:
            wanted = {self.namespace(r.id) for r in routers}
            for ns in sorted(self.own_namespaces() - wanted):
                await self.remove_router(ns)
            if self.proxies is not None:
                self.proxies.remove_stale({r.id for r in routers})
        self.restored = True
        self.realised = sum(1 for s in router_st.values() if s == plan.ACTIVE)
        await self._push(doc, router_st, port_st, fip_st)
        await self._push_ha_states(routers, ha_st)

    async def _push_ha_states(self, routers: list[Router], states: dict[str, str]) -> None:
        """Report the ha_state of the HA routers whose document does not show it yet."""
        shown = {router.id: router.reported_ha_state for router in routers}
        changes = {key: state for key, state in states.items() if shown.get(key) != state}
        if not changes:
            return
        try:
            await self.client.l3_status(self.config.host, {}, {}, ha_states=changes)
        except Exception as exc:  # noqa: BLE001 - retried on the next pass
            log.warning("HA state push failed: %s", exc)
            return
        log.info("ha states %s", changes)

    def _changes(self, found: dict[str, str], known: dict[str, Any], generation: Any) -> dict[str, str]:
        """The statuses that differ from what the server shows: our last push while
        its document has not caught up with it, else the document's."""
        out = {}
        for key, status in found.items():
            pushed = self._pushed.get(key)
            current = pushed[0] if pushed is not None and pushed[1] == generation else known.get(key)
            if status != current:
                out[key] = status
        return out

    @staticmethod
    def _known(doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """The statuses the server shows: of the host's ports, routers and floating IPs."""
        routers = doc.get("routers") or ()
        return (
            {p["id"]: p.get("status") for p in doc.get("ports") or ()},
            {r["id"]: r.get("status") for r in routers},
            {
                **{
                    pf["floatingip_id"]: pf.get("floatingip_status")
                    for r in routers
                    for pf in r.get("port_forwardings") or ()
                },
                **{f["id"]: f.get("status") for r in routers for f in r.get("floating_ips") or ()},
            },
        )

    async def _push(
        self, doc: dict[str, Any], routers: dict[str, str], ports: dict[str, str], fips: dict[str, str]
    ) -> None:
        gen = doc.get("generation")
        known_ports, known_routers, known_fips = self._known(doc)
        port_changes = self._changes({k: v for k, v in ports.items() if k in known_ports}, known_ports, gen)
        router_changes = self._changes(routers, known_routers, gen)
        fip_changes = self._changes(fips, known_fips, gen)
        if not (port_changes or router_changes or fip_changes):
            return
        try:
            if port_changes:
                await self.client.port_status(self.config.host, port_changes)
            if router_changes or fip_changes:
                await self.client.l3_status(self.config.host, router_changes, fip_changes)
        except Exception as exc:  # noqa: BLE001 - retried on the next pass
            log.warning("L3 status push failed: %s", exc)
            return
        for key, status in {**port_changes, **router_changes, **fip_changes}.items():
            self._pushed[key] = (status, gen)
        for key in set(self._pushed) - set(known_ports) - set(known_routers) - set(known_fips):
            del self._pushed[key]  # gone from the document
        log.info("status routers=%s ports=%s floating IPs=%s", router_changes, port_changes, fip_changes)

    # --- loops -------------------------------------------------------------------------

    async def reconcile_forever(self) -> None:
        while True:
            await wait_any(self.watch.changed, self.config.check_interval)
            self.watch.changed.clear()
            doc = self.watch.document
            if doc is None:
                continue
            try:
                await self.converge_once(doc)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("L3 pass failed")
                await asyncio.sleep(1)

    async def run(self) -> None:
        log.info("quark L3 agent for host %s (namespaces %sqr-…)", self.config.host, self.config.namespace_prefix)
        await run_loops(self.watch, self.report, self.config.report_interval, self.reconcile_forever)
