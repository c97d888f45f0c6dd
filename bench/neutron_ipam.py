"""Per-allocation overhead of Quark as Neutron's IPAM, against Neutron's internal IPAM, in one run.

The stock Neutron of ``../shared/peers/neutron`` (its venv built by the kit's
install.sh on first use, Quark's package installed into it; see
tests/neutron_peer.py) is measured twice with the kit's ``bench_ports.py``
(sequential port creates and deletes, one IPv4 address each): once with
``ipam_driver = internal``, once with ``ipam_driver = quark`` against a real
Quark on MariaDB (one worker). Each pass restarts Neutron on a fresh database.
Printed: latency per create/delete, Neutron's server CPU per op (its uWSGI
workers and MariaDB, which both passes share) and, for the Quark pass,
Quark's own CPU per op.

    .venv/bin/python bench/neutron_ipam.py [--count 150] [--order quark,internal]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import neutron_peer
from tests.dbs import migrated_database
from tests.servers import free_port, quark_server


def _cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def _neutron_pids() -> list[int]:
    master = int((neutron_peer.HOME / "neutron.pid").read_text().strip())
    children = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()
    mysqld = Path("/run/mysqld/mysqld.pid")
    extra = [int(mysqld.read_text().strip())] if mysqld.exists() else []
    return [int(c) for c in children] + extra


def _bench(url: str, count: int, quark_pid: int | None) -> dict:
    pids = ",".join(str(p) for p in _neutron_pids())
    before = _cpu_seconds([quark_pid]) if quark_pid else 0.0
    proc = subprocess.run(
        [
            sys.executable,
            str(neutron_peer.KIT / "bench_ports.py"),
            "--url",
            url,
            "--count",
            str(count),
            "--cidr",
            "10.90.0.0/16",
            "--list-repeats",
            "0",
            "--cpu-pids",
            pids,
        ],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("JSON ")), None)
    if line is None:
        raise RuntimeError(f"bench_ports.py failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    result = json.loads(line[5:])
    ops = {s["op"]: s for s in result["stats"]}
    quark_cpu = _cpu_seconds([quark_pid]) - before if quark_pid else None
    return {"ops": ops, "quark_cpu_s": quark_cpu, "errors": result["summary"]["errors"]}


def _row(name: str, stats: dict, quark_cpu_s: float | None, total_ops: int) -> str:
    parts = []
    for op in ("create", "delete"):
        s = next((v for k, v in stats.items() if k.startswith(op)), None)
        if s:
            parts.append(
                f"{op}: median {s['median_ms']:.1f} ms, mean {s['mean_ms']:.1f} ms, p95 {s['p95_ms']:.1f} ms, "
                f"Neutron+MariaDB CPU {s.get('server_cpu_ms_per_op', float('nan')):.1f} ms/op"
            )
    quark = "" if quark_cpu_s is None else f"; Quark CPU {quark_cpu_s * 1000 / total_ops:.1f} ms/op (create+delete)"
    return f"{name:9s} " + " | ".join(parts) + quark


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=150, help="ports created (and deleted) per pass")
    ap.add_argument("--order", default="internal,quark", help="the passes, in order (alternate to see drift)")
    args = ap.parse_args()
    missing = neutron_peer.kit_missing()
    if missing:
        sys.exit(f"cannot run: {missing}")
    neutron_peer.install()
    with migrated_database("mariadb", None) as db_url:
        quark_port = free_port()
        with quark_server(db_url, port=quark_port, workers=1, env={"QUARK_IPAM_REUSE_AFTER": "3600"}) as quark:
            results = {}
            for driver in args.order.split(","):
                neutron_peer.configure(quark.url, driver=driver)
                with neutron_peer.neutron(free_port()) as running:
                    pid = quark.proc.pid if driver == "quark" and quark.proc else None
                    results[driver] = _bench(running.url, args.count, pid)
    print(f"ports per pass: {args.count} (sequential create, then delete), + 5 warm-up")
    for driver, res in results.items():
        print(_row(driver, res["ops"], res["quark_cpu_s"], 2 * args.count + 5))
    internal, quark = results["internal"]["ops"], results["quark"]["ops"]
    for op in ("create", "delete"):
        a = next(v for k, v in internal.items() if k.startswith(op))
        b = next(v for k, v in quark.items() if k.startswith(op))
        print(
            f"overhead of quark on {op}: median {b['median_ms'] - a['median_ms']:+.1f} ms, mean {b['mean_ms'] - a['mean_ms']:+.1f} ms"
        )
    print("JSON " + json.dumps(results))


if __name__ == "__main__":
    main()
