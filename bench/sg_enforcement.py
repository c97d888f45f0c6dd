"""Security groups enforced on a host, timed: two VMs on one bridge of one host
namespace with a real `quark agent`, a real `quark serve` (fresh database;
default PostgreSQL, 2 workers); an ICMP rule added and deleted through the API
``--rounds`` times, each time measuring from the API's answer until ICMP passes
(added) or is dropped (deleted), probing with one ping every ~20 ms (0.1 s
timeout). Needs root, iproute2, ping and nft (scripts/install-dataplane-deps.sh).

    sudo .venv/bin/python bench/sg_enforcement.py
    sudo .venv/bin/python bench/sg_enforcement.py --backend sqlite --workers 1 --rounds 5

The last lines are the figures.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
import harness  # noqa: E402

from tests.dataplane.scenario import Dataplane, Timings  # noqa: E402
from tests.dataplane.sg_scenario import build, icmp_rule_change  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="postgresql", choices=["sqlite", "postgresql", "mariadb"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()

    added: list[float] = []
    removed: list[float] = []
    with harness.fresh_database(args.backend) as db_url:
        if args.backend == "sqlite":
            subprocess.run([harness.QUARK, "db", "upgrade", "--database-url", db_url], check=True, capture_output=True)
        env = {"QUARK_AGENT_DOWN_TIME": "6", "QUARK_IPAM_REUSE_AFTER": "0"}
        with harness.running_server(db_url, workers=args.workers, env=env) as url:
            with tempfile.TemporaryDirectory(prefix="quark-sg-") as tmp:
                dp = Dataplane(url, Path(tmp))
                try:
                    lab = build(dp)
                    for _ in range(args.rounds):
                        add, remove = icmp_rule_change(lab, timeout=10)
                        added.append(add)
                        removed.append(remove)
                except BaseException:
                    print(dp.logs(), file=sys.stderr)
                    raise
                finally:
                    dp.close()
    print(f"machine: {harness.machine()}; {args.backend}, {args.workers} workers, {args.rounds} rounds")
    print(f"rule create -> traffic allowed:  {Timings.summary(added)}")
    print(f"rule delete -> traffic dropped:  {Timings.summary(removed)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
