"""Routers and floating IPs over HTTP end in OVN NB (tests/ovn_driver/test_api_to_ovn.py's
stack: `quark serve` with ``backend_driver=ovn`` and `quark worker`s, on every database):
a router with a gateway and an interface, a floating IP associated, moved and
disassociated, each through its job."""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import httpx

from quark.drivers.ovn import mapping as m
from tests.ovn import OvnCluster
from tests.ovn_driver.test_api_to_ovn import create, deployment, jobs_done, stack, stack_env  # noqa: F401
from tests.servers import QUARK


def fip_nat(ovn: OvnCluster, fip_id: str) -> dict[str, str] | None:
    uuids = ovn.nbctl("--bare", "--columns=_uuid", "find", "NAT", f'external_ids:"quark:floatingip_id"="{fip_id}"')
    if not uuids.strip():
        return None
    [row] = uuids.split()
    columns = ("external_ip", "logical_ip", "logical_port", "external_mac", 'external_ids:"quark:revision_number"')
    return {c: ovn.get("NAT", row, c).strip('"[]') for c in columns}


def router_of(ovn: OvnCluster, fip_id: str) -> str:
    for name in ovn.nb_names("Logical_Router"):
        nat = ovn.get("Logical_Router", name, "nat")
        row = ovn.nbctl("--bare", "--columns=_uuid", "find", "NAT", f'external_ids:"quark:floatingip_id"="{fip_id}"')
        if row.strip() and row.strip() in nat:
            return name
    return ""


def status_of(client: httpx.Client, fip: dict) -> str:
    return client.get(f"/v2.0/floatingips/{fip['id']}").json()["floatingip"]["status"]


def ok(client: httpx.Client) -> None:
    jobs = jobs_done(client)
    assert {j["status"] for j in jobs} == {"succeeded"}, [(j["resource_type"], j["last_error"]) for j in jobs]


def test_router_gateway_interface_and_floating_ip_reach_ovn(deployment):  # noqa: F811
    client, ovn = deployment
    admin = httpx.Client(base_url=client.base_url, timeout=30)
    ext = create(admin, "networks", {"name": f"ext-{uuid.uuid4().hex[:6]}", "router:external": True})
    create(admin, "subnets", {"network_id": ext["id"], "cidr": "198.51.100.0/24", "ip_version": 4})
    net = create(client, "networks", {"name": "inside"})
    sub = create(client, "subnets", {"network_id": net["id"], "cidr": "10.60.0.0/24", "ip_version": 4})
    router = create(client, "routers", {"name": "r", "external_gateway_info": {"network_id": ext["id"]}})
    added = client.put(f"/v2.0/routers/{router['id']}/add_router_interface", json={"subnet_id": sub["id"]})
    assert added.status_code == 200, added.text
    vm, other = (create(client, "ports", {"network_id": net["id"], "name": n}) for n in ("vm", "other"))
    response = client.post("/v2.0/floatingips", json={"floatingip": {"floating_network_id": ext["id"], "port_id": vm["id"]}})  # fmt: skip
    assert response.status_code == 201, response.text
    assert response.headers.get("X-Quark-Job-Id")
    fip = response.json()["floatingip"]
    ok(client)
    jobs_done(admin)
    assert status_of(client, fip) == "ACTIVE"  # its NAT row written (Neutron's OVN driver)

    lr = m.router_name(router["id"])
    assert lr in ovn.nb_names("Logical_Router")
    interface = m.router_port_name(added.json()["port_id"])
    assert ovn.get("Logical_Router_Port", interface, "networks").strip('[]"') == f"{sub['gateway_ip']}/24"
    gw_port = client.get(f"/v2.0/routers/{router['id']}").json()["router"]["external_gateway_info"]
    gw_ip = gw_port["external_fixed_ips"][0]["ip_address"]
    [gateway] = [t.strip("()") for t in ovn.nbctl("lrp-list", lr).split() if t.startswith("(") and interface not in t]
    chassis = ovn.nbctl("lrp-get-gateway-chassis", gateway).split()
    assert chassis[1::2] == ["2", "1"] and chassis[0].endswith("_gw-1")
    snat = ovn.nbctl("lr-nat-list", lr)
    assert "snat" in snat and gw_ip in snat and "10.60.0.0/24" in snat
    vm_ip = vm["fixed_ips"][0]["ip_address"]
    held = fip_nat(ovn, fip["id"])
    assert held is not None
    assert (held["external_ip"], held["logical_ip"], held["logical_port"]) == (
        fip["floating_ip_address"],
        vm_ip,
        vm["id"],
    )
    [own] = admin.get("/v2.0/ports", params={"device_id": fip["id"]}).json()["ports"]  # distributed: its port's MAC
    assert held["external_mac"] == own["mac_address"]
    assert router_of(ovn, fip["id"]) == lr

    moved = client.put(f"/v2.0/floatingips/{fip['id']}", json={"floatingip": {"port_id": other["id"]}})
    assert moved.status_code == 200, moved.text
    ok(client)
    held = fip_nat(ovn, fip["id"])
    assert held is not None and held["logical_port"] == other["id"]
    assert held['external_ids:"quark:revision_number"'] == str(moved.json()["floatingip"]["revision_number"])
    assert moved.json()["floatingip"]["status"] == "DOWN" and status_of(client, fip) == "ACTIVE"

    # the port's delete disassociates it (a subscriber's change): its NAT row goes
    assert client.delete(f"/v2.0/ports/{other['id']}").status_code == 204
    ok(client)
    assert fip_nat(ovn, fip["id"]) is None and status_of(client, fip) == "DOWN"
    again = client.put(f"/v2.0/floatingips/{fip['id']}", json={"floatingip": {"port_id": vm["id"]}})
    assert again.status_code == 200
    ok(client)
    assert fip_nat(ovn, fip["id"]) is not None and status_of(client, fip) == "ACTIVE"
    assert client.put(f"/v2.0/floatingips/{fip['id']}", json={"floatingip": {"port_id": None}}).status_code == 200
    ok(client)
    assert fip_nat(ovn, fip["id"]) is None and "snat" in ovn.nbctl("lr-nat-list", lr)
    assert status_of(client, fip) == "DOWN"
    assert client.delete(f"/v2.0/floatingips/{fip['id']}").status_code == 204

    # gateway cleared, interface removed, router deleted: nothing of it left in NB
    cleared = client.put(f"/v2.0/routers/{router['id']}", json={"router": {"external_gateway_info": {}}})
    assert cleared.status_code == 200, cleared.text
    removed = client.put(f"/v2.0/routers/{router['id']}/remove_router_interface", json={"subnet_id": sub["id"]})
    assert removed.status_code == 200, removed.text
    ok(client)
    assert ovn.nbctl("lr-nat-list", lr).strip() == "" and ovn.nbctl("lrp-list", lr).strip() == ""
    assert client.delete(f"/v2.0/routers/{router['id']}").status_code == 204
    ok(client)
    assert lr not in ovn.nb_names("Logical_Router")
    admin.close()


