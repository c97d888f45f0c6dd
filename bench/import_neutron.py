"""Import rate of ``quark import neutron --database-url``: resources per second.

The stock Neutron of ``../shared/peers/neutron`` (tests/neutron_peer.py:
its venv built once, Neutron's own IPAM) makes the skeleton through its API
(a network, an IPv4 /14 subnet, a security group with a rule); then
``--ports`` ports are written straight into Neutron's database with SQL, as
Neutron's own rows would be (standard attributes, ports, IP allocations,
ML2 bindings, security-group and port-security bindings), for speed. Neutron
is stopped, and ``quark import neutron`` (the CLI, a fresh Quark database on
MariaDB or PostgreSQL) reads it all and writes it through Quark's services.
A second run over the same databases measures the rerun (all skipped).
Figures are printed last.

    .venv/bin/python bench/import_neutron.py [--ports 100000] [--quark-db mariadb]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import neutron_peer
from tests.dbs import migrated_database
from tests.servers import QUARK, free_port

ADMIN = {"X-User-Id": "bench", "X-Project-Id": "bench", "X-Roles": "admin,member,reader,service"}
PROJECT = "b3c4d5e6f708192a3b4c5d6e7f809102"
CIDR = "10.64.0.0/14"  # 262,142 addresses: room for any --ports up to 250,000
BATCH = 5000


def _skeleton(url: str) -> dict:
    with httpx.Client(base_url=url + "/v2.0", headers=ADMIN, timeout=60) as n:

        def post(path: str, key: str, body: dict) -> dict:
            resp = n.post(path, json={key: {"project_id": PROJECT, **body}})
            resp.raise_for_status()
            return resp.json()[key]

        net = post("/networks", "network", {"name": "bench"})
        subnet = post("/subnets", "subnet", {"network_id": net["id"], "ip_version": 4, "cidr": CIDR})
        group = post("/security-groups", "security_group", {"name": "bench"})
        post(
            "/security-group-rules",
            "security_group_rule",
            {"security_group_id": group["id"], "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp"},
        )
        return {"network": net["id"], "subnet": subnet["id"], "group": group["id"]}


def _fill(database_url: str, ids: dict, count: int) -> float:
    """``count`` ports in Neutron's tables, by SQL; seconds taken."""
    import pymysql
    from sqlalchemy.engine import make_url

    u = make_url(database_url)
    conn = pymysql.connect(host=u.host, port=u.port or 3306, user=u.username, password=u.password, database=u.database)
    hosts = ipaddress.ip_network(CIDR).hosts()
    next(hosts)  # the gateway
    started = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute("SELECT COALESCE(MAX(id), 0) FROM standardattributes")
        (attr_id,) = cur.fetchone()
        for start in range(0, count, BATCH):
            n = min(BATCH, count - start)
            ports, attrs, ips, bindings, groups, secured = [], [], [], [], [], []
            for i in range(start, start + n):
                attr_id += 1
                port_id = str(uuid.uuid4())
                mac = f"fa:16:3e:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}"
                attrs.append((attr_id, "ports", "", 0))
                ports.append(
                    (PROJECT, port_id, f"p{i}", ids["network"], mac, 1, "DOWN", f"vm-{i}", "compute:nova", attr_id)
                )
                ips.append((port_id, str(next(hosts)), ids["subnet"], ids["network"]))
                bindings.append((port_id, f"compute-{i % 64}", "unbound", "normal", "", "", "ACTIVE"))
                groups.append((port_id, ids["group"]))
                secured.append((port_id, 1))
            cur.executemany(
                "INSERT INTO standardattributes (id, resource_type, description, revision_number, created_at)"
                " VALUES (%s, %s, %s, %s, NOW())",
                attrs,
            )
            cur.executemany(
                "INSERT INTO ports (project_id, id, name, network_id, mac_address, admin_state_up, status,"
                " device_id, device_owner, standard_attr_id) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                ports,
            )
            cur.executemany(
                "INSERT INTO ipallocations (port_id, ip_address, subnet_id, network_id) VALUES (%s,%s,%s,%s)", ips
            )
            cur.executemany(
                "INSERT INTO ml2_port_bindings (port_id, host, vif_type, vnic_type, profile, vif_details, status)"
                " VALUES (%s,%s,%s,%s,%s,%s,%s)",
                bindings,
            )
            cur.executemany("INSERT INTO securitygroupportbindings (port_id, security_group_id) VALUES (%s,%s)", groups)
            cur.executemany("INSERT INTO portsecuritybindings (port_id, port_security_enabled) VALUES (%s,%s)", secured)
            conn.commit()
    conn.close()
    return time.perf_counter() - started


def _import(neutron_db: str, quark_db: str) -> tuple[float, dict]:
    started = time.perf_counter()
    proc = subprocess.run(
        [QUARK, "import", "neutron", "--database-url", neutron_db, "--quark-database-url", quark_db, "--json"],
        capture_output=True,
        text=True,
    )
    took = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"import failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return took, json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ports", type=int, default=100_000)
    parser.add_argument("--quark-db", choices=("mariadb", "postgresql"), default="mariadb")
    args = parser.parse_args()

    neutron_peer.install_stock()
    tmp = Path(f"/tmp/quark-bench-import-{uuid.uuid4().hex[:6]}")
    tmp.mkdir()

    class Factory:  # what tests.dbs wants of pytest's tmp_path_factory
        @staticmethod
        def mktemp(name: str) -> Path:
            path = tmp / name
            path.mkdir(exist_ok=True)
            return path

    with neutron_peer.neutron(free_port(), stock=True, auth_mode="headers", database="neutron_quark_bench") as running:
        ids = _skeleton(running.url)
        neutron_db = running.database_url
    fill_s = _fill(neutron_db, ids, args.ports)  # Neutron stopped: its database only
    with migrated_database(args.quark_db, Factory) as quark_db:
        took, report = _import(neutron_db, quark_db)
        again, rerun = _import(neutron_db, quark_db)
    created = sum(c.get("created", 0) for c in report["counts"].values())
    skipped = sum(c.get("skipped", 0) for c in rerun["counts"].values())
    print(f"Neutron database filled with {args.ports} ports by SQL in {fill_s:.1f} s")
    print(f"import counts: {json.dumps({k: v for k, v in report['counts'].items() if v})}")
    print(
        f"import: {created} resources created in {took:.1f} s = {created / took:.0f} resources/s "
        f"(ports {report['counts']['ports'].get('created', 0)}, Quark on {args.quark_db}, CLI wall time)"
    )
    print(f"rerun: {skipped} resources skipped, 0 created, in {again:.1f} s = {skipped / again:.0f} resources/s")


if __name__ == "__main__":
    main()
