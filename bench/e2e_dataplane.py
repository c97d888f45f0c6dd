"""The issue-5 dataplane scenario, timed: two host namespaces on a veth
underlay with a real `quark agent` each, `quark dhcp` on host A, a real
`quark serve` (fresh database; default PostgreSQL, 2 workers), a VXLAN
network with VMs that get their address by DHCP and ping each other, a flat
network, an agent restart on a wiped host, and a port delete. Needs root,
iproute2, dnsmasq, dhclient and ping (scripts/install-dataplane-deps.sh).

    sudo .venv/bin/python bench/e2e_dataplane.py
    sudo .venv/bin/python bench/e2e_dataplane.py --backend sqlite --workers 1 --ports 10

The last lines are the figures.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
import harness  # noqa: E402

from tests.dataplane.scenario import Dataplane, Timings, run_scenario  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="postgresql", choices=["sqlite", "postgresql", "mariadb"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--ports", type=int, default=6, help="extra ports bound alternately to both hosts")
    args = parser.parse_args()

    with harness.fresh_database(args.backend) as db_url:
        if args.backend == "sqlite":
            import subprocess

            subprocess.run([harness.QUARK, "db", "upgrade", "--database-url", db_url], check=True, capture_output=True)
        env = {"QUARK_AGENT_DOWN_TIME": "6", "QUARK_IPAM_REUSE_AFTER": "0"}
        with harness.running_server(db_url, workers=args.workers, env=env) as url:
            with tempfile.TemporaryDirectory(prefix="quark-e2e-") as tmp:
                dp = Dataplane(url, Path(tmp))
                try:
                    t = run_scenario(dp, extra_ports=args.ports)
                except BaseException:
                    print(dp.logs(), file=sys.stderr)
                    raise
                finally:
                    dp.close()
    print(f"machine: {harness.machine()}; {args.backend}, {args.workers} workers, {len(t.bind_to_active)} bound ports")
    print(f"bind (PUT binding:host_id) -> ACTIVE:        {Timings.summary(t.bind_to_active)}")
    print(f"port create -> DHCP entry in dnsmasq hosts:  {Timings.summary(t.create_to_dhcp_entry)}")
    print(f"agent restart on a wiped host -> ACTIVE:     {Timings.summary(t.restart_to_active)}")
    print(f"port DELETE request itself:                  {Timings.summary(t.delete_call)}")
    print(f"port delete -> device gone:                  {Timings.summary(t.delete_to_device_gone)}")
    print(f"port delete -> DHCP entry gone:              {Timings.summary(t.delete_to_entry_gone)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
