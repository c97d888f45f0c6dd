"""What Keystone authentication costs: port-create rate and Nova's GET sequence,
Keystone auth against noauth, in one run, on PostgreSQL.

Two `quark serve --workers 2` on two fresh PostgreSQL databases, started
together: one noauth, one with ``auth_strategy = "keystone"`` and the
``[keystone_authtoken]`` table of the Keystone kit (``../shared/peers/keystone``,
started by this script; tokens cached by keystonemiddleware in-process, per
worker, as the kit's table configures). Every request on the Keystone side
carries the kit's admin token (the noauth side: no header, i.e. admin), so
the two sides do the same work but for the token validation.

1. Port creates (bench/port_create.py's ``run``): single POSTs with
   ``--clients`` concurrent clients, the sides alternating ``--repeats`` times.
2. Nova's network-info refresh (bench/nova_info.py's data set and its 8-GET
   sequence, plus ``GET /v2.0/instances/D``), filled on both sides, then
   replayed interleaved (one refresh per side per round).

    .venv/bin/python bench/auth_overhead.py
    .venv/bin/python bench/auth_overhead.py --networks 200 --ports 2000 --rounds 100 --count 1000

The last lines are the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness
import nova_info
import port_create

from quark import keystone as ksa


def keystone_kit() -> Path:
    """../shared/peers/keystone beside the checkout (or a worktree's), or $QUARK_KEYSTONE_KIT."""
    if os.environ.get("QUARK_KEYSTONE_KIT"):
        return Path(os.environ["QUARK_KEYSTONE_KIT"])
    for parent in harness.ROOT.parents:
        if (parent / "shared" / "peers" / "keystone" / "start.sh").is_file():
            return parent / "shared" / "peers" / "keystone"
    raise SystemExit("no shared/peers/keystone/start.sh above the checkout")


def start_keystone() -> dict[str, str]:
    out = subprocess.run([str(keystone_kit() / "start.sh")], check=True, capture_output=True, text=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line and line[:1].isupper())


def keystone_config(kit: dict[str, str]) -> str:
    path = Path(tempfile.mkdtemp(prefix="quark-auth-bench-")) / "quark.toml"
    table = Path(kit["KEYSTONE_AUTHTOKEN_TOML"]).read_text()
    path.write_text(f'[quark]\nauth_strategy = "keystone"\n\n{table}')
    return str(path)


def port_rates(sides: dict[str, tuple[str, dict]], args) -> dict[str, list[dict]]:
    results: dict[str, list[dict]] = {label: [] for label in sides}
    for repeat in range(args.repeats):
        for label, (url, headers) in sides.items():
            result = asyncio.run(
                port_create.run(url, args.clients, args.count, 1, args.warmup, network_index=repeat, headers=headers)
            )
            print(port_create.report(f"{label} #{repeat + 1}", args.clients, 1, result), flush=True)
            results[label].append(result)
    return results


def nova_sides(sides: dict[str, tuple[str, dict]], args, stack: ExitStack) -> list[nova_info.Side]:
    out = []
    for label, (url, headers) in sides.items():
        client = stack.enter_context(httpx.Client(base_url=url, timeout=600, headers={**nova_info.HEADERS, **headers}))
        t0 = time.perf_counter()
        target = nova_info.populate(client, args.networks, args.ports, args.batch)
        print(f"{label}: filled {args.networks} networks / {args.ports} ports in {time.perf_counter() - t0:.1f} s")
        out.append(nova_info.Side(label, client, target, with_extension=True))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--count", type=int, default=3000, help="ports per port-create run")
    parser.add_argument("--repeats", type=int, default=2, help="port-create runs per side (alternating)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--networks", type=int, default=1000)
    parser.add_argument("--ports", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--nova-warmup", type=int, default=20)
    args = parser.parse_args()

    kit = start_keystone()
    token = ksa.from_cloud("admin", Path(kit["OS_CLIENT_CONFIG_FILE"])).token()
    print(harness.machine(), flush=True)
    with ExitStack() as stack:
        noauth_db = stack.enter_context(harness.fresh_database("postgresql"))
        keystone_db = stack.enter_context(harness.fresh_database("postgresql"))
        noauth_url = stack.enter_context(harness.running_server(noauth_db, args.workers))
        keystone_url = stack.enter_context(
            harness.running_server(keystone_db, args.workers, env={"QUARK_CONFIG": keystone_config(kit)})
        )
        assert httpx.get(keystone_url + "/v2.0/networks").status_code == 401, "the Keystone side is not authenticating"
        sides = {"noauth": (noauth_url, {}), "keystone": (keystone_url, {"X-Auth-Token": token})}
        load0 = os.getloadavg()[0]
        rates = port_rates(sides, args)
        nova = nova_sides(sides, args, stack)
        nova_info.replay(nova, args.rounds, args.nova_warmup)
        load1 = os.getloadavg()[0]
    print(f"\nload average {load0:.1f} -> {load1:.1f}")
    for label, runs in rates.items():
        figures = ", ".join(f"{r['rate']:.1f}" for r in runs)
        p99 = ", ".join(f"{harness.percentile(r['latencies'], 99):.1f}" for r in runs)
        errors = sum(len(r["errors"]) for r in runs)
        print(
            f"port create {label:<8}: {figures} ports/s ({args.clients} clients, single POSTs; p99 {p99} ms; {errors} errors)"
        )
    for side in nova:
        print(f"nova sequence {side.label:<8}: {harness.summary(side.totals)}; one request {harness.summary(side.one)}")


if __name__ == "__main__":
    main()
