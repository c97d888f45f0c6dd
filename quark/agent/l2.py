"""The L2 agent: watch the host's desired state, converge the kernel to it,
report each port's real state.

Three concurrent loops:

- the watch (``watch.Watch``) long-polls ``desired_state`` and wakes the
  reconciler when the generation moves;
- the heartbeat reports the agent every ``report_interval`` seconds;
- the reconciler wakes on a new desired state or every ``poll_interval``
  (0.5 s). A wake-up that finds neither a new document nor any change in the
  link table (one cheap RTM_GETLINK dump) does nothing else; otherwise it
  takes a full snapshot (links and VXLAN flood entries), plans with
  ``plan.converge``, applies the actions one by one (a failed action is
  logged and retried on the next pass), and pushes the port statuses that
  differ from what the server knows. Every ``resync_interval`` seconds a full
  pass runs anyway, to catch drift the link table does not show (FDB entries).

On start-up nothing is removed until one full pass has recreated what the API
asks for (``cleanup`` goes on from the second pass).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from pyroute2.netlink.exceptions import NetlinkError

from quark import owners
from quark.agent import plan as planning
from quark.agent.client import L2_AGENT_TYPE, L2_BINARY, AgentApiClient
from quark.agent.model import ActualState, DesiredState, HostConfig, Link
from quark.agent.netlink import Netlink, vlan_supported
from quark.agent.nftables import Nftables
from quark.agent.watch import Watch, run_loops, wait_any

log = logging.getLogger(__name__)


@dataclass
class L2AgentConfig:
    host: str
    netns: str | None = None
    bridge_mappings: dict[str, str] = field(default_factory=dict)
    tunnel_ip: str | None = None
    report_interval: float = 5.0
    poll_interval: float = 0.5
    resync_interval: float = 10.0
    watch_wait: float = 30.0


def parse_bridge_mappings(text: str) -> dict[str, str]:
    """``"physnet1:eth1,physnet2:eth2"`` -> ``{"physnet1": "eth1", ...}``."""
    result: dict[str, str] = {}
    for item in (text or "").replace(" ", ",").split(","):
        if not item:
            continue
        physnet, sep, iface = item.partition(":")
        if not sep or not physnet or not iface:
            raise ValueError(f"bad bridge mapping {item!r} (expected physnet:interface)")
        if len(iface) > 15:
            raise ValueError(f"interface name {iface!r} is longer than 15 characters")
        result[physnet] = iface
    return result


def _links_signature(links: list[Link]) -> tuple[Any, ...]:
    return tuple(sorted((k.name, k.index, k.kind, k.master, k.up, k.mtu, k.mac, k.peer_elsewhere) for k in links))


class L2Agent:
    def __init__(self, client: AgentApiClient, config: L2AgentConfig, netlink: Netlink | None = None):
        self.client = client
        self.config = config
        self.netlink = netlink or Netlink(config.netns)
        self.nftables = Nftables(config.netns)
        self.watch = Watch(
            lambda since, wait: client.desired_state(config.host, since=since, wait=wait),
            wait=config.watch_wait,
            name=f"desired_state[{config.host}]",
        )
        self.host_config = HostConfig(dict(config.bridge_mappings), config.tunnel_ip or None)
        self.restored = False
        self.passes = 0
        self.statuses: dict[str, str] = {}
        self._pushed: dict[str, tuple[str, Any]] = {}
        self._errors: dict[str, str] = {}
        self._retry = False

    # --- reporting -----------------------------------------------------------

    def configurations(self) -> dict[str, Any]:
        hc = self.host_config
        return {
            "bridge_mappings": dict(hc.bridge_mappings),
            "tunnel_ip": hc.tunnel_ip or "",
            "tunnel_types": ["vxlan"] if hc.tunnel_ip else [],
            "vlan_supported": hc.vlan_supported,
            # security groups enforced here (quark.agent.firewall): binding:vif_details port_filter
            "port_filter": self.nftables.enabled,
            "devices": sum(1 for s in self.statuses.values() if s == planning.ACTIVE),
        }

    async def report(self, start_flag: bool) -> None:
        await self.client.report(
            host=self.config.host,
            agent_type=L2_AGENT_TYPE,
            binary=L2_BINARY,
            configurations=self.configurations(),
            start_flag=start_flag,
        )

    # --- one pass ------------------------------------------------------------

    async def converge_once(self, desired: DesiredState) -> ActualState:
        """Plan and apply one pass; push changed statuses; return the state after it."""
        actual = await self.netlink.snapshot()
        plan = planning.converge(desired, actual, self.host_config, cleanup=self.restored)
        if plan.actions:
            # Tell the truth first: ports that lost their device are DOWN until repaired.
            before = planning.port_statuses(desired, actual, plan.errors)
            lost = {
                pid: s
                for pid, s in before.items()
                if s != planning.ACTIVE and self._known_status(desired, pid) == planning.ACTIVE
            }
            if lost:
                self.statuses = {**self.statuses, **lost}
                await self._push_statuses(desired, only=set(lost))
        failed = 0
        for action in plan.actions:
            try:
                await self.netlink.apply(action)
                log.info("%s", action)
            except NetlinkError as exc:
                failed += 1
                log.warning("%s failed: %s", action, exc)
        if plan.errors != self._errors:
            for net_id, why in plan.errors.items():
                if self._errors.get(net_id) != why:
                    log.error("network %s cannot be realised on this host: %s", net_id, why)
            self._errors = dict(plan.errors)
        if plan.actions:
            actual = await self.netlink.snapshot(with_fdb=False)
        self.statuses = planning.port_statuses(desired, actual, plan.errors)
        pushed_ok = await self._push_statuses(desired)
        self._retry = bool(failed) or not pushed_ok
        self.passes += 1
        self.restored = True
        return actual

    async def converge_filter(self, doc: dict[str, Any], *, check: bool) -> bool:
        """Load the security-group filter the document asks for; False if that failed."""
        try:
            if await self.nftables.converge(doc, check=check):
                log.info("security group filter loaded (generation %s)", doc.get("generation"))
        except Exception as exc:  # noqa: BLE001 - retried on the next pass
            log.error("security group filter not loaded: %s", exc)
            return False
        return True

    def _known_status(self, desired: DesiredState, port_id: str) -> str | None:
        """What the server has: our last push while its document has not
        caught up with it yet, else what the document says."""
        pushed = self._pushed.get(port_id)
        if pushed is not None and pushed[1] == desired.generation:
            return pushed[0]
        return next((p.status for p in desired.ports if p.id == port_id), None)

    async def _push_statuses(self, desired: DesiredState, only: set[str] | None = None) -> bool:
        changes: dict[str, str] = {}
        for port in desired.ports:
            status = self.statuses.get(port.id)
            if status is None or (only is not None and port.id not in only):
                continue
            if port.device_owner in owners.ROUTER:  # the L3 part reports them (quark.agent.l3)
                continue
            if status != self._known_status(desired, port.id):
                changes[port.id] = status
        current = {p.id for p in desired.ports}
        for pid in list(self._pushed):
            if pid not in current:
                del self._pushed[pid]
        if not changes:
            return True
        try:
            await self.client.port_status(self.config.host, changes)
        except Exception as exc:  # noqa: BLE001 - retried on the next pass
            log.warning("port status push failed: %s", exc)
            return False
        for pid, status in changes.items():
            self._pushed[pid] = (status, desired.generation)
        log.info("port status %s", changes)
        return True

    # --- loops ---------------------------------------------------------------

    async def reconcile_forever(self) -> None:
        last_sig: tuple[Any, ...] | None = None
        last_doc: dict[str, Any] | None = None
        last_full = 0.0
        while True:
            await wait_any(self.watch.changed, self.config.poll_interval)
            self.watch.changed.clear()
            # The event only shortens the sleep; what counts is whether the
            # document is another one (a set racing the timeout is not lost).
            doc = self.watch.document
            if doc is None:
                continue
            try:
                links = await self.netlink.links()
                sig = _links_signature(links)
                due = time.monotonic() - last_full >= self.config.resync_interval
                if not (doc is not last_doc or self._retry or due or sig != last_sig):
                    continue
                last_doc = doc
                # The filter first: a port is never plugged without its security groups.
                filtered = await self.converge_filter(doc, check=due)
                actual = await self.converge_once(DesiredState.from_api(doc))
                self._retry = self._retry or not filtered
                last_sig = _links_signature(list(actual.links.values()))
                last_full = time.monotonic()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconcile pass failed")
                self._retry = True
                await asyncio.sleep(1)

    async def run(self) -> None:
        await self.netlink.open()
        try:
            self.host_config = HostConfig(
                dict(self.config.bridge_mappings),
                self.config.tunnel_ip or None,
                vlan_supported=await vlan_supported(self.config.netns),
            )
            await self.nftables.start()
            log.info(
                "quark agent for host %s%s: bridge_mappings=%s tunnel_ip=%s vlan_supported=%s",
                self.config.host,
                f" in netns {self.config.netns}" if self.config.netns else "",
                self.host_config.bridge_mappings,
                self.host_config.tunnel_ip,
                self.host_config.vlan_supported,
            )
            await run_loops(self.watch, self.report, self.config.report_interval, self.reconcile_forever)
        finally:
            await self.netlink.close()
