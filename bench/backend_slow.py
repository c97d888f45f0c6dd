"""Port creates through the API with a slow backend: in the request, or through the outbox.

One server (``uvicorn`` with --workers 2 serving Quark's app, the same for
every variant, started once), 16 clients of single POSTs, three variants in
one run, each on its own network (one IPv4 /16 and one IPv6 /64 subnet):

- ``none``: no backend (the network's driver is ``unmanaged``: no job);
- ``inline``: a driver that takes 200 ms per call, awaited *inside the
  request* before the answer goes out: what Quark does not do, built here in
  the bench only (an ASGI wrapper around Quark's app calls the ``statefile``
  driver with ``delay`` 0.2 on each created port of a request that carries
  ``X-Bench-Inline``);
- ``outbox``: the same 200 ms driver behind the outbox (network_plugin
  ``statefile``), run by one ``quark worker`` started with the variant;
  also the time from the last create's answer until the outbox drained
  (no job of the variant queued or running), and the worker's CPU per job;
- ``none2``: no backend again, last: how much the machine drifted meanwhile.

Target (issue 18): the outbox's p99 within 1.5x of no backend. The last
lines are the figures.

    .venv/bin/python bench/backend_slow.py                    # PostgreSQL
    .venv/bin/python bench/backend_slow.py --backend sqlite --count 600
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness
import port_create

DELAY = 0.2
INLINE_HEADER = "x-bench-inline"
OPTIONS_ENV = "QUARK_BACKEND_DRIVER_OPTIONS"


# --- the server side: Quark's app, and the bench-only in-request driver call -----------------


def app_factory() -> Any:
    """Quark's app (as ``quark serve``'s workers build it), wrapped: a request with
    ``X-Bench-Inline`` waits for the driver's create of each port it made."""
    from quark.api.app import app_factory as quark_app
    from quark.drivers import loading
    from quark.drivers.base import Change

    app = quark_app()
    options = json.loads(os.environ.get(OPTIONS_ENV, "{}")).get("statefile", {})
    driver = loading.load("statefile", options)

    async def wrapped(scope, receive, send):
        inline = scope["type"] == "http" and any(k == INLINE_HEADER.encode() for k, _ in scope.get("headers", ()))
        if not inline:
            return await app(scope, receive, send)
        held: list[dict] = []

        async def hold(message):
            held.append(message)

        await app(scope, receive, hold)
        start = next(m for m in held if m["type"] == "http.response.start")
        if start["status"] == 201:
            body = json.loads(b"".join(m.get("body", b"") for m in held if m["type"] == "http.response.body"))
            for port in body.get("ports") or [body["port"]]:
                await driver.call(Change("port", "create", port["id"], port["revision_number"], port))
        for message in held:
            await send(message)

    return wrapped


# --- the client side ------------------------------------------------------------------------


