"""A 3-node MariaDB Galera cluster on this machine, for the Galera tests.

Three ``mariadbd`` processes with their own data directory, socket, client
port and Galera ports (group communication, IST, SST), all on 127.0.0.1 and
all picked free; wsrep through Debian's ``galera-4`` provider and rsync for
state transfers (SST). The first node bootstraps the cluster
(``--wsrep-new-cluster``), the others join it; ``start`` returns once every
node counts ``wsrep_cluster_size = 3`` and is synced, within a bounded time.

``galera_cluster()`` always tears down: every process it started is killed
and its directory removed, whatever happened. A machine without the packages
(or where the cluster does not form) is a skip, or a failure when CI=true,
as tests/dbs.py treats the database servers.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from tests.scratch import started, unavailable

PROVIDER = "/usr/lib/galera/libgalera_smm.so"
MARIADBD = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
START_TIMEOUT = 60.0
# Quick failure detection: a node killed on this machine is dropped from the
# primary component in about two seconds instead of Galera's default ~5-15.
PROVIDER_OPTIONS = (
    "evs.keepalive_period=PT0.5S;evs.suspect_timeout=PT2S;evs.inactive_timeout=PT4S;"
    "evs.inactive_check_period=PT0.5S;evs.install_timeout=PT4S;gmcast.peer_timeout=PT2S;"
    "gcache.size=64M;pc.announce_timeout=PT1S"
)


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 at the time of asking."""
    socks, ports = [], []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
            ports.append(sock.getsockname()[1])
    finally:
        for sock in socks:
            sock.close()
    return ports


