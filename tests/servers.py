"""A real `quark serve` process for tests: free port, readiness wait, log kept."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from quark.context import NOAUTH_PROJECT
from quark.services.common.quotas import RESOURCES

QUARK = str(Path(sys.executable).with_name("quark"))


@dataclass
class RunningServer:
    url: str
    log: Path
    database_url: str
    proc: subprocess.Popen | None = None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def quark_server(
    database_url: str,
    *,
    workers: int = 1,
    env: dict[str, str] | None = None,
    admin_quotas: bool = False,
    port: int | None = None,
) -> Iterator[RunningServer]:
    """Run `quark serve` until the block ends; fails with the log tail if it does not start.

    Under noauth, the admin's own project (``fake_project_id``), where every
    test's admin-made resources pile up over a session, is given unlimited
    quotas unless ``admin_quotas``; every other project has the server's defaults."""
    port = port or free_port()
    log = Path(tempfile.mkstemp(prefix="quark-test-", suffix=".log")[1])
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [QUARK, "serve", "--port", str(port), "--workers", str(workers), "--database-url", database_url],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    server = RunningServer(f"http://127.0.0.1:{port}", log, database_url, proc)
    try:
        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(server.url + "/", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"quark serve did not start:\n{server.log_text()[-4000:]}")
            time.sleep(0.2)
        if not admin_quotas:
            unlimited = {name: -1 for name in RESOURCES}
            response = httpx.put(f"{server.url}/v2.0/quotas/{NOAUTH_PROJECT}", json={"quota": unlimited}, timeout=30)
            if response.status_code != 401:  # 401: a Keystone server, no header admin to free
                response.raise_for_status()
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
