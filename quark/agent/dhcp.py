"""The DHCP service: dnsmasq in a namespace per network scheduled to its host.

For every network of ``GET /v2.0/hosts/{host}/dhcp_state`` it converges:

1. the namespace ``<prefix>qdhcp-<network id>`` exists (loopback up);
2. the DHCP port's ``vm…`` device — created in the host namespace by the L2
   agent like any port's — is moved into it, carries the port's MAC and the
   network's MTU, is up and has exactly the port's addresses (``ip/prefix``
   of each subnet; link-local left alone);
3. the dnsmasq files are current (``quark.agent.dnsmasq``); dnsmasq runs;
   changed files → SIGHUP (leases kept), changed command line → restart;
4. with ``enable_isolated_metadata`` and an isolated IPv4 subnet (or
   ``force_metadata``): 169.254.169.254/32 on the device, a route to it via
   the DHCP port in option 121, and a metadata proxy
   (``quark.agent.metadata``) listening on it in the namespace; otherwise no
   proxy and no such address.

Networks that are no longer scheduled lose their dnsmasq, namespace and
files — but only after the first full pass, so a restarted service never
tears down what it is about to keep. A network whose device is not there yet
is retried every ``retry_interval`` seconds; every ``check_interval`` a cheap
check (device in its namespace, dnsmasq alive) triggers a repair pass.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quark import names
from quark.agent import dnsmasq
from quark.agent.client import DHCP_AGENT_TYPE, DHCP_BINARY, AgentApiClient
from quark.agent.dnsmasq import METADATA_CIDR, DhcpNetwork, DhcpPort, Paths
from quark.agent.metadata.spawn import ProxySpec, ensure_proxy, running_pid, stop_proxy
from quark.agent.netlink import Netlink, NetlinkError
from quark.agent.watch import Watch, run_loops, wait_any

log = logging.getLogger(__name__)

NETNS_DIR = Path("/run/netns")


@dataclass
class DhcpConfig:
    host: str
    netns: str | None = None
    namespace_prefix: str = ""
    state_dir: str = "/var/lib/quark/dhcp"
    dnsmasq: str = "dnsmasq"
    report_interval: float = 5.0
    retry_interval: float = 0.2
    check_interval: float = 1.0
    resync_interval: float = 10.0
    watch_wait: float = 30.0
    # Neutron's isolated metadata: a proxy in the namespace of networks without a router.
    enable_isolated_metadata: bool = False
    force_metadata: bool = False
    metadata_proxy_socket: str = "/var/lib/quark/metadata_proxy"


class NotReady(Exception):
    """The network cannot be served yet (its device is not there); retried."""


async def _run(*cmd: str) -> None:
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {(err or out).decode(errors='replace').strip()}")


class DhcpService:
    def __init__(self, client: AgentApiClient, config: DhcpConfig):
        self.client = client
        self.config = config
        self.state_dir = Path(config.state_dir)
        self.watch = Watch(
            lambda since, wait: client.dhcp_state(config.host, since=since, wait=wait),
            wait=config.watch_wait,
            name=f"dhcp_state[{config.host}]",
        )
        self.host_netlink = Netlink(config.netns)
        self._ns_netlink: dict[str, Netlink] = {}
        self.served: set[str] = set()
        self.restored = False

    # --- naming ----------------------------------------------------------------

    def namespace(self, network_id: str) -> str:
        return names.dhcp_namespace(network_id, self.config.namespace_prefix)

    def paths(self, network_id: str) -> Paths:
        return Paths(self.state_dir / network_id)

    def proxy_spec(self, network_id: str) -> ProxySpec:
        return ProxySpec(
            namespace=self.namespace(network_id),
            socket_path=self.config.metadata_proxy_socket,
            state_dir=self.paths(network_id).directory,
            network_id=network_id,
        )

    def metadata_nexthops(self, net: DhcpNetwork) -> dict[str, str]:
        """The subnets the namespace serves metadata for (empty: no metadata here)."""
        if not (self.config.enable_isolated_metadata or self.config.force_metadata):
            return {}
        return dnsmasq.metadata_nexthops(net, force=self.config.force_metadata)

    def _own_namespaces(self) -> dict[str, str]:
        """namespace name -> network id, for the namespaces this service made."""
        prefix = self.namespace("")
        if not NETNS_DIR.is_dir():
            return {}
        return {p.name: p.name[len(prefix) :] for p in NETNS_DIR.iterdir() if p.name.startswith(prefix)}

    # --- reporting -------------------------------------------------------------

    async def report(self, start_flag: bool) -> None:
        await self.client.report(
            host=self.config.host,
            agent_type=DHCP_AGENT_TYPE,
            binary=DHCP_BINARY,
            configurations={
                "networks": len(self.served),
                "dhcp_driver": "dnsmasq",
                "namespace_prefix": self.config.namespace_prefix,
                "isolated_metadata": self.config.enable_isolated_metadata or self.config.force_metadata,
            },
            start_flag=start_flag,
        )

    # --- one network -------------------------------------------------------------

    async def _netlink_in(self, ns: str) -> Netlink:
        nl = self._ns_netlink.get(ns)
        if nl is None:
            nl = await Netlink(ns).open()
            self._ns_netlink[ns] = nl
        return nl

    async def _forget_netlink(self, ns: str) -> None:
        nl = self._ns_netlink.pop(ns, None)
        if nl is not None:
            await nl.close()

    async def ensure_network(self, net: DhcpNetwork) -> None:
        """Namespace, device and dnsmasq of one network (see the module docstring);
        ``NotReady`` while its DHCP port, device or DHCP-enabled subnet is missing."""
        port = net.dhcp_port
        if port is None:
            raise NotReady("no DHCP port yet")
        ns = self.namespace(net.id)
        nl = await self._ensure_namespace(ns)
        await self._ensure_device(nl, ns, net, port)
        metadata = self.metadata_nexthops(net)
        addresses = set(net.port_addresses()) | ({METADATA_CIDR} if metadata else set())
        await self._ensure_addresses(nl, port.vm_device_name, addresses)
        await self._ensure_dnsmasq(net, ns, port.vm_device_name, metadata)
        if metadata:
            await ensure_proxy(self.proxy_spec(net.id))
        else:
            stop_proxy(self.proxy_spec(net.id))
        self.served.add(net.id)

    async def _ensure_namespace(self, ns: str) -> Netlink:
        """The namespace (created when missing, loopback up) and a netlink socket in it."""
        if not (NETNS_DIR / ns).exists():
            await _run("ip", "netns", "add", ns)
            await self._forget_netlink(ns)  # a socket into a namespace of the same name that was deleted
            log.info("created namespace %s", ns)
        nl = await self._netlink_in(ns)
        await nl.set_up("lo")
        return nl

    async def _ensure_device(self, nl: Netlink, ns: str, net: DhcpNetwork, port: DhcpPort) -> None:
        """The port's ``vm…`` device moved into the namespace, with the port's MAC and the network's MTU, up."""
        dev = port.vm_device_name
        if await nl.index(dev) is None:
            if await self.host_netlink.index(dev) is None:
                raise NotReady(f"device {dev} of DHCP port {port.id} does not exist yet")
            await self.host_netlink.move_to_netns(dev, ns)
            log.info("moved %s into %s", dev, ns)
        link = next(found for found in await nl.links() if found.name == dev)
        if port.mac_address and link.mac != port.mac_address:
            await nl.ipr.link("set", index=link.index, address=port.mac_address)
        if link.mtu != net.mtu:
            await nl.ipr.link("set", index=link.index, mtu=net.mtu)
        if not link.up:
            await nl.set_up(dev)

    @staticmethod
    async def _ensure_addresses(nl: Netlink, dev: str, want: set[str]) -> None:
        """Exactly ``want`` on the device; link-local addresses are the kernel's and left alone
        (169.254.169.254/32 is the metadata proxy's: ours)."""
        have = {a for a in await nl.addresses(dev) if a == METADATA_CIDR or not ipaddress.ip_interface(a).is_link_local}
        for cidr in sorted(want - have):
            await nl.add_address(dev, cidr)
        for cidr in sorted(have - want):
            await nl.del_address(dev, cidr)

    async def _ensure_dnsmasq(self, net: DhcpNetwork, ns: str, dev: str, metadata: dict[str, str]) -> None:
        """Current files and a running dnsmasq: changed files → SIGHUP, changed command line → restart."""
        paths = self.paths(net.id)
        paths.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(paths.directory, 0o755)
        gen = dnsmasq.generate(net, paths, dev, self.config.dnsmasq, metadata)
        files_changed = dnsmasq.write_if_changed(paths.hosts, gen.hosts)
        files_changed = dnsmasq.write_if_changed(paths.opts, gen.opts) or files_changed
        cmd_changed = dnsmasq.write_if_changed(paths.cmdline, "\n".join(gen.command) + "\n")
        pid = dnsmasq.running_pid(paths)
        if pid is not None and cmd_changed:
            log.info("dnsmasq of network %s: command line changed, restarting", net.id)
            dnsmasq.stop(paths)
            pid = None
        if pid is None:
            if not gen.command or not dnsmasq.dhcp_ranges(net):
                raise NotReady("no DHCP-enabled subnet")
            await _run("ip", "netns", "exec", ns, *gen.command)
            log.info("dnsmasq started for network %s in %s", net.id, ns)
        elif files_changed:
            dnsmasq.reload(paths)
            log.info("dnsmasq of network %s reloaded (SIGHUP)", net.id)

    async def remove_network(self, network_id: str) -> None:
        paths = self.paths(network_id)
        dnsmasq.stop(paths)
        stop_proxy(self.proxy_spec(network_id))
        ns = self.namespace(network_id)
        await self._forget_netlink(ns)
        if (NETNS_DIR / ns).exists():
            await _run("ip", "netns", "del", ns)
        shutil.rmtree(paths.directory, ignore_errors=True)
        self.served.discard(network_id)
        log.info("DHCP for network %s removed", network_id)

    # --- the pass ------------------------------------------------------------------

    async def converge_once(self, doc: dict[str, Any]) -> bool:
        """One pass over every network; True when everything is served."""
        nets = [DhcpNetwork.from_api(n) for n in doc.get("networks") or ()]
        complete = True
        for net in nets:
            try:
                await self.ensure_network(net)
            except NotReady as exc:
                complete = False
                log.debug("network %s not ready: %s", net.id, exc)
            except (NetlinkError, RuntimeError, OSError) as exc:
                complete = False
                log.warning("network %s: %s", net.id, exc)
        if self.restored:
            wanted = {n.id for n in nets}
            present = set(self._own_namespaces().values())
            if self.state_dir.is_dir():
                present |= {p.name for p in self.state_dir.iterdir() if p.is_dir()}
            for network_id in sorted(present - wanted):
                try:
                    await self.remove_network(network_id)
                except (RuntimeError, OSError) as exc:
                    complete = False
                    log.warning("removing DHCP of network %s: %s", network_id, exc)
        self.restored = True
        return complete

    async def healthy(self, doc: dict[str, Any]) -> bool:
        """Cheap check of what a full pass would fix most often: every served
        network still has its device in its namespace and a running dnsmasq."""
        for body in doc.get("networks") or ():
            net = DhcpNetwork.from_api(body)
            if net.id not in self.served or net.dhcp_port is None:
                return False
            if dnsmasq.running_pid(self.paths(net.id)) is None:
                return False
            if self.metadata_nexthops(net) and running_pid(self.proxy_spec(net.id)) is None:
                return False
            nl = self._ns_netlink.get(self.namespace(net.id))
            if nl is None or await nl.index(net.dhcp_port.vm_device_name) is None:
                return False
        return True

    async def reconcile_forever(self) -> None:
        loop = asyncio.get_running_loop()
        complete, last_full = True, 0.0
        last_doc: dict[str, Any] | None = None
        while True:
            timeout = self.config.retry_interval if not complete else self.config.check_interval
            await wait_any(self.watch.changed, timeout)
            self.watch.changed.clear()
            doc = self.watch.document  # compared by identity: a racing event set is never lost
            if doc is None:
                continue
            changed = doc is not last_doc
            due = loop.time() - last_full >= self.config.resync_interval
            if not changed and complete and not due:
                try:
                    if await self.healthy(doc):
                        continue
                except NetlinkError:
                    pass
                log.info("a served network lost its device, dnsmasq or metadata proxy: repairing")
            last_doc = doc
            try:
                complete = await self.converge_once(doc)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("DHCP pass failed")
                complete = False
            last_full = loop.time()

    def _check_state_dir(self) -> None:
        """dnsmasq drops root (to nobody) and re-reads its files on SIGHUP:
        every directory above them must be searchable by others."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for directory in (self.state_dir.resolve(), *self.state_dir.resolve().parents):
            if not os.stat(directory).st_mode & 0o001:
                log.warning(
                    "%s is not searchable by others: dnsmasq (running as nobody) will not be able "
                    "to re-read its hosts and options files; use another --state-dir",
                    directory,
                )
                break

    async def run(self) -> None:
        self._check_state_dir()
        await self.host_netlink.open()
        log.info(
            "quark dhcp for host %s%s: namespaces %s*, files in %s",
            self.config.host,
            f" (devices in netns {self.config.netns})" if self.config.netns else "",
            self.namespace(""),
            self.state_dir,
        )
        try:
            await run_loops(self.watch, self.report, self.config.report_interval, self.reconcile_forever)
        finally:
            for ns in list(self._ns_netlink):
                await self._forget_netlink(ns)
            await self.host_netlink.close()
