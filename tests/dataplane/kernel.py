"""Helpers for real-kernel dataplane tests: root/tool requirements, uniquely
named namespaces that are always removed (with every process inside them),
agent subprocesses, and polling.

Without root these tests skip, except with CI=true where a missing
privilege or tool is a failure.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

QUARK = str(Path(sys.executable).with_name("quark"))
IN_CI = os.environ.get("CI", "").lower() == "true"


def _unavailable(why: str) -> None:
    if IN_CI:
        pytest.fail(f"{why} (CI=true: the dataplane tests must run)")
    pytest.skip(why)


def require_root() -> None:
    if os.geteuid() != 0:
        _unavailable("dataplane tests need root (network namespaces)")


def require_tools(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None and not Path("/usr/sbin", t).exists()]
    if missing:
        _unavailable(f"missing tools: {', '.join(missing)} (scripts/install-dataplane-deps.sh installs them)")


def run(*cmd: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def in_ns(ns: str, *cmd: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
    return run("ip", "netns", "exec", ns, *cmd, check=check, timeout=timeout)


def state_dir() -> Path:
    """A directory dnsmasq can read after dropping root (pytest's tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="quark-dhcp-"))
    path.chmod(0o755)
    return path


def unique(prefix: str = "q") -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


def kill_netns_processes(ns: str) -> None:
    pids = run("ip", "netns", "pids", ns, check=False).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def delete_netns(ns: str) -> None:
    if Path("/run/netns", ns).exists():
        kill_netns_processes(ns)
        run("ip", "netns", "del", ns, check=False)


def namespaces_with_prefix(prefix: str) -> list[str]:
    root = Path("/run/netns")
    return sorted(p.name for p in root.iterdir() if p.name.startswith(prefix)) if root.is_dir() else []


class Namespaces:
    """Creates namespaces named ``<tag><name>`` and removes every namespace
    starting with ``tag`` (including ones made by the code under test, like
    the DHCP namespaces made with ``--namespace-prefix tag``)."""

    def __init__(self) -> None:
        self.tag = unique("qt") + "-"

    def add(self, name: str) -> str:
        ns = self.tag + name
        run("ip", "netns", "add", ns)
        run("ip", "-n", ns, "link", "set", "lo", "up")
        return ns

    def cleanup(self) -> None:
        for ns in namespaces_with_prefix(self.tag):
            delete_netns(ns)


def links(ns: str) -> dict[str, dict[str, Any]]:
    out = run("ip", "-n", ns, "-d", "-j", "link", "show").stdout
    return {link["ifname"]: link for link in json.loads(out or "[]")}


def flood_entries(ns: str, dev: str) -> set[str]:
    out = run("bridge", "-n", ns, "-j", "fdb", "show", "dev", dev, check=False).stdout
    return {e["dst"] for e in json.loads(out or "[]") if e.get("mac") == "00:00:00:00:00:00" and e.get("dst")}


def wait_for(
    predicate: Callable[[], Any],
    timeout: float = 15,
    interval: float = 0.05,
    what: str = "",
    proc: Process | None = None,
) -> Any:
    """Poll ``predicate`` until truthy; on timeout fail with ``proc``'s state and log tail."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    detail = ""
    if proc is not None:
        detail = f"\n{proc.describe()}"
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}: last={last!r}{detail}")


class Process:
    """A `quark agent` / `quark dhcp` subprocess with its log in a file."""

    def __init__(self, args: list[str], name: str, env: dict[str, str] | None = None):
        self.args = args
        self.env = {**os.environ, **(env or {})}
        self.log = Path(tempfile.mkstemp(prefix=f"quark-{name}-", suffix=".log")[1])
        self.proc: subprocess.Popen | None = None

    def start(self) -> Process:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=self.env
            )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def describe(self) -> str:
        state = "running" if self.alive() else f"exited {self.proc.returncode if self.proc else None}"
        return f"{' '.join(self.args)} ({state}); log tail:\n{self.log_text()[-4000:]}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    try:
        yield started
    finally:
        for proc in started:
            proc.stop(signal.SIGKILL)


def agent_cmd(api_url: str, host: str, netns: str, *extra: str) -> list[str]:
    return [
        QUARK,
        "agent",
        "--host",
        host,
        "--netns",
        netns,
        "--api-url",
        api_url,
        "--report-interval",
        "1",
        "--log-level",
        "debug",
        *extra,
    ]


def dhcp_cmd(api_url: str, host: str, netns: str, prefix: str, state_dir: str, *extra: str) -> list[str]:
    return [
        QUARK,
        "dhcp",
        "--host",
        host,
        "--netns",
        netns,
        "--namespace-prefix",
        prefix,
        "--state-dir",
        state_dir,
        "--api-url",
        api_url,
        "--report-interval",
        "1",
        "--log-level",
        "debug",
        *extra,
    ]


# --- a DHCP client in a "VM" namespace ------------------------------------------

_DHCLIENT_SCRIPT = """#!/bin/sh
# dhclient-script stand-in: record what the server sent, configure the address.
env | sort > "$QUARK_DUMP.$reason"
case "$reason" in
BOUND|RENEW|REBIND|REBOOT)
    ip addr add "$new_ip_address/$new_subnet_mask" dev "$interface" 2>/dev/null
    [ -n "$new_interface_mtu" ] && ip link set dev "$interface" mtu "$new_interface_mtu"
    ;;