def start_server(database_url: str, options: dict, workers: int, log: Path) -> tuple[subprocess.Popen, str]:
    port = harness.free_port()
    env = {
        **os.environ,
        **harness.UNLIMITED_QUOTAS,
        "QUARK_DATABASE_URL": database_url,
        "QUARK_LOG_LEVEL": "warning",
        OPTIONS_ENV: json.dumps(options),
        "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="quark-metrics-"),
        "PYTHONPATH": str(Path(__file__).resolve().parent),
    }
    argv = [sys.executable, "-m", "uvicorn", "backend_slow:app_factory", "--factory", "--port", str(port)]
    argv += ["--workers", str(workers), "--no-access-log", "--log-level", "warning"]
    proc = subprocess.Popen(argv, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            if httpx.get(url + "/", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            raise RuntimeError(f"the server did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


def start_worker(database_url: str, options: dict, log: Path) -> subprocess.Popen:
    env = {**os.environ, OPTIONS_ENV: json.dumps(options), "QUARK_LOG_LEVEL": "warning"}
    argv = [harness.QUARK, "worker", "--database-url", database_url]
    return subprocess.Popen(argv, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)


async def network(client: httpx.AsyncClient, name: str, plugin: str, index: int) -> str:
    body = {"network": {"name": name, "network_plugin": plugin}}
    net = (await client.post("/v2.0/networks", json=body)).json()["network"]
    for subnet in (
        {"ip_version": 4, "cidr": f"10.{140 + index}.0.0/16"},
        {"ip_version": 6, "cidr": f"2001:db8:{0xC00 + index:x}::/64"},
    ):
        r = await client.post("/v2.0/subnets", json={"subnet": {"network_id": net["id"], **subnet}})
        r.raise_for_status()
    return net["id"]


async def unfinished(client: httpx.AsyncClient) -> int:
    total = 0
    for status in ("queued", "running"):
        params = {"status": status, "driver": "statefile", "resource_type": "port", "fields": "id"}
        total += len((await client.get("/v2.0/jobs", params=params)).json()["jobs"])
    return total


async def variant(url: str, name: str, plugin: str, index: int, args, headers: dict | None = None) -> dict:
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        net = await network(client, f"slow-{name}", plugin, index)
    result = await port_create.run(url, args.clients, args.count, 1, args.warmup, headers=headers, network_id=net)
    return result


async def outbox_variant(url: str, database_url: str, options: dict, args, logs: Path) -> dict:
    worker = start_worker(database_url, options, logs / "worker.log")
    try:
        result = await variant(url, "outbox", "statefile", 2, args)
        answered = time.perf_counter()
        async with httpx.AsyncClient(base_url=url, timeout=300) as client:
            while await unfinished(client):
                await asyncio.sleep(0.2)
        result["drain"] = time.perf_counter() - answered
        result["worker_cpu"] = harness.cpu_seconds([worker.pid])
    finally:
        worker.terminate()
        worker.wait(30)
    return result


def line(name: str, result: dict) -> str:
    lat = result["latencies"]
    text = (
        f"{name:7s} ports={result['ports']} ports/s={result['rate']:.1f} "
        f"median={harness.percentile(lat, 50):.1f}ms p99={harness.percentile(lat, 99):.1f}ms "
        f"errors={len(result['errors'])}"
    )
    if "drain" in result:
        text += f" outbox drained {result['drain']:.1f}s after the last answer"
        text += f", worker CPU {1000 * result['worker_cpu'] / max(1, result['ports']):.1f}ms per job"
    return text


async def main_async(args) -> None:
    logs = Path(tempfile.mkdtemp(prefix="quark-backend-slow-"))
    options = {"statefile": {"path": str(logs / "backend.db"), "delay": DELAY}}
    with harness.fresh_database(args.backend) as database_url:
        if database_url.startswith("sqlite"):
            subprocess.run([harness.QUARK, "db", "upgrade", "--database-url", database_url], check=True)
        server, url = start_server(database_url, options, args.workers, logs / "server.log")
        try:
            results = {
                "none": await variant(url, "none", "unmanaged", 0, args),
                "inline": await variant(url, "inline", "unmanaged", 1, args, headers={INLINE_HEADER: "1"}),
                "outbox": await outbox_variant(url, database_url, options, args, logs),
                # the machine's drift over the run (shared machines): no backend again, last
                "none2": await variant(url, "none2", "unmanaged", 3, args),
            }
        finally:
            server.terminate()
            server.wait(30)
    print(f"# {harness.machine()}")
    print(f"# backend={args.backend} server workers={args.workers} clients={args.clients} driver delay={DELAY}s")
    for name, result in results.items():
        print(line(name, result))
    none = harness.percentile(results["none"]["latencies"], 99)
    outbox = harness.percentile(results["outbox"]["latencies"], 99)
    again = harness.percentile(results["none2"]["latencies"], 99)
    print(f"outbox p99 / no-backend p99 = {outbox / none:.2f} (first) {outbox / again:.2f} (again) (target <= 1.5)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="postgresql", choices=["postgresql", "mariadb", "sqlite"])
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--count", type=int, default=800, help="ports per variant")
    parser.add_argument("--warmup", type=int, default=10)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
