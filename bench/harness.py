"""Shared by the benchmarks: a fresh database, a real `quark serve`, timing maths.

Benchmarks measure a real server process (several workers) over HTTP or the
service layer against a real database; nothing here is mocked.
"""

from __future__ import annotations

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

ROOT = Path(__file__).resolve().parent.parent
QUARK = str(Path(sys.executable).with_name("quark"))

SERVER_URLS = {
    "postgresql": "postgresql+asyncpg://postgres@127.0.0.1:5432/{db}",
    "mariadb": "mysql+asyncmy://root@127.0.0.1:3306/{db}?charset=utf8mb4",
}


def machine() -> str:
    cpus = os.cpu_count()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**30
    return f"{platform.node()} {platform.machine()} {cpus} cores {mem} GiB, Python {platform.python_version()}"


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


@contextlib.contextmanager
def running_server(database_url: str, workers: int = 2, env: dict | None = None,
                   log_path: str | Path | None = None) -> Iterator[str]:
    """``quark serve --workers N`` on a free port; yields its URL.

    The server logs at WARNING (transaction retries are logged there, one
    "transaction retry" line each: see ``retries_in``) to ``log_path`` or a
    temporary file.
    """
    port = free_port()
    log = open(log_path, "wb") if log_path else tempfile.NamedTemporaryFile(
        prefix="quark-bench-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        [QUARK, "serve", "--port", str(port), "--workers", str(workers), "--database-url", database_url,
         "--log-level", "warning"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
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