BOUND6|RENEW6|REBIND6|REBOOT6)
    ip -6 addr add "$new_ip6_address/128" dev "$interface" nodad 2>/dev/null
    ;;
esac
exit 0
"""

_DHCLIENT_CONF = """option rfc3442-classless-static-routes code 121 = array of unsigned integer 8;
request subnet-mask, broadcast-address, routers, domain-name-servers, host-name, interface-mtu,
        rfc3442-classless-static-routes, dhcp6.name-servers;
timeout 20;
retry 1;
"""


def dhcp_client(vm_ns: str, iface: str, workdir: Path, *, v6: bool = False, timeout: float = 30) -> dict[str, str]:
    """Run dhclient once in ``vm_ns`` on ``iface``; return the script environment of the BOUND event."""
    workdir.mkdir(parents=True, exist_ok=True)
    script = workdir / "script.sh"
    script.write_text(_DHCLIENT_SCRIPT)
    script.chmod(0o755)
    conf = workdir / "dhclient.conf"
    conf.write_text(_DHCLIENT_CONF)
    dump = workdir / ("dump6" if v6 else "dump")
    family = ["-6"] if v6 else []
    run("ip", "-n", vm_ns, "link", "set", iface, "up")
    if v6:  # dhclient -6 binds to the link-local address: wait for its duplicate address detection
        wait_for(
            lambda: (
                "fe80" in run("ip", "-n", vm_ns, "-6", "addr", "show", "dev", iface).stdout
                and not run("ip", "-n", vm_ns, "-6", "addr", "show", "dev", iface, "tentative").stdout.strip()
            ),
            10,
            what=f"link-local address of {iface} usable",
        )
    proc = in_ns(
        vm_ns,
        "dhclient",
        *family,
        "-1",
        "-v",
        "-cf",
        str(conf),
        "-sf",
        str(script),
        "-lf",
        str(workdir / f"lease{'6' if v6 else ''}"),
        "-pf",
        str(workdir / f"pid{'6' if v6 else ''}"),
        "-e",
        f"QUARK_DUMP={dump}",
        iface,
        check=False,
        timeout=timeout,
    )
    bound = [p for p in workdir.glob(dump.name + ".*") if p.suffix in (".BOUND", ".BOUND6", ".REBOOT", ".RENEW")]
    if proc.returncode != 0 or not bound:
        raise AssertionError(f"dhclient in {vm_ns} got no lease ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    env = {}
    for line in bound[0].read_text().splitlines():
        key, _, value = line.partition("=")
        env[key] = value
    return env


def addresses(ns: str, dev: str) -> list[str]:
    out = run("ip", "-n", ns, "-j", "addr", "show", "dev", dev).stdout
    return [
        str(ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}"))
        for link in json.loads(out or "[]")
        for a in link.get("addr_info", [])
        if a.get("scope") != "link"
    ]