@dataclass
class Node:
    index: int
    base: Path
    port: int
    gcomm_port: int
    ist_port: int
    sst_port: int
    proc: subprocess.Popen | None = field(default=None, repr=False)
    restarted_at: int = 0  # the error log's size when the node was last restarted

    @property
    def datadir(self) -> Path:
        return self.base / "data"

    @property
    def cnf(self) -> Path:
        return self.base / "my.cnf"

    @property
    def log(self) -> Path:
        return self.base / "error.log"

    def url(self, database: str) -> str:
        return f"mysql+asyncmy://root@127.0.0.1:{self.port}/{database}?charset=utf8mb4"

    def write_cnf(self, cluster_address: str) -> None:
        self.cnf.write_text(
            "[mysqld]\n"
            f"datadir={self.datadir}\n"
            f"socket={self.base / 'mysqld.sock'}\n"
            f"pid-file={self.base / 'mysqld.pid'}\n"
            f"log-error={self.log}\n"
            f"port={self.port}\n"
            "bind-address=127.0.0.1\n"
            "user=root\n"
            "skip-name-resolve\n"
            "max-connections=400\n"
            "innodb-buffer-pool-size=64M\n"
            "innodb-log-file-size=48M\n"
            "innodb-flush-log-at-trx-commit=0\n"
            "innodb-autoinc-lock-mode=2\n"
            "binlog-format=ROW\n"
            "default-storage-engine=InnoDB\n"
            "wsrep-on=ON\n"
            f"wsrep-provider={PROVIDER}\n"
            "wsrep-cluster-name=quark-test\n"
            f"wsrep-node-name=node{self.index}\n"
            f"wsrep-cluster-address={cluster_address}\n"
            f"wsrep-node-address=127.0.0.1:{self.gcomm_port}\n"
            f"wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:{self.gcomm_port};"
            f"ist.recv_addr=127.0.0.1:{self.ist_port};{PROVIDER_OPTIONS}\n"
            f"wsrep-sst-receive-address=127.0.0.1:{self.sst_port}\n"
            "wsrep-sst-method=rsync\n"
            "wsrep-slave-threads=2\n"
        )

    def recovered_position(self) -> str | None:
        """The last committed position of a crashed node (``mariadbd --wsrep-recover``), for IST."""
        before = self.log.read_text(errors="replace") if self.log.exists() else ""
        subprocess.run(
            [MARIADBD, f"--defaults-file={self.cnf}", "--wsrep-recover"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
            check=False,
        )
        after = self.log.read_text(errors="replace")[len(before) :]
        found = re.findall(r"WSREP: Recovered position: ([0-9a-f-]+:-?\d+)", after)
        return found[-1] if found and not found[-1].endswith(":-1") else None

    def start(self, *, bootstrap: bool = False, position: str | None = None) -> None:
        args = [MARIADBD, f"--defaults-file={self.cnf}"]
        if bootstrap:
            args.append("--wsrep-new-cluster")
        if position:
            args.append(f"--wsrep-start-position={position}")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def kill(self) -> None:
        """SIGKILL the node (a crash: no clean shutdown, no goodbye to the cluster)."""
        if self.proc is not None and self.proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def connect(self, timeout: float = 2.0):
        import pymysql

        return pymysql.connect(
            host="127.0.0.1", port=self.port, user="root", password="", connect_timeout=timeout, autocommit=True
        )

    def status(self, name: str) -> str | None:
        """A ``SHOW STATUS`` value, or None when the node does not answer."""
        try:
            conn = self.connect()
        except Exception:  # noqa: BLE001 - down or starting
            return None
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW STATUS LIKE %s", (name,))
                row = cur.fetchone()
                return None if row is None else str(row[1])
        except Exception:  # noqa: BLE001
            return None
        finally:
            conn.close()

    def synced(self, size: int) -> bool:
        return self.status("wsrep_cluster_size") == str(size) and self.status("wsrep_local_state_comment") == "Synced"

    def tail(self, lines: int = 30) -> str:
        if not self.log.exists():
            return "(no log)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


class GaleraCluster:
    def __init__(self, base: Path, size: int = 3) -> None:
        ports = free_ports(4 * size)
        self.base = base
        self.database = f"quark_{uuid.uuid4().hex[:8]}"
        self.nodes = [Node(i, base / f"node{i}", *ports[4 * i : 4 * i + 4]) for i in range(size)]
        self.cluster_address = "gcomm://" + ",".join(f"127.0.0.1:{n.gcomm_port}" for n in self.nodes)

    def url(self, first: int = 0) -> str:
        """A multi-host database URL that prefers node ``first``, then the others in ring order."""
        order = self.nodes[first:] + self.nodes[:first]
        hosts = ",".join(f"127.0.0.1:{n.port}" for n in order)
        return f"mysql+asyncmy://root@{hosts}/{self.database}?charset=utf8mb4"

    def wait(self, size: int, nodes: list[Node] | None = None, timeout: float = START_TIMEOUT) -> None:
        """Until every node of ``nodes`` (default: all) is synced in a cluster of ``size``."""
        nodes = nodes if nodes is not None else self.nodes
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for node in nodes:
                if not node.alive():
                    raise RuntimeError(f"node{node.index} exited:\n{node.tail()}")
            if all(node.synced(size) for node in nodes):
                return
            time.sleep(0.3)
        logs = "\n".join(f"--- node{n.index}\n{n.tail()}" for n in nodes)
        raise TimeoutError(f"the cluster did not reach size {size} in {timeout:.0f}s\n{logs}")

    def start(self) -> None:
        first = self.nodes[0]
        first.base.mkdir(parents=True)
        subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={first.datadir}",
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=60,
            check=True,
        )
        self.base.chmod(0o755)  # the SST's rsync daemon runs as nobody and must reach the joiners' datadirs
        for node in self.nodes:
            node.base.mkdir(parents=True, exist_ok=True)
            node.base.chmod(0o755)
            if node is not first:  # joiners receive their data by SST, written by that daemon
                node.datadir.mkdir()
                _give_to_rsync_daemon(node.datadir)
            node.write_cnf(self.cluster_address)
        first.start(bootstrap=True)
        self.wait(1, [first])
        for node in self.nodes[1:]:
            node.start()
        self.wait(len(self.nodes))
        conn = first.connect()
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {self.database}")
        conn.close()

    def restart(self, node: Node) -> None:
        """Start a killed node again from its data directory (IST when its position is recovered)."""
        node.restarted_at = node.log.stat().st_size if node.log.exists() else 0
        node.start(position=node.recovered_position())

    @staticmethod
    def transfer(node: Node) -> str:
        """How a restarted node caught up: "IST" (the missed write-sets), "SST" (a full copy) or "?"."""
        text = node.log.read_text(errors="replace")[node.restarted_at :]
        if "IST received" in text:
            return "IST"
        return "SST" if "SST completed" in text or "SST received" in text else "?"

    def count(self, node: Node, table: str) -> int:
        conn = node.connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SET SESSION wsrep_sync_wait = 1")  # see every write the cluster committed
                cur.execute(f"SELECT COUNT(*) FROM {self.database}.{table}")
                return int(cur.fetchone()[0])
        finally:
            conn.close()

    def stop(self) -> None:
        for node in self.nodes:
            node.kill()


def _give_to_rsync_daemon(path: Path) -> None:
    """rsync's daemon (the SST receiver) drops root for ``nobody``: let it write ``path``."""
    if os.geteuid() == 0:
        import pwd

        nobody = pwd.getpwnam("nobody")
        os.chown(path, nobody.pw_uid, nobody.pw_gid)


def available() -> str | None:
    """Why a Galera cluster cannot be started here, or None."""
    for path in (PROVIDER, MARIADBD, shutil.which("mariadb-install-db"), shutil.which("rsync")):
        if not path or not os.path.exists(path):
            return f"missing {path or 'mariadb-install-db/rsync'} (make test-deps)"
    return None


@contextmanager
def galera_cluster(size: int = 3) -> Iterator[GaleraCluster]:
    """A started cluster of ``size`` nodes; everything is killed and removed after, always."""
    reason = available()
    if reason:
        unavailable("Galera cluster", reason)
    base = Path(tempfile.mkdtemp(prefix="quark-galera-"))
    with started(GaleraCluster(base, size), base, "Galera cluster") as cluster:
        yield cluster
