"""The OVN driver's write rate: port creates through ``OvnDriver`` against a private
OVN (tests/ovn.py: NB, SB, northd), one at a time and 16 at once (a worker's batch).

    .venv/bin/python bench/ovn_driver.py [--sequential 200] [--concurrent 400] [--concurrency 16]

Prints ports/s and the p50/p99 of one create's call (network and subnet written first).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from quark.drivers.base import Change
from quark.drivers.ovn import OvnDriver
from tests.ovn import OvnCluster


def port(i: int, network_id: str, subnet_id: str) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "network_id": network_id,
        "mac_address": f"fa:16:3e:{i // 65536 % 256:02x}:{i // 256 % 256:02x}:{i % 256:02x}",
        "fixed_ips": [{"subnet_id": subnet_id, "ip_address": f"10.0.{i // 250 % 250}.{i % 250 + 2}"}],
        "security_groups": [],
    }


async def run(driver: OvnDriver, net: dict, sub: dict, count: int, concurrency: int, offset: int) -> str:
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        body = port(offset + i, net["id"], sub["id"])
        async with gate:
            start = time.perf_counter()
            await driver.call(Change("port", "create", body["id"], 1, body))
            latencies.append(time.perf_counter() - start)

    began = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    wall = time.perf_counter() - began
    latencies.sort()
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    return (
        f"concurrency {concurrency:2}: {count} port creates in {wall:.2f} s = {count / wall:.0f}/s; "
        f"p50 {p50 * 1000:.1f} ms  p99 {p99 * 1000:.1f} ms"
    )


async def main(args: argparse.Namespace) -> None:
    directory = Path(tempfile.mkdtemp(prefix="qovn-", dir="/tmp"))
    cluster = OvnCluster(directory).start()
    driver = OvnDriver("ovn", {"nb_connection": cluster.nb_url, "timeout": 60})
    try:
        net = {"id": str(uuid.uuid4()), "mtu": 1442}
        sub = {"id": str(uuid.uuid4()), "network_id": net["id"], "cidr": "10.0.0.0/16", "gateway_ip": "10.0.0.1",
               "enable_dhcp": True, "ip_version": 4}  # fmt: skip
        await driver.call(Change("network", "create", net["id"], 1, net))
        await driver.call(Change("subnet", "create", sub["id"], 1, sub))
        print(await run(driver, net, sub, args.sequential, 1, 0))
        print(await run(driver, net, sub, args.concurrent, args.concurrency, args.sequential))
    finally:
        await driver.close()
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequential", type=int, default=200)
    parser.add_argument("--concurrent", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    asyncio.run(main(parser.parse_args()))
