"""The nftables side of security groups: turn br_netfilter on, load the
rendered tables (``quark.agent.firewall``) with one ``nft -f``, check they
are still there.

``nft -f -`` runs the whole text as one transaction: the tables are replaced
whole or not at all. Commands run in the agent's namespace (``ip netns exec``)
when it has one.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from typing import Any

from quark.agent import firewall

log = logging.getLogger(__name__)

BR_NETFILTER = ("net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables")


class NftError(RuntimeError):
    pass


async def _run(argv: list[str], stdin: str | None = None) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate(stdin.encode() if stdin is not None else None)
    return proc.returncode or 0, out.decode(errors="replace")


class Nftables:
    """Quark's tables in one namespace (None: the agent's own)."""

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns or None
        self.enabled = False
        self._applied: str | None = None
        self._spec = firewall.FirewallSpec()

    def _argv(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.netns, *argv] if self.netns else list(argv)

    async def start(self) -> bool:
        """Whether this host can enforce security groups: ``nft`` is installed
        and bridged IP can be sent through the inet hooks (br_netfilter on)."""
        if shutil.which("nft") is None:
            log.warning("nft not found: security groups are not enforced on this host")
            return False
        rc, out = await _run(self._argv("sysctl", "-qw", *(f"{key}=1" for key in BR_NETFILTER)))
        if rc != 0:
            log.warning("br_netfilter is not available (%s): security groups are not enforced", out.strip())
            return False
        self.enabled = True
        return True

    async def present(self) -> bool:
        for family in ("bridge", "inet"):
            rc, _ = await _run(self._argv("nft", "list", "table", family, firewall.TABLE))
            if rc != 0:
                return False
        return True

    async def converge(self, doc: dict[str, Any], *, check: bool = False) -> bool:
        """Load the tables the document asks for, unless the same text is loaded
        already (and, with ``check``, still there). True when something was loaded."""
        if not self.enabled:
            return False
        spec = firewall.FirewallSpec.from_api(doc)
        text = firewall.render(spec)
        if text == self._applied and (not check or await self.present()):
            return False
        rc, out = await _run(self._argv("nft", "-f", "-"), stdin=text)
        if rc != 0:
            self._applied = None
            raise NftError(f"nft -f failed: {out.strip()[:2000]}")
        self._applied = text
        await self.forget_connections(firewall.tightened(self._spec, spec))
        self._spec = spec
        return True

    async def forget_connections(self, addresses: list[str]) -> None:
        """Delete the conntrack entries from and to ``addresses`` (``conntrack -D``):
        their next packets are judged by the rules now loaded. Without the
        ``conntrack`` tool, connections the old rules allowed live on (logged)."""
        if not addresses:
            return
        if shutil.which("conntrack") is None:
            log.warning("conntrack not found: established connections of %s keep their old rules", addresses)
            return
        for address in addresses:
            family = ["-f", "ipv6"] if ":" in address else []
            for side in ("-s", "-d"):
                await _run(self._argv("conntrack", "-D", *family, side, address))  # 1 when there was none

    async def remove(self) -> None:
        for family in ("bridge", "inet"):
            await _run(self._argv("nft", "delete", "table", family, firewall.TABLE))
        self._applied = None
