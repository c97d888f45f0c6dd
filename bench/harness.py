"""Shared by the benchmarks: a fresh database, a real `quark serve`, timing maths.

Benchmarks measure a real server process (several workers) over HTTP or the
service layer against a real database; nothing here is mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson

from quark.services.common.quotas import RESOURCES

ROOT = Path(__file__).resolve().parent.parent
QUARK = str(Path(sys.executable).with_name("quark"))

# The benchmarks fill one project with thousands of ports and networks:
# their servers run with unlimited quotas unless a benchmark's ``env`` sets
# one (``QUARK_QUOTA_PORT=...``, bench/port_create.py --quota-port).
UNLIMITED_QUOTAS = {f"QUARK_QUOTA_{name.upper()}": "-1" for name in RESOURCES}


def neutron_peer_kit() -> Path:
    """The Neutron peer kit: $NEUTRON_PEER_KIT, or shared/peers/neutron beside
    the checkout (../shared from /work/main, ../../shared from a worktree /work/wt/NAME)."""
    if os.environ.get("NEUTRON_PEER_KIT"):
        return Path(os.environ["NEUTRON_PEER_KIT"])
    candidates = [parent / "shared" / "peers" / "neutron" for parent in (ROOT.parent, ROOT.parent.parent)]
    return next((c for c in candidates if (c / "start.sh").exists()), candidates[0])


SERVER_URLS = {
    "postgresql": "postgresql+asyncpg://postgres@127.0.0.1:5432/{db}",
    "mariadb": "mysql+asyncmy://root@127.0.0.1:3306/{db}?charset=utf8mb4",
}


def _cpu_times() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(fields), fields[3] + (fields[4] if len(fields) > 4 else 0)  # total, idle + iowait


_STARTED = _cpu_times() if Path("/proc/stat").exists() else (0, 0)


def machine() -> str:
    """The machine, and how busy it was since this script started (everything on
    it: the benchmark, its server and database, and anything else running)."""
    cpus = os.cpu_count()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**30
    busy = ""
    if _STARTED[0]:
        total, idle = _cpu_times()
        if total > _STARTED[0]:
            busy = f", CPU busy {100 * (1 - (idle - _STARTED[1]) / (total - _STARTED[0])):.0f}% during the run"
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    return (
        f"{platform.node()} {platform.machine()} {cpus} cores {mem} GiB, Python {platform.python_version()}"
        f"{busy}, load average {' '.join(load)}"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def fresh_database(backend: str) -> Iterator[str]:
    """A new empty database on the local server; dropped afterwards."""
    name = f"quark_bench_{uuid.uuid4().hex[:8]}"
    if backend == "sqlite":
        tmp = tempfile.mkdtemp(prefix="quark-bench-")
        try:
            yield f"sqlite+aiosqlite:///{tmp}/quark.db"
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    if backend == "postgresql":
        create = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"CREATE DATABASE {name}"]
        drop = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"]
    elif backend == "mariadb":
        create = ["mysql", "-h", "127.0.0.1", "-uroot", "-e", f"CREATE DATABASE {name}"]
        drop = ["mysql", "-h", "127.0.0.1", "-uroot", "-e", f"DROP DATABASE IF EXISTS {name}"]
    else:
        raise ValueError(f"unknown backend {backend}")
    subprocess.run(create, check=True)
    try:
        url = SERVER_URLS[backend].format(db=name)
        subprocess.run([QUARK, "db", "upgrade", "--database-url", url], check=True, capture_output=True)
        yield url
    finally:
        subprocess.run(drop, check=False, capture_output=True)


def analyze(database_url: str) -> None:
    """Refresh the planner statistics of a bench database after a bulk fill.

    A production PostgreSQL does this by itself (autovacuum, on by default,
    analyzes a table after ~10% of its rows changed); this machine's server
    runs with autovacuum off, so a freshly filled database would keep the
    statistics of an empty one and plans made for a few rows. MariaDB
    (InnoDB) recalculates its statistics itself; SQLite is left as it is.
    """
    if database_url.startswith("postgresql"):
        name = database_url.rsplit("/", 1)[1].split("?")[0]
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", "ANALYZE", name], check=True)


@contextlib.contextmanager
def running_server(
    database_url: str,
    workers: int = 2,
    env: dict | None = None,
    log_path: str | Path | None = None,
    info: dict | None = None,
) -> Iterator[str]:
    """``quark serve --workers N`` on a free port; yields its URL.

    The server logs at WARNING (transaction retries are logged there, one
    "transaction retry" line each: see ``retries_in``) to ``log_path`` or a
    temporary file. ``info``, when given, receives the server's ``pid`` and ``log``.
    """
    port = free_port()
    log = (
        open(log_path, "wb")
        if log_path
        else tempfile.NamedTemporaryFile(prefix="quark-bench-", suffix=".log", delete=False)
    )
    proc = subprocess.Popen(
        [
            QUARK,
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--database-url",
            database_url,
            "--log-level",
            "warning",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **UNLIMITED_QUOTAS, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    if info is not None:
        info.update(pid=proc.pid, log=log.name)
    try:
        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(url + "/", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"quark serve did not start:\n{Path(log.name).read_text()[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def retries_in(log_path: str | Path) -> int:
    """Transaction re-runs a server logged (quark.db.engine, one line each)."""
    return Path(log_path).read_text(errors="replace").count("transaction retry")


def server_errors_in(log_path: str | Path) -> int:
    """Tracebacks a server logged."""
    return Path(log_path).read_text(errors="replace").count("Traceback")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return ordered[index]


def summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} ms p99 {percentile(values, 99):.2f} ms"


class HttpConnection:
    """A minimal HTTP/1.1 keep-alive client connection for load generation.

    httpx costs ~2 ms of client CPU per request, which on a 2-core machine
    is CPU taken from the server under test; this costs a tenth of that. It
    speaks just what the benchmarks need: one request at a time per
    connection, JSON bodies, Content-Length responses.
    """

    def __init__(self, url: str, headers: dict | None = None) -> None:
        parts = httpx.URL(url)
        self.host, self.port = parts.host, parts.port or 80
        self.extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(
        self, method: str, path: str, body: object = None, headers: dict | None = None
    ) -> tuple[int, bytes]:
        payload = orjson.dumps(body) if body is not None else b""
        extra = self.extra + "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n{extra}\r\n"
        ).encode()
        for attempt in (1, 2):
            if self.writer is None:
                await self._connect()
            try:
                self.writer.write(head + payload)
                status_line = await self.reader.readline()
                if not status_line:
                    raise ConnectionResetError("connection closed")
                break
            except (ConnectionError, OSError):
                self.close()
                if attempt == 2:
                    raise
        status = int(status_line.split()[1])
        length = 0
        close = False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
            elif name == b"transfer-encoding":
                raise RuntimeError("chunked responses are not supported by this client")
        data = await self.reader.readexactly(length) if length else b""
        if close:
            self.close()
        return status, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def cpu_seconds(pids: list[int]) -> float:
    """User+system CPU seconds used so far by these processes (Linux /proc)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def children_of(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    return out
