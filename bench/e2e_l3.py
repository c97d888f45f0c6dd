"""The issue-17 L3 scenario, timed (tests/dataplane/l3_scenario.py): two
host namespaces with a real `quark agent` each (host A with `--l3`), `quark
dhcp` on host A, a real `quark serve` (fresh database; default PostgreSQL,
2 workers); a router between two private VXLAN networks and an external flat
network with an "internet" namespace; SNAT, a floating IP associated and
moved, an agent restart on a wiped host, the router deleted. Needs root,
iproute2, nftables, dnsmasq, dhclient and ping (scripts/install-dataplane-deps.sh).

    sudo .venv/bin/python bench/e2e_l3.py
    sudo .venv/bin/python bench/e2e_l3.py --backend sqlite --workers 1 --runs 3

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

from tests.dataplane.l3_scenario import L3Timings, run_l3_scenario  # noqa: E402
from tests.dataplane.scenario import Dataplane  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="postgresql", choices=["sqlite", "postgresql", "mariadb"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=1, help="how many times the scenario runs")
    args = parser.parse_args()

    total = L3Timings()
    for _ in range(args.runs):
        with harness.fresh_database(args.backend) as db_url:
            if args.backend == "sqlite":
                subprocess.run(
                    [harness.QUARK, "db", "upgrade", "--database-url", db_url], check=True, capture_output=True
                )
            env = {"QUARK_AGENT_DOWN_TIME": "6", "QUARK_IPAM_REUSE_AFTER": "0"}
            with harness.running_server(db_url, workers=args.workers, env=env) as url:
                with tempfile.TemporaryDirectory(prefix="quark-e2e-l3-") as tmp:
                    dp = Dataplane(url, Path(tmp))
                    try:
                        t = run_l3_scenario(dp)
                    except BaseException:
                        print(dp.logs(), file=sys.stderr)
                        raise
                    finally:
                        dp.close()
        for name in vars(total):
            getattr(total, name).extend(getattr(t, name))
    print(f"machine: {harness.machine()}; {args.backend}, {args.workers} workers, {args.runs} runs")
    print(f"router create -> VM reaches the internet (SNAT): {L3Timings.summary(total.router_to_reachable)}")
    print(f"floating IP associate -> reachable (DNAT):       {L3Timings.summary(total.associate_to_reachable)}")
    print(f"floating IP moved -> traffic follows:            {L3Timings.summary(total.move_to_reachable)}")
    print(f"port forwarding create -> reachable (DNAT):     {L3Timings.summary(total.forwarding_to_reachable)}")
    print(f"agent restart on a wiped host -> reachable:      {L3Timings.summary(total.restart_to_reachable)}")
    print(f"router delete -> namespace gone:                 {L3Timings.summary(total.delete_to_gone)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
