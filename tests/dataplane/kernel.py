"""Helpers for real-kernel dataplane tests: root/tool requirements, uniquely
named namespaces that are always removed (with every process inside them),
agent subprocesses, and polling.

Without root these tests skip, except with CI=true where a missing
privilege or tool is a failure.
"""

from __future__ import annotations

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


def wait_for(predicate: Callable[[], Any], timeout: float = 15, interval: float = 0.05, what: str = "",
             proc: "Process | None" = None) -> Any:
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

    def __init__(self, args: list[str], name: str):
        self.args = args
        self.log = Path(tempfile.mkstemp(prefix=f"quark-{name}-", suffix=".log")[1])
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Process":
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
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
    return [QUARK, "agent", "--host", host, "--netns", netns, "--api-url", api_url, "--report-interval", "1",
            "--log-level", "debug", *extra]


def dhcp_cmd(api_url: str, host: str, netns: str, prefix: str, state_dir: str, *extra: str) -> list[str]:
    return [QUARK, "dhcp", "--host", host, "--netns", netns, "--namespace-prefix", prefix, "--state-dir", state_dir,
            "--api-url", api_url, "--report-interval", "1", "--log-level", "debug", *extra]
