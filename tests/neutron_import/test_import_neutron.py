"""``quark import neutron`` against the stock Neutron of the peer kit
(``../shared/peers/neutron``, its own IPAM, on MariaDB): resources made
through Neutron's API are imported from Neutron's database and from its API,
then both APIs are compared resource by resource (docs/import_neutron.md).

Skipped when the kit is absent (or ``QUARK_SKIP_NEUTRON_PEER=1``); the first
run builds Neutron's venv (~4 minutes), shared with tests/neutron_ipam.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from quark.services.imports.records import SPECS
from tests import neutron_peer
from tests.dbs import migrated_database, row_counts
from tests.servers import QUARK, free_port, quark_server

pytestmark = [
    pytest.mark.neutron_peer,
    pytest.mark.skipif(neutron_peer.kit_missing() is not None, reason=str(neutron_peer.kit_missing())),
]

PROJECT = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
OTHER = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
# A MAC outside Quark's default range (fa:16:3e:00:00:00/24): Quark must take it as an explicit MAC.
FOREIGN_MAC = "02:42:ac:11:00:07"
BULK_PORTS = 16
# Neutron behind Keystone sees these: binding:profile is the service role's (Nova's) to set.
ADMIN = {"X-User-Id": "importer", "X-Project-Id": PROJECT, "X-Roles": "admin,member,reader,service"}
API_ARGS = [f"--header={k}: {v}" for k, v in ADMIN.items()]


def _post(client: httpx.Client, key: str, body: dict) -> dict:
    resp = client.post("/" + key.replace("_", "-") + "s", json={key: body})
    assert resp.status_code == 201, resp.text
    return resp.json()[key]


def _populate(neutron: httpx.Client) -> dict:
    """A small deployment: two projects, an external network with a router
    gateway and a floating IP, VLAN networks with v4 and v6 subnets, groups
    with rules naming each other, bound ports with foreign MACs."""
    made: dict = {}
    ext = _post(
        neutron,
        "network",
        {
            "name": "public",
            "project_id": PROJECT,
            "router:external": True,
            "provider:network_type": "flat",
            "provider:physical_network": "physnet1",
        },
    )
    ext_subnet = _post(
        neutron,
        "subnet",
        {
            "network_id": ext["id"],
            "project_id": PROJECT,
            "ip_version": 4,
            "cidr": "198.51.100.0/24",
            "allocation_pools": [{"start": "198.51.100.10", "end": "198.51.100.200"}],
            "enable_dhcp": False,
        },
    )
    net = _post(
        neutron,
        "network",
        {"name": "private", "project_id": PROJECT, "description": "the app tier", "mtu": 1400},
    )
    v4 = _post(
        neutron,
        "subnet",
        {
            "network_id": net["id"],
            "project_id": PROJECT,
            "name": "v4",
            "ip_version": 4,
            "cidr": "10.77.0.0/24",
            "gateway_ip": "10.77.0.1",
            "allocation_pools": [
                {"start": "10.77.0.20", "end": "10.77.0.99"},
                {"start": "10.77.0.150", "end": "10.77.0.160"},
            ],
            "host_routes": [{"destination": "172.16.0.0/16", "nexthop": "10.77.0.5"}],
            "dns_nameservers": ["10.77.0.53", "192.0.2.53"],
        },
    )
    v6 = _post(
        neutron,
        "subnet",
        {
            "network_id": net["id"],
            "project_id": PROJECT,
            "ip_version": 6,
            "cidr": "fd77::/64",
            "ipv6_ra_mode": "dhcpv6-stateful",
            "ipv6_address_mode": "dhcpv6-stateful",
        },
    )
    other_net = _post(
        neutron,
        "network",
        {
            "name": "theirs",
            "project_id": OTHER,
            "provider:network_type": "vlan",
            "provider:physical_network": "physnet1",
            "provider:segmentation_id": 377,
        },
    )
    other_v4 = _post(
        neutron,
        "subnet",
        {"network_id": other_net["id"], "project_id": OTHER, "ip_version": 4, "cidr": "10.78.0.0/24"},
    )
    web = _post(neutron, "security_group", {"name": "web", "project_id": PROJECT})
    db_group = _post(neutron, "security_group", {"name": "db", "project_id": PROJECT})
    for rule in (
        {
            "security_group_id": web["id"],
            "direction": "ingress",
            "ethertype": "IPv4",
            "protocol": "tcp",
            "port_range_min": 443,
            "port_range_max": 443,
            "remote_ip_prefix": "0.0.0.0/0",
            "description": "https",
        },
        {
            "security_group_id": db_group["id"],
            "direction": "ingress",
            "ethertype": "IPv4",
            "protocol": "tcp",
            "port_range_min": 5432,
            "port_range_max": 5432,
            "remote_group_id": web["id"],
        },
        {"security_group_id": web["id"], "direction": "ingress", "ethertype": "IPv6", "protocol": "icmp"},
    ):
        _post(neutron, "security_group_rule", {**rule, "project_id": PROJECT})
    router = _post(
        neutron,
        "router",
        {
            "name": "edge",
            "project_id": PROJECT,
            "external_gateway_info": {
                "network_id": ext["id"],
                "external_fixed_ips": [{"subnet_id": ext_subnet["id"], "ip_address": "198.51.100.11"}],
            },
        },
    )
    resp = neutron.put(f"/routers/{router['id']}/add_router_interface", json={"subnet_id": v4["id"]})
    assert resp.status_code == 200, resp.text
    app = _post(
        neutron,
        "port",
        {
            "network_id": net["id"],
            "project_id": PROJECT,
            "name": "app-1",
            "mac_address": FOREIGN_MAC,
            "fixed_ips": [{"subnet_id": v4["id"], "ip_address": "10.77.0.42"}, {"subnet_id": v6["id"]}],
            "device_id": "6d1f0a52-2f6c-4c53-9a43-5e3c9c1d2a11",
            "device_owner": "compute:nova",
            "binding:host_id": "compute-7",
            "binding:vnic_type": "direct",
            "binding:profile": {"pci_slot": "0000:3b:00.2", "physical_network": "physnet1"},
            "security_groups": [web["id"], db_group["id"]],
            "allowed_address_pairs": [{"ip_address": "10.77.0.250"}],
        },
    )
    _post(
        neutron,
        "port",
        {"network_id": net["id"], "project_id": PROJECT, "name": "bare", "port_security_enabled": False},
    )
    bulk = [{"network_id": other_net["id"], "project_id": OTHER, "name": f"bulk-{i}"} for i in range(BULK_PORTS)]
    resp = neutron.post("/ports", json={"ports": bulk})  # one request: Neutron's creates are slow
    assert resp.status_code == 201, resp.text
    fip = _post(
        neutron,
        "floatingip",
        {
            "floating_network_id": ext["id"],
            "project_id": PROJECT,
            "port_id": app["id"],
            "floating_ip_address": "198.51.100.77",
        },
    )
    made.update(network=net, v4=v4, v6=v6, other_v4=other_v4, router=router, app=app, fip=fip, web=web)
    return made


@pytest.fixture(scope="module")
def neutron():
    neutron_peer.install_stock()
    with neutron_peer.neutron(free_port(), stock=True, auth_mode="headers") as running:
        with httpx.Client(base_url=running.url + "/v2.0", headers=ADMIN, timeout=60) as client:
            made = _populate(client)
        yield running, made


def _import(quark_db: str, *args: str) -> tuple[int, dict]:
    proc = subprocess.run(
        [QUARK, "import", "neutron", *args, "--quark-database-url", quark_db, "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.stdout, proc.stderr[-3000:]
    return proc.returncode, json.loads(proc.stdout)


def _db_args(running) -> list[str]:
    return ["--database-url", running.database_url]


@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory) -> Path:
    """A Quark SQLite database at head, migrated once and copied by each test."""
    path = tmp_path_factory.mktemp("quark-template") / "quark.db"
    url = f"sqlite+aiosqlite:///{path}"
    subprocess.run([QUARK, "db", "upgrade", "--database-url", url], check=True, capture_output=True, timeout=120)
    return path


@pytest.fixture
def sqlite_url(migrated_sqlite, tmp_path) -> str:
    shutil.copy(migrated_sqlite, tmp_path / "quark.db")
    return f"sqlite+aiosqlite:///{tmp_path / 'quark.db'}"


# --- what both APIs answer -----------------------------------------------------------------

# The attributes the import keeps (records.SPECS), read from both APIs; the lists'
# own normal forms are this module's (_normal, _port), the gateways' and floating IPs' routers extra.
COLLECTIONS = {
    "networks": "networks",
    "subnets": "subnets",
    "security-groups": "security_groups",
    "security-group-rules": "security_group_rules",
    "routers": "routers",
    "floatingips": "floatingips",
}
COMPARED = {
    collection: ("id", *(f for f in SPECS[kind].compared if f != "external_gateway_info"))
    + (("router_id",) if kind == "floatingips" else ())
    for collection, kind in COLLECTIONS.items()
}
PORT_FIELDS = (
    "id",
    *(f for f in SPECS["ports"].compared if f not in ("fixed_ips", "security_groups", "allowed_address_pairs")),
)
SKIPPED_OWNERS = ("network:router_gateway", "network:floatingip")


def _listing(client: httpx.Client, collection: str) -> dict[str, dict]:
    key = collection.replace("-", "_")
    resp = client.get(f"/{collection}")
    assert resp.status_code == 200, resp.text
    return {item["id"]: item for item in resp.json()[key]}


def _normal(collection: str, item: dict, fields: tuple[str, ...]) -> dict:
    out = {f: item.get(f) for f in fields}
    if "description" in out:
        out["description"] = out["description"] or ""  # Neutron's default rules: null; Quark's: ""
    if collection == "subnets":
        out["allocation_pools"] = sorted((p["start"], p["end"]) for p in item["allocation_pools"])
        out["host_routes"] = sorted((r["destination"], r["nexthop"]) for r in item["host_routes"])
    return out


def _port(item: dict) -> dict:
    out = {f: item.get(f) for f in PORT_FIELDS}
    out["fixed_ips"] = sorted((ip["subnet_id"], ip["ip_address"]) for ip in item["fixed_ips"])
    out["security_groups"] = sorted(item["security_groups"])
    out["allowed_address_pairs"] = sorted((p["ip_address"], p["mac_address"]) for p in item["allowed_address_pairs"])
    return out


def assert_same_answers(neutron_url: str, quark_url: str) -> int:
    """Every resource of Neutron's answers is in Quark's with the same values; how many were compared."""
    compared = 0
    with (
        httpx.Client(base_url=neutron_url + "/v2.0", headers=ADMIN, timeout=60) as n,
        httpx.Client(base_url=quark_url + "/v2.0", timeout=60) as q,
    ):
        for collection, fields in COMPARED.items():
            theirs, ours = _listing(n, collection), _listing(q, collection)
            for rid, item in theirs.items():
                assert rid in ours, f"{collection} {rid} ({item.get('name')}) missing in Quark"
                assert _normal(collection, ours[rid], fields) == _normal(collection, item, fields), collection
                compared += 1
        n_routers, q_routers = _listing(n, "routers"), _listing(q, "routers")
        for rid, router in n_routers.items():
            gw, qgw = router["external_gateway_info"], q_routers[rid]["external_gateway_info"]
            assert (gw is None) == (qgw is None)
            if gw:
                assert qgw["network_id"] == gw["network_id"]
                assert [ip["ip_address"] for ip in qgw["external_fixed_ips"]] == [
                    ip["ip_address"] for ip in gw["external_fixed_ips"]
                ]
        theirs, ours = _listing(n, "ports"), _listing(q, "ports")
        for pid, port in theirs.items():
            if port["device_owner"] in SKIPPED_OWNERS:
                continue  # Quark's router gateway and floating IP have their own port (checked above by address)
            assert pid in ours, f"port {pid} missing in Quark"
            assert _port(ours[pid]) == _port(port)
            compared += 1
    return compared


# --- the tests ------------------------------------------------------------------------------


def test_dry_run_reports_and_writes_nothing(neutron, sqlite_url):
    running, _ = neutron
    url = sqlite_url
    code, report = _import(url, *_db_args(running), "--dry-run")
    assert code == 0, json.dumps(report["conflicts"], indent=1)
    counts = report["counts"]
    assert counts["networks"]["would create"] == 3
    assert counts["subnets"]["would create"] == 4
    assert counts["ports"]["would create"] == BULK_PORTS + 3  # app-1, bare, the router interface
    assert counts["floatingips"]["would create"] == 1
    assert counts["router_interfaces"]["would create"] == 1
    assert all("created" not in c for c in counts.values())
    assert row_counts(url, "networks", "subnets", "ports", "security_groups", "ip_allocations") == {
        "networks": 0,
        "subnets": 0,
        "ports": 0,
        "security_groups": 0,
        "ip_allocations": 0,
    }


def test_database_import_matches_neutron_answers(neutron, tmp_path_factory):
    running, made = neutron
    with migrated_database("mariadb", tmp_path_factory) as url:
        code, report = _import(url, *_db_args(running))
        assert code == 0, json.dumps(report["conflicts"], indent=1)
        with quark_server(url) as quark:
            assert assert_same_answers(running.url, quark.url) > BULK_PORTS + 10
            with httpx.Client(base_url=quark.url + "/v2.0", timeout=30) as q:
                # The foreign MAC is held by Quark's MAC management (no range hands it out).
                app = q.get(f"/ports/{made['app']['id']}").json()["port"]
                assert app["mac_address"] == FOREIGN_MAC
                # The imported addresses are Quark's allocations: asking for one is a conflict.
                resp = q.post(
                    "/ports",
                    json={"port": {"network_id": made["network"]["id"], "fixed_ips": [{"ip_address": "10.77.0.42"}]}},
                )
                assert resp.status_code == 409, resp.text
                resp = q.post(
                    "/ports", json={"port": {"network_id": made["network"]["id"], "mac_address": FOREIGN_MAC}}
                )
                assert resp.status_code == 409, resp.text
                # The router interface is the router's, at the subnet's gateway.
                ports = q.get(
                    "/ports", params={"device_id": made["router"]["id"], "device_owner": "network:router_interface"}
                ).json()["ports"]
                assert [ip["ip_address"] for p in ports for ip in p["fixed_ips"]] == ["10.77.0.1"]


def test_interrupted_import_finishes_on_rerun(neutron, sqlite_url):
    running, _ = neutron
    url = sqlite_url
    code, first = _import(url, *_db_args(running), "--limit", "9")
    assert code == 4 and first["interrupted"]
    done = sum(c.get("created", 0) for c in first["counts"].values())
    assert 0 < done <= 9
    code, second = _import(url, *_db_args(running))
    assert code == 0, second["conflicts"]
    assert sum(c.get("skipped", 0) for c in second["counts"].values()) == done
    # A third run finds everything there: nothing created, nothing in conflict.
    code, third = _import(url, *_db_args(running))
    assert code == 0
    assert sum(c.get("created", 0) for c in third["counts"].values()) == 0
    total = sum(c.get("created", 0) for c in first["counts"].values()) + sum(
        c.get("created", 0) for c in second["counts"].values()
    )
    assert sum(c.get("skipped", 0) for c in third["counts"].values()) == total
    with quark_server(url) as quark:
        assert_same_answers(running.url, quark.url)


def test_api_import_and_conflicts_are_reported_not_overwritten(neutron, sqlite_url):
    running, made = neutron
    url = sqlite_url
    code, report = _import(url, "--url", running.url, *API_ARGS)
    assert code == 0, json.dumps(report["conflicts"], indent=1)
    with quark_server(url) as quark:
        assert_same_answers(running.url, quark.url)
        with httpx.Client(base_url=quark.url + "/v2.0", timeout=30) as q:
            resp = q.put(f"/networks/{made['network']['id']}", json={"network": {"name": "renamed in quark"}})
            assert resp.status_code == 200, resp.text
    code, report = _import(url, "--url", running.url, *API_ARGS, "--dry-run")
    assert code == 1
    assert [(c["kind"], c["id"]) for c in report["conflicts"]] == [("networks", made["network"]["id"])]
    assert "name" in report["conflicts"][0]["reason"]
    code, report = _import(url, "--url", running.url, *API_ARGS)
    assert code == 1
    with quark_server(url) as quark:
        name = httpx.get(f"{quark.url}/v2.0/networks/{made['network']['id']}").json()["network"]["name"]
        assert name == "renamed in quark"
