"""Idempotency-Key under load while things break: several clients create
ports with keys on a 2-worker server; mid-load a worker is killed (SIGKILL)
twice and the database connection is cut and restored. Every client retries
each failed or dropped request with the same key until it gets its 201. At
the end the ports in the database are exactly the ports the clients were
told about: none that no client heard of, none twice (PostgreSQL, MariaDB).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select

from quark.db import models
from quark.db.engine import Database
from tests.api.rowcounts import row_counts
from tests.dbs import migrated_database, selected_backends
from tests.servers import RunningServer, quark_server
from tests.tcpproxy import TcpProxy

SERVER_PORTS = {"postgresql": 5432, "mariadb": 3306}
CLIENTS = 8
LEASE = 2  # seconds a dead worker's claims hold their keys
DEADLINE = 240.0


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def worker_pids(server: RunningServer) -> list[int]:
    """The uvicorn worker processes of ``server`` (children of its `quark serve`)."""
    port = str(urlsplit(server.url).port)
    for entry in Path("/proc").iterdir():
        if (
            entry.name.isdigit()
            and " serve " in _cmdline(int(entry.name))
            and f"--port {port} " in _cmdline(int(entry.name))
        ):
            children = Path(f"/proc/{entry.name}/task/{entry.name}/children").read_text().split()
            return [int(c) for c in children if "spawn_main" in _cmdline(int(c))]
    raise AssertionError(f"no quark serve on port {port}")


def kill_a_worker(server: RunningServer) -> None:
    """SIGKILL one worker; back once uvicorn's replacement has started its application.
    (Not during the outage: a worker that cannot reach the database at start-up
    stops the whole uvicorn server, a limit of its supervisor, not of the keys.)"""
    started = server.log_text().count("Application startup complete.")
    os.kill(random.choice(worker_pids(server)), signal.SIGKILL)
    deadline = time.monotonic() + 60
    while server.log_text().count("Application startup complete.") <= started:
        assert time.monotonic() < deadline, server.log_text()[-3000:]
        time.sleep(0.1)


class Client(threading.Thread):
    """Creates ports, each with its own key, retrying each until its 201, until ``stop``."""

    def __init__(self, url: str, project: str, network_id: str, stop: threading.Event, deadline: float) -> None:
        super().__init__(daemon=True)
        self.url, self.network_id, self.stop, self.deadline = url, network_id, stop, deadline
        self.headers = {"X-Project-Id": project, "X-Roles": "member"}
        self.told: list[str] = []
        self.failures: Counter[str] = Counter()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with httpx.Client(base_url=self.url, headers=self.headers, timeout=15) as client:
                while not self.stop.is_set():
                    self.told.append(self._create(client, f'"{uuid.uuid4()}"', f"chaos-{len(self.told)}"))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def _create(self, client: httpx.Client, key: str, name: str) -> str:
        body = {"port": {"network_id": self.network_id, "name": name}}
        while time.monotonic() < self.deadline:
            try:
                response = client.post("/v2.0/ports", json=body, headers={"Idempotency-Key": key})
            except httpx.TransportError:  # the worker died under us, or the connection was reset
                self.failures["transport"] += 1
            else:
                if response.status_code == 201:
                    return response.json()["port"]["id"]
                if response.status_code not in (409, 500, 502, 503):
                    raise AssertionError(f"unexpected answer {response.status_code}: {response.text}")
                self.failures[str(response.status_code)] += 1
            time.sleep(random.uniform(0.05, 0.3))
        raise AssertionError("a port was never created")


@pytest.mark.parametrize("backend", [b for b in selected_backends() if b in SERVER_PORTS])
def test_ports_equal_the_answers_through_a_killed_worker_and_a_lost_database(backend, tmp_path_factory):
    with migrated_database(backend, tmp_path_factory) as url:
        port = SERVER_PORTS[backend]
        proxy = TcpProxy(("127.0.0.1", port))
        proxied = url.replace(f"127.0.0.1:{port}", f"127.0.0.1:{proxy.port}")
        env = {"QUARK_IDEMPOTENCY_LEASE": str(LEASE), "QUARK_IPAM_REUSE_AFTER": "0", "QUARK_QUOTA_PORT": "-1"}
        try:
            with quark_server(proxied, workers=2, env=env) as server:
                project = f"chaos-{uuid.uuid4().hex[:8]}"
                headers = {"X-Project-Id": project, "X-Roles": "member"}
                net = httpx.post(f"{server.url}/v2.0/networks", json={"network": {"name": "c"}}, headers=headers)
                network_id = net.json()["network"]["id"]
                subnet = {"subnet": {"network_id": network_id, "ip_version": 4, "cidr": "10.32.0.0/18"}}
                assert httpx.post(f"{server.url}/v2.0/subnets", json=subnet, headers=headers).status_code == 201

                stop, deadline = threading.Event(), time.monotonic() + DEADLINE
                clients = [Client(server.url, project, network_id, stop, deadline) for _ in range(CLIENTS)]
                for client in clients:
                    client.start()
                time.sleep(1)
                kill_a_worker(server)
                time.sleep(1)
                proxy.cut()
                time.sleep(2)
                proxy.restore()
                time.sleep(1)
                kill_a_worker(server)
                time.sleep(1)
                stop.set()
                for client in clients:
                    client.join(DEADLINE)
        finally:
            proxy.close()

        errors = [c.error for c in clients if c.error is not None]
        assert not errors, errors
        failures = sum((c.failures for c in clients), Counter())
        assert failures["503"] > 0, failures  # the cut reached requests in flight (and the kills, most runs)
        told = [port_id for c in clients for port_id in c.told]
        assert len(set(told)) == len(told)  # no two keys were told the same port
        assert row_counts(url, network_id)["ports"] == len(told)
        assert set(ports_in_database(url, network_id)) == set(told)


def ports_in_database(url: str, network_id: str) -> list[str]:
    async def read() -> list[str]:
        db = Database(url, pool_size=1, max_overflow=0)
        try:
            async with db.read() as conn:
                p = models.ports
                return list((await conn.execute(select(p.c.id).where(p.c.network_id == network_id))).scalars())
        finally:
            await db.dispose()

    return asyncio.run(read())
