"""The metadata proxy of a router's namespace (docs/l3.md, docs/metadata.md):
with ``enable_metadata_proxy``, each router with an IPv4 interface runs one
proxy keyed by its router id (``quark.agent.metadata.spawn``), listening on
169.254.169.254:80, an address the L3 part puts on the namespace's ``lo``; a
VM reaches it by its default route through the router. The proxy sends the
request, with the router id and the VM's address, to the host's metadata
agent on its unix socket.

Like the DHCP service's, a proxy outlives the agent; one whose namespace was
replaced (a wiped host) is still alive in the old one, so a proxy counts as
running only in the namespace of that name now. Its pid and log files are
in ``<state dir>/<router id>``; a directory no router of the document names
is a stale proxy: stopped, removed.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from quark.agent.metadata.spawn import ProxySpec, ensure_proxy, running_pid, stop_proxy

log = logging.getLogger(__name__)


def same_namespace(pid: int, netns_file: Path) -> bool:
    """Whether process ``pid`` lives in the network namespace of ``netns_file``."""
    try:
        mine, theirs = os.stat(f"/proc/{pid}/ns/net"), os.stat(netns_file)
    except OSError:
        return False
    return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)


class RouterProxies:
    def __init__(self, socket_path: str, state_dir: Path, netns_dir: Path) -> None:
        self.socket_path = socket_path
        self.state_dir = state_dir
        self.netns_dir = netns_dir

    def spec(self, router_id: str, namespace: str) -> ProxySpec:
        return ProxySpec(
            namespace=namespace,
            socket_path=self.socket_path,
            state_dir=self.state_dir / router_id,
            router_id=router_id,
        )

    async def ensure(self, router_id: str, namespace: str) -> int:
        """The router's proxy runs in ``namespace``; its pid (RuntimeError if it cannot start)."""
        spec = self.spec(router_id, namespace)
        pid = running_pid(spec)
        if pid is not None and not same_namespace(pid, self.netns_dir / namespace):
            log.info("router %s: metadata proxy %d is in a namespace gone: restarting it", router_id, pid)
            stop_proxy(spec)
        started = running_pid(spec) is None
        pid = await ensure_proxy(spec)
        if started:
            log.info("router %s: metadata proxy %d started in %s", router_id, pid, namespace)
        return pid

    def stop(self, router_id: str, namespace: str = "") -> None:
        spec = self.spec(router_id, namespace)
        if running_pid(spec) is not None:
            log.info("router %s: metadata proxy stopped", router_id)
        stop_proxy(spec)

    def remove_stale(self, wanted: set[str]) -> None:
        """Stop the proxies of routers not in ``wanted`` (ids) and remove their files."""
        if not self.state_dir.is_dir():
            return
        for path in sorted(self.state_dir.iterdir()):
            if path.is_dir() and path.name not in wanted:
                self.stop(path.name)
                shutil.rmtree(path, ignore_errors=True)
