"""Starting, checking and stopping one metadata proxy in a namespace.

Reusable by whoever owns a namespace a VM can reach: the DHCP service (one
per served network, key ``network_id``, 169.254.169.254:80 on the DHCP port's
device) and an L3 agent (one per router, key ``router_id``; bind
169.254.169.254:80 with the address on the router namespace's ``lo``, or
another port with a redirect of 169.254.169.254:80 to it).

Like dnsmasq, the proxy outlives the agent that started it (a restarted
agent finds it by its pid file and keeps it); ``ensure_proxy`` starts it
when it is not running and restarts it when its command line changed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from quark.agent.metadata.proxy import METADATA_IP

METADATA_PORT = 80


@dataclass(frozen=True)
class ProxySpec:
    namespace: str
    socket_path: str
    state_dir: Path  # pid and log files
    network_id: str = ""
    router_id: str = ""
    bind: str = METADATA_IP
    port: int = METADATA_PORT

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "metadata-proxy.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "metadata-proxy.log"

    def command(self) -> list[str]:
        key = ["--network-id", self.network_id] if self.network_id else ["--router-id", self.router_id]
        return [
            sys.executable,
            "-m",
            "quark.agent.metadata.proxy",
            "--socket",
            self.socket_path,
            *key,
            "--bind",
            self.bind,
            "--port",
            str(self.port),
            f"--pid-file={self.pid_file}",
            "--log-file",
            str(self.log_file),
        ]


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None
    if state == "Z":
        return None
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def running_pid(spec: ProxySpec) -> int | None:
    """The pid of the proxy of ``spec`` (same pid file), if it runs."""
    try:
        pid = int(spec.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    args = _cmdline(pid)
    if args is None or f"--pid-file={spec.pid_file}" not in args:
        return None
    return pid


async def ensure_proxy(spec: ProxySpec) -> int:
    """The proxy runs with ``spec``'s command line; its pid. RuntimeError if it cannot start."""
    pid = running_pid(spec)
    if pid is not None:
        if _cmdline(pid) == spec.command():
            return pid
        stop_proxy(spec)
    spec.state_dir.mkdir(parents=True, exist_ok=True)
    spec.pid_file.unlink(missing_ok=True)
    proc = await asyncio.create_subprocess_exec(
        "ip",
        "netns",
        "exec",
        spec.namespace,
        *spec.command(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    pid = running_pid(spec)
    if proc.returncode != 0 or pid is None:
        detail = (err or out).decode(errors="replace").strip()
        raise RuntimeError(f"metadata proxy in {spec.namespace} did not start ({proc.returncode}): {detail}")
    return pid


def _exited(pid: int) -> bool:
    """Gone, or a zombie waiting for its reaper. An exiting process loses its
    command line before it is gone, so ``running_pid`` alone says too early."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def stop_proxy(spec: ProxySpec, timeout: float = 2.0) -> None:
    pid = running_pid(spec)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while not _exited(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if running_pid(spec) == pid:
            os.kill(pid, signal.SIGKILL)
        while not _exited(pid) and time.monotonic() < deadline + timeout:
            time.sleep(0.02)
    spec.pid_file.unlink(missing_ok=True)
