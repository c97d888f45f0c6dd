"""A private OVN for tests: an NB and an SB ovsdb-server and ovn-northd.

Everything lives in its own temporary directory (databases, unix sockets,
control sockets, logs, pid files) and every process is stopped when the
fixture ends, so tests never share an OVN with each other or with anything
on the machine. Needs Debian's ``ovn-central`` (``make test-deps`` installs
it); without it the tests skip, or fail under CI=true.

Use the ``ovn`` fixture (import it into a test module or a conftest), or
``OvnCluster`` directly::

    from tests.ovn import ovn  # noqa: F401  (the fixture)

    def test_x(ovn):
        ovn.nbctl("ls-list")
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

SCHEMAS = Path("/usr/share/ovn")
OVSDB_SERVER = shutil.which("ovsdb-server") or "/usr/sbin/ovsdb-server"
TOOLS = ("ovsdb-tool", "ovn-northd", "ovn-nbctl", "ovn-sbctl")


def require_ovn() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if not os.path.exists(OVSDB_SERVER):
        missing.append("ovsdb-server")
    if not (SCHEMAS / "ovn-nb.ovsschema").exists():
        missing.append(str(SCHEMAS / "ovn-nb.ovsschema"))
    if missing:
        message = f"OVN is not installed (missing {', '.join(missing)}; `make test-deps` installs ovn-central)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


def _wait_for(path: Path, proc: subprocess.Popen, log: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{proc.args[0]} did not come up ({path}): {tail}")
        time.sleep(0.02)


class OvnCluster:
    """NB and SB ovsdb-servers and ovn-northd in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.nb_sock = directory / "nb.sock"
        self.sb_sock = directory / "sb.sock"
        self.procs: dict[str, subprocess.Popen] = {}
        self.env = {**os.environ, "OVN_RUNDIR": str(directory), "OVS_RUNDIR": str(directory)}

    @property
    def nb_url(self) -> str:
        return f"unix:{self.nb_sock}"

    @property
    def sb_url(self) -> str:
        return f"unix:{self.sb_sock}"

    def start(self) -> OvnCluster:
        for db, schema in (("nb", "ovn-nb.ovsschema"), ("sb", "ovn-sb.ovsschema")):
            subprocess.run(
                ["ovsdb-tool", "create", str(self.dir / f"{db}.db"), str(SCHEMAS / schema)],
                check=True,
                capture_output=True,
            )
            self.start_db(db)
        self._spawn(
            "northd",
            [
                "ovn-northd",
                f"--ovnnb-db={self.nb_url}",
                f"--ovnsb-db={self.sb_url}",
                f"--unixctl={self.dir / 'northd.ctl'}",
                f"--log-file={self.dir / 'northd.log'}",
                "-vconsole:off",
            ],
        )
        _wait_for(self.dir / "northd.ctl", self.procs["northd"], self.dir / "northd.log")
        return self

    def _spawn(self, name: str, argv: list[str]) -> None:
        self.procs[name] = subprocess.Popen(
            argv, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def start_db(self, db: str) -> None:
        """Start (or start again) the ``nb`` or ``sb`` ovsdb-server on its database file."""
        sock = self.dir / f"{db}.sock"
        self._spawn(
            db,
            [
                OVSDB_SERVER,
                str(self.dir / f"{db}.db"),
                f"--remote=punix:{sock}",
                f"--unixctl={self.dir / f'{db}.ctl'}",
                f"--log-file={self.dir / f'{db}.log'}",
                "--no-chdir",
                "-vconsole:off",
            ],
        )
        _wait_for(sock, self.procs[db], self.dir / f"{db}.log")

    def stop_db(self, db: str) -> None:
        """Stop the ``nb`` or ``sb`` ovsdb-server (its data stays in its file)."""
        self._stop(db)
        (self.dir / f"{db}.sock").unlink(missing_ok=True)

    def _stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def stop(self) -> None:
        for name in ("northd", "nb", "sb"):
            self._stop(name)

    def nbctl(self, *args: str) -> str:
        return self._ctl("ovn-nbctl", self.nb_url, args)

    def sbctl(self, *args: str) -> str:
        return self._ctl("ovn-sbctl", self.sb_url, args)

    def _ctl(self, tool: str, url: str, args: tuple[str, ...]) -> str:
        done = subprocess.run(
            [tool, f"--db={url}", "--timeout=20", *args], env=self.env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def get(self, table: str, record: str, column: str) -> str:
        """One column of one NB row as ovn-nbctl prints it, without quotes or a set's brackets
        (an empty set: "")."""
        value = self.nbctl("get", table, record, column).strip()
        if value.startswith("[") and value.endswith("]"):
            value = value[1:-1]
        return value.replace('"', "")

    def nb_names(self, table: str) -> set[str]:
        out = self.nbctl("--bare", "--columns=name", "list", table)
        return {line.strip() for line in out.splitlines() if line.strip()}

    def wait_for_nb(self, predicate, timeout: float = 30.0, what: str = "") -> None:
        """Poll until ``predicate()`` is true (OVN changes arrive asynchronously)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what or predicate}")
            time.sleep(0.1)


class Chassis:
    """One hypervisor on Open vSwitch's userspace datapath (``datapath_type=netdev``:
    no kernel module): its own ovsdb-server, ovs-vswitchd and ovn-controller bound to
    ``cluster``'s SB, and network namespaces as its VMs, each a veth whose host end
    is an ``br-int`` port bound to a logical switch port (``external_ids:iface-id``)."""

    def __init__(self, cluster: OvnCluster) -> None:
        self.cluster = cluster
        self.dir = cluster.dir
        self.tag = cluster.dir.name[-6:].replace("_", "x")
        self.db_url = f"unix:{self.dir / 'conf.sock'}"
        self.vms: list[str] = []

    def start(self) -> Chassis:
        c = self.cluster
        subprocess.run(
            ["ovsdb-tool", "create", str(self.dir / "conf.db"), "/usr/share/openvswitch/vswitch.ovsschema"],
            check=True,
            capture_output=True,
        )
        c._spawn(
            "ovs-db",
            [OVSDB_SERVER, str(self.dir / "conf.db"), f"--remote=punix:{self.dir / 'conf.sock'}",
             f"--unixctl={self.dir / 'ovs-db.ctl'}", f"--log-file={self.dir / 'ovs-db.log'}", "--no-chdir", "-vconsole:off"],
        )  # fmt: skip
        _wait_for(self.dir / "conf.sock", c.procs["ovs-db"], self.dir / "ovs-db.log")
        self.vsctl("--no-wait", "init")
        c._spawn(
            "vswitchd",
            ["ovs-vswitchd", self.db_url, f"--unixctl={self.dir / 'vswitchd.ctl'}",
             f"--log-file={self.dir / 'vswitchd.log'}", "--no-chdir", "-vconsole:off"],
        )  # fmt: skip
        self.vsctl(
            "set", "open", ".", f"external_ids:system-id=chassis-{self.tag}", f"external_ids:ovn-remote={c.sb_url}",
            "external_ids:ovn-encap-type=geneve", "external_ids:ovn-encap-ip=127.0.0.1",
            "external_ids:ovn-bridge-datapath-type=netdev",
        )  # fmt: skip
        self.vsctl("add-br", "br-int", "--", "set", "bridge", "br-int", "datapath_type=netdev", "fail-mode=secure")
        c._spawn(
            "controller",
            ["ovn-controller", self.db_url, f"--log-file={self.dir / 'controller.log'}", "--no-chdir", "-vconsole:off"],
        )
        return self

    def vsctl(self, *args: str) -> str:
        return self.cluster._ctl("ovs-vsctl", self.db_url, ("--timeout=20", *args))

    def plug(self, port_id: str, mac: str, cidr_ip: str) -> str:
        """A namespace with a veth of ``mac`` and ``cidr_ip`` (``10.0.0.5/24``) bound to
        logical switch port ``port_id``; its name."""
        n = len(self.vms)
        ns, host, guest = f"qovn-{self.tag}-{n}", f"qo{self.tag}h{n}", f"qo{self.tag}g{n}"
        for argv in (
            ["ip", "netns", "add", ns],
            ["ip", "link", "add", host, "type", "veth", "peer", "name", guest],
            ["ip", "link", "set", guest, "netns", ns],
            ["ip", "-n", ns, "link", "set", guest, "address", mac],
            ["ip", "-n", ns, "addr", "add", cidr_ip, "dev", guest],
            ["ip", "-n", ns, "link", "set", guest, "up"],
            ["ip", "-n", ns, "link", "set", "lo", "up"],
            ["ip", "link", "set", host, "up"],
            # The kernel leaves a veth's TCP/UDP checksums to an offload the userspace datapath
            # never does: without this, pings pass but every TCP connection is dropped.
            ["ip", "netns", "exec", ns, "ethtool", "-K", guest, "tx", "off"],
        ):
            subprocess.run(argv, check=True, capture_output=True)
        self.vms.append(ns)
        self.vsctl("add-port", "br-int", host, "--", "set", "interface", host, f"external_ids:iface-id={port_id}")
        return ns

    def ping(self, ns: str, ip: str, count: int = 2) -> bool:
        done = subprocess.run(
            ["ip", "netns", "exec", ns, "ping", "-c", str(count), "-W", "2", ip], capture_output=True, check=False
        )
        return done.returncode == 0

    def stop(self) -> None:
        for name in ("controller", "vswitchd", "ovs-db"):
            self.cluster._stop(name)
        for n, ns in enumerate(self.vms):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
            subprocess.run(["ip", "link", "del", f"qo{self.tag}h{n}"], capture_output=True, check=False)


def require_chassis() -> None:
    missing = [t for t in ("ovs-vswitchd", "ovn-controller", "ovs-vsctl", "ip", "ethtool") if shutil.which(t) is None]
    if missing or os.geteuid() != 0:
        message = f"no userspace chassis here (missing {missing or 'root'}; `make test-deps` installs them)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def chassis(ovn: OvnCluster) -> Iterator[Chassis]:
    """A hypervisor (userspace datapath) bound to ``ovn``; its namespaces removed after."""
    require_chassis()
    host = Chassis(ovn)
    try:
        yield host.start()
    finally:
        host.stop()


@pytest.fixture
def ovn() -> Iterator[OvnCluster]:
    """A fresh OVN (NB, SB, northd) for one test, stopped and removed after it."""
    require_ovn()
    # Short path: unix socket names are limited to 107 bytes.
    directory = Path(tempfile.mkdtemp(prefix="qovn-", dir="/tmp"))
    cluster = OvnCluster(directory)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)