def backend_sync(ovn: OvnCluster, db_url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [QUARK, "backend", "sync", "--database-url", db_url, "--json", *args],
        env={**os.environ, **stack_env(ovn)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_backend_sync_repairs_a_deleted_nat_row_and_an_extra_router(stack):  # noqa: F811
    api, ovn, db_url = stack
    headers = {"X-Project-Id": f"t-{uuid.uuid4().hex[:10]}", "X-Roles": "member"}
    client = httpx.Client(base_url=api, timeout=30, headers=headers)
    admin = httpx.Client(base_url=api, timeout=30)
    ext = create(admin, "networks", {"name": f"ext-{uuid.uuid4().hex[:6]}", "router:external": True})
    create(admin, "subnets", {"network_id": ext["id"], "cidr": "198.51.100.0/24", "ip_version": 4})
    net = create(client, "networks", {"name": "inside"})
    sub = create(client, "subnets", {"network_id": net["id"], "cidr": "10.61.0.0/24", "ip_version": 4})
    router = create(client, "routers", {"name": "r", "external_gateway_info": {"network_id": ext["id"]}})
    assert client.put(f"/v2.0/routers/{router['id']}/add_router_interface", json={"subnet_id": sub["id"]}).status_code == 200  # fmt: skip
    vm = create(client, "ports", {"network_id": net["id"]})
    fip = create(client, "floatingips", {"floating_network_id": ext["id"], "port_id": vm["id"]})
    ok(client)
    jobs_done(admin)
    clean = backend_sync(ovn, db_url)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    kinds = json.loads(clean.stdout)["drivers"]["ovn"]["kinds"]
    assert kinds["floatingip"]["checked"] >= 1 and kinds["router"]["checked"] >= 1

    lr = m.router_name(router["id"])
    ovn.nbctl("lr-nat-del", lr, "dnat_and_snat", fip["floating_ip_address"])  # behind Quark's back
    ghost = str(uuid.uuid4())
    ovn.nbctl("lr-add", m.router_name(ghost), "--", "set", "Logical_Router", m.router_name(ghost),
              f'external_ids:"quark:router_id"="{ghost}"', 'external_ids:"quark:revision_number"=1')  # fmt: skip
    found = backend_sync(ovn, db_url)
    assert found.returncode == 1, found.stdout + found.stderr
    kinds = json.loads(found.stdout)["drivers"]["ovn"]["kinds"]
    assert kinds["floatingip"]["missing"] == [fip["id"]] and kinds["router"]["extra"] == [ghost]

    repaired = backend_sync(ovn, db_url, "--repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert fip_nat(ovn, fip["id"]) is not None and router_of(ovn, fip["id"]) == lr
    assert m.router_name(ghost) not in ovn.nb_names("Logical_Router")
    assert backend_sync(ovn, db_url).returncode == 0
    client.close()
    admin.close()
