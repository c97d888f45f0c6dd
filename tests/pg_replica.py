"""A PostgreSQL primary and its streaming replica on this machine, for the replica tests.

Debian's PostgreSQL binaries (``/usr/lib/postgresql/<version>/bin``), run as
the ``postgres`` user (initdb refuses root): a fresh primary in a temporary
directory on a free port with ``wal_level = replica``, then ``pg_basebackup -R``
of it into another directory, started as a hot standby on another free port.
``start`` returns once the standby streams, within a bounded time.

``pg_replica()`` always tears down: both servers are stopped (then killed if
they linger) and the directory removed, whatever happened. A machine without
the binaries, or where the pair does not start, is a skip, or a failure when
CI=true, as tests/galera.py treats its cluster.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from tests.galera import free_ports
from tests.scratch import started, unavailable

START_TIMEOUT = 60.0
USER = "postgres"
WHAT = "PostgreSQL replica"


def bin_dir() -> Path | None:
    """The newest installed PostgreSQL's binaries, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


@dataclass
class Server:
    name: str
    datadir: Path
    port: int

    def dsn(self, dbname: str = "postgres") -> dict:
        return {"host": "127.0.0.1", "port": self.port, "user": USER, "dbname": dbname, "connect_timeout": 5}

    def query(self, sql: str, dbname: str = "postgres", params: tuple = ()) -> list[tuple]:
        conn = psycopg2.connect(**self.dsn(dbname))
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()


class ReplicaPair:
    def __init__(self, base: Path, bindir: Path) -> None:
        self.base = base
        self.bindir = bindir
        primary_port, standby_port = free_ports(2)
        self.primary = Server("primary", base / "primary", primary_port)
        self.standby = Server("standby", base / "standby", standby_port)
        self.database = "quark"

    def url(self, server: Server) -> str:
        return f"postgresql+asyncpg://{USER}@127.0.0.1:{server.port}/{self.database}"

    def _run(self, *args: str, timeout: float = START_TIMEOUT) -> None:
        """A PostgreSQL program as the postgres user (initdb and the servers refuse root)."""
        command = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd="/")
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")

    def _pg_ctl(self, server: Server, action: str, timeout: float = START_TIMEOUT) -> None:
        log = self.base / f"{server.name}.log"
        options = f"-p {server.port} -k {self.base}"
        self._run("pg_ctl", "-D", str(server.datadir), "-l", str(log), "-o", options, "-w", "-t", "30", action)

    def start(self) -> None:
        self.base.chmod(0o755)
        if os.geteuid() == 0:
            shutil.chown(self.base, USER, USER)
        self._run("initdb", "-D", str(self.primary.datadir), "-A", "trust", "-U", USER, "--no-sync")
        with (self.primary.datadir / "postgresql.conf").open("a") as conf:
            conf.write(
                "listen_addresses = '127.0.0.1'\n"
                "wal_level = replica\nmax_wal_senders = 5\nhot_standby = on\n"
                "fsync = off\nsynchronous_commit = on\nfull_page_writes = on\n"
                "max_connections = 200\nshared_buffers = 32MB\n"
            )
        self._pg_ctl(self.primary, "start")
        self._run(
            "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.primary.port),
            "-U",
            USER,
            "-D",
            str(self.standby.datadir),
            "-R",
            "-X",
            "stream",
            "--no-sync",
        )
        self._pg_ctl(self.standby, "start")
        self.wait_streaming()

    def wait_streaming(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with suppress(psycopg2.Error):
                if self.primary.query("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")[0][0]:
                    return
            time.sleep(0.2)
        raise TimeoutError(f"the standby did not stream within {timeout:.0f}s:\n{self.log_tail(self.standby)}")

    def wait_replayed(self, timeout: float = 30.0) -> None:
        """Until the standby has replayed everything the primary has written now."""
        target = self.primary.query("SELECT pg_current_wal_insert_lsn()::text")[0][0]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.standby.query("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", params=(target,))[0][0]:
                return
            time.sleep(0.05)
        raise TimeoutError("the standby did not catch up")

    def pause_replay(self) -> None:
        self.standby.query("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        self.standby.query("SELECT pg_wal_replay_resume()")

    def stop_standby(self) -> None:
        self._pg_ctl(self.standby, "stop")

    def start_standby(self) -> None:
        self._pg_ctl(self.standby, "start")
        self.wait_streaming()

    def log_tail(self, server: Server) -> str:
        log = self.base / f"{server.name}.log"
        return log.read_text(errors="replace")[-3000:] if log.exists() else ""

    def stop(self) -> None:
        for server in (self.standby, self.primary):
            if not (server.datadir / "postmaster.pid").exists():
                continue
            try:
                self._run("pg_ctl", "-D", str(server.datadir), "-m", "immediate", "-w", "-t", "20", "stop", timeout=30)
            except (RuntimeError, subprocess.SubprocessError):
                _kill_postmaster(server.datadir)


def _kill_postmaster(datadir: Path) -> None:
    with suppress(OSError, ValueError, IndexError):
        pid = int((datadir / "postmaster.pid").read_text().splitlines()[0])
        os.kill(pid, 9)


@contextmanager
def pg_replica() -> Iterator[ReplicaPair]:
    """A started primary and streaming standby; both stopped and removed after, always."""
    bindir = bin_dir()
    if bindir is None or (os.geteuid() == 0 and shutil.which("runuser") is None):
        unavailable(WHAT, "no /usr/lib/postgresql/*/bin/initdb (or no runuser)")
    assert bindir is not None
    base = Path(tempfile.mkdtemp(prefix="quark-pgrepl-"))
    pair = ReplicaPair(base, bindir)
    with started(pair, base, WHAT, lambda: "\n" + pair.log_tail(pair.primary)) as running:
        yield running
