"""Port forwardings over HTTP end in OVN NB as load balancers of the floating IP's router
(tests/ovn_driver/test_api_to_ovn.py's stack, on every database): created, updated and
deleted through their jobs, gone with their internal port; `quark backend sync` reports
and repairs their drift."""

from __future__ import annotations

import json
import uuid

import httpx

from quark.drivers.ovn import mapping as m
from quark.drivers.ovn.forwarding import lb_name
from tests.ovn import OvnCluster
from tests.ovn_driver.test_api_l3 import backend_sync, ok
from tests.ovn_driver.test_api_to_ovn import create, deployment, jobs_done, stack, stack_env  # noqa: F401


def router_lbs(ovn: OvnCluster, lr: str) -> dict[str, tuple[str, str]]:
    """The router's load balancers: name -> (vips, revision)."""
    found = {}
    for row in ovn.get("Logical_Router", lr, "load_balancer").replace(",", " ").split():
        revision = ovn.get("Load_Balancer", row, 'external_ids:"quark:revision_number"')
        found[ovn.get("Load_Balancer", row, "name")] = (ovn.get("Load_Balancer", row, "vips"), revision)
    return found


def topology(client: httpx.Client, admin: httpx.Client, cidr: str) -> tuple[dict, dict, dict]:
    """A router with a gateway and an interface, a VM port behind it and an unassociated
    floating IP: (router, vm, floating IP)."""
    ext = create(admin, "networks", {"name": f"ext-{uuid.uuid4().hex[:6]}", "router:external": True})
    create(admin, "subnets", {"network_id": ext["id"], "cidr": "198.51.100.0/24", "ip_version": 4})
    net = create(client, "networks", {"name": "inside"})
    sub = create(client, "subnets", {"network_id": net["id"], "cidr": cidr, "ip_version": 4})
    router = create(client, "routers", {"name": "r", "external_gateway_info": {"network_id": ext["id"]}})
    added = client.put(f"/v2.0/routers/{router['id']}/add_router_interface", json={"subnet_id": sub["id"]})
    assert added.status_code == 200, added.text
    vm = create(client, "ports", {"network_id": net["id"], "name": "vm"})
    fip = create(client, "floatingips", {"floating_network_id": ext["id"]})
    return router, vm, fip


def forward(client: httpx.Client, fip: dict, vm: dict, external: int, internal: int = 22) -> httpx.Response:
    body = {
        "protocol": "tcp",
        "internal_port_id": vm["id"],
        "internal_ip_address": vm["fixed_ips"][0]["ip_address"],
        "internal_port": internal,
        "external_port": external,
    }
    return client.post(f"/v2.0/floatingips/{fip['id']}/port_forwardings", json={"port_forwarding": body})


def test_forwardings_over_http_become_load_balancers_of_the_router(deployment):  # noqa: F811
    client, ovn = deployment
    admin = httpx.Client(base_url=client.base_url, timeout=30)
    router, vm, fip = topology(client, admin, "10.62.0.0/24")
    vm_ip, address = vm["fixed_ips"][0]["ip_address"], fip["floating_ip_address"]
    created = forward(client, fip, vm, 2222)
    assert created.status_code == 201, created.text
    assert created.headers.get("X-Quark-Job-Id")
    pf = created.json()["port_forwarding"]
    ok(client)
    lr, name = m.router_name(router["id"]), lb_name(fip["id"], "tcp", pf["id"])
    assert router_lbs(ovn, lr) == {name: (f"{{{address}:2222={vm_ip}:22}}", "0")}

    url = f"/v2.0/floatingips/{fip['id']}/port_forwardings/{pf['id']}"
    updated = client.put(url, json={"port_forwarding": {"external_port": 2223, "internal_port": 23}})
    assert updated.status_code == 200, updated.text
    ok(client)
    assert router_lbs(ovn, lr) == {name: (f"{{{address}:2223={vm_ip}:23}}", "1")}

    assert client.delete(url).status_code == 204
    ok(client)
    assert router_lbs(ovn, lr) == {}
    # a forwarding goes with its internal port (a subscriber's delete): its load balancer too
    again = forward(client, fip, vm, 2224)
    assert again.status_code == 201, again.text
    ok(client)
    assert len(router_lbs(ovn, lr)) == 1
    assert client.delete(f"/v2.0/ports/{vm['id']}").status_code == 204
    ok(client)
    assert router_lbs(ovn, lr) == {}
    assert ovn.nbctl("--bare", "--columns=_uuid", "find", "Load_Balancer", f'external_ids:"quark:floatingip_id"="{fip["id"]}"').strip() == ""  # fmt: skip
    admin.close()


def synced(ovn: OvnCluster, db_url: str, code: int, *args: str) -> dict:
    """`quark backend sync` with ``args``, which must exit with ``code``: the OVN driver's kinds."""
    done = backend_sync(ovn, db_url, *args)
    assert done.returncode == code, done.stdout + done.stderr
    return json.loads(done.stdout)["drivers"]["ovn"]["kinds"]


def test_backend_sync_reports_and_repairs_forwarding_drift(stack):  # noqa: F811
    api, ovn, db_url = stack
    headers = {"X-Project-Id": f"t-{uuid.uuid4().hex[:10]}", "X-Roles": "member"}
    client = httpx.Client(base_url=api, timeout=30, headers=headers)
    admin = httpx.Client(base_url=api, timeout=30)
    router, vm, fip = topology(client, admin, "10.63.0.0/24")
    created = forward(client, fip, vm, 3333)
    assert created.status_code == 201, created.text
    pf = created.json()["port_forwarding"]
    ok(client)
    jobs_done(admin)
    assert synced(ovn, db_url, 0)["port_forwarding"]["checked"] >= 1

    lr, name = m.router_name(router["id"]), lb_name(fip["id"], "tcp", pf["id"])
    ovn.nbctl("lb-del", name)  # behind Quark's back
    ghost = str(uuid.uuid4())
    ovn.nbctl("lb-add", f"pf-floatingip-x-tcp-{ghost}", "192.0.2.9:80", "10.0.0.9:80", "tcp",
              "--", "set", "Load_Balancer", f"pf-floatingip-x-tcp-{ghost}",
              f'external_ids:"quark:port_forwarding_id"="{ghost}"', 'external_ids:"quark:revision_number"=0')  # fmt: skip
    found = synced(ovn, db_url, 1)["port_forwarding"]
    assert found["missing"] == [pf["id"]] and found["extra"] == [ghost]
    assert synced(ovn, db_url, 0, "--repair")["port_forwarding"]["repaired"] == 2
    assert set(router_lbs(ovn, lr)) == {name}
    assert f"pf-floatingip-x-tcp-{ghost}" not in ovn.nb_names("Load_Balancer")
    assert not synced(ovn, db_url, 0)["port_forwarding"]["missing"]
    client.close()
    admin.close()
