"""Metadata end to end against a real `quark serve`: two hosts, DHCP with
isolated metadata on host A, `quark metadata-agent` finding the instances
through the real API, a Nova stand-in checking signatures. A VM on host B
reaches the proxy on host A across VXLAN. Once a router serves the subnet
(an interface on its gateway), the DHCP namespace stops serving metadata:
no proxy, no 169.254.169.254 address, no route in the DHCP options."""

from __future__ import annotations

import json

import pytest

from quark import names
from quark.agent.metadata.spawn import ProxySpec, running_pid
from quark.db import migrate
from tests.dataplane import kernel as k
from tests.dataplane.nova_metadata import NovaMetadata
from tests.dataplane.scenario import Dataplane, ip_of
from tests.dataplane.test_metadata_kernel import SECRET, _curl
from tests.servers import quark_server


@pytest.fixture
def server(root, tmp_path):
    k.require_tools("dnsmasq", "dhclient", "curl")
    url = f"sqlite+aiosqlite:///{tmp_path / 'quark.db'}"
    migrate.upgrade(url)
    with quark_server(url, env={"QUARK_AGENT_DOWN_TIME": "6", "QUARK_IPAM_REUSE_AFTER": "0"}) as srv:
        yield srv


@pytest.fixture
def nova():
    stand_in = NovaMetadata(SECRET).start()
    try:
        yield stand_in
    finally:
        stand_in.stop()


def test_metadata_through_the_dhcp_namespace_until_a_router_serves_the_subnet(server, tmp_path, nova):
    sock = tmp_path / "md.sock"
    env = {
        "QUARK_AGENT_ENABLE_ISOLATED_METADATA": "true",
        "QUARK_AGENT_METADATA_PROXY_SOCKET": str(sock),
        "QUARK_AGENT_METADATA_PROXY_SHARED_SECRET": SECRET,
        "QUARK_AGENT_NOVA_METADATA_URL": nova.url,
        "QUARK_AGENT_REPORT_INTERVAL": "1",
    }
    dp = Dataplane(server.url, tmp_path, agent_env=env)
    try:
        _scenario(dp, sock, nova)
    except BaseException:
        print(dp.logs())
        print(server.log_text()[-4000:])
        raise
    finally:
        dp.close()


def _scenario(dp: Dataplane, sock, nova: NovaMetadata) -> None:
    dp.build_hosts()
    dp.start_agent("hostA")
    dp.start_agent("hostB")
    agent = k.Process(
        [k.QUARK, "metadata-agent", "--host", "hostA", "--api-url", dp.api_url], "metadata-agent", dp.agent_env
    ).start()
    dp.procs.append(agent)
    dp.wait_agents_alive(("hostA", "Quark L2 agent"), ("hostB", "Quark L2 agent"), ("hostA", "Metadata agent"))
    dp.start_dhcp()
    dp.wait_agents_alive(("hostA", "DHCP agent"))

    net, sub = dp.network("md", cidr="10.79.0.0/24", gateway="10.79.0.1")
    ports = {}
    for host in ("hostA", "hostB"):
        port, _ = dp.create_port(net)
        nova.instances[port["device_id"]] = {"uuid": port["device_id"], "host": host}
        dp.bind(port, host)
        dp.wait_status(port["id"], "ACTIVE", proc=dp.agents[host])
        ports[host] = port
    spec = ProxySpec(
        names.dhcp_namespace(net["id"], dp.spaces.tag), str(sock), dp.state_dir / net["id"], network_id=net["id"]
    )
    k.wait_for(lambda: running_pid(spec), 20, what="metadata proxy", proc=dp.dhcp)
    dhcp_port = dp.get("/v2.0/ports", network_id=net["id"], device_owner="network:dhcp")["ports"][0]
    dhcp_ip = ip_of(dhcp_port)

    for host, port in ports.items():
        vm = dp.attach_vm(port, host, f"vm{host[-1]}")
        env = dp.dhcp_client(vm, port)
        assert env["new_ip_address"] == ip_of(port)
        route = "32 169 254 169 254 " + dhcp_ip.replace(".", " ")
        assert env["new_rfc3442_classless_static_routes"] == f"{route} 0 10 79 0 1", env
        k.run("ip", "-n", vm, "route", "add", "169.254.169.254/32", "via", dhcp_ip)
        code, body = _curl(vm, "/openstack/latest/meta_data.json")
        assert code == 200, (code, body, agent.describe())
        assert json.loads(body) == {"uuid": port["device_id"], "host": host}
        seen = nova.requests[-1]
        assert seen["x-forwarded-for"] == ip_of(port) and seen["x-tenant-id"] == port["project_id"]

    # a router on the subnet's gateway: the router serves metadata now, the DHCP namespace stops
    router = dp.post("/v2.0/routers", {"router": {"name": dp.spaces.tag + "r"}})["router"]
    dp.put(f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": sub["id"]})
    k.wait_for(lambda: running_pid(spec) is None, 15, what="metadata proxy stopped", proc=dp.dhcp)
    opts = dp.dhcp_paths(net["id"]).opts
    k.wait_for(lambda: "169.254.169.254" not in opts.read_text(), 5, what="route gone from the options")
    dev = names.vm_name(dhcp_port["id"])
    assert k.addresses(spec.namespace, dev) == [f"{dhcp_ip}/24"]
