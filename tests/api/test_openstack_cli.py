"""The unmodified `openstack` CLI (python-openstackclient) against a real server.

Runs the commands a newcomer would: network create, subnet create (v4, v6),
port create --fixed-ip subnet=…, port list --long, port delete.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

OPENSTACK = str(Path(sys.executable).with_name("openstack"))


def osc(server, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(OS_AUTH_TYPE="none", OS_ENDPOINT=server.url)
    result = subprocess.run([OPENSTACK, *args], env=env, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"openstack {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def osc_json(server, *args: str) -> dict | list:
    return json.loads(osc(server, *args, "-f", "json").stdout)


def external_and_inner(server, name: str, external_cidr: str, inner_cidr: str) -> tuple[dict, dict]:
    """An external network and an internal one, an IPv4 subnet each, made with the CLI."""
    external = osc_json(server, "network", "create", "--external", f"cli-ext-{name}")
    osc_json(
        server, "subnet", "create", "--network", external["id"], "--subnet-range", external_cidr, f"cli-ext-v4-{name}"
    )
    inner = osc_json(server, "network", "create", f"cli-in-{name}")
    osc_json(server, "subnet", "create", "--network", inner["id"], "--subnet-range", inner_cidr, f"cli-in-v4-{name}")
    return external, inner


def test_openstack_cli_walkthrough(api_server):
    server = api_server
    suffix = uuid.uuid4().hex[:8]
    net_name, v4_name, v6_name = f"cli-net-{suffix}", f"cli-v4-{suffix}", f"cli-v6-{suffix}"

    network = osc_json(server, "network", "create", net_name)
    assert network["name"] == net_name
    assert network["status"] == "ACTIVE"

    v4 = osc_json(server, "subnet", "create", "--network", net_name, "--subnet-range", "10.77.0.0/24", v4_name)
    assert v4["cidr"] == "10.77.0.0/24"
    assert v4["gateway_ip"] == "10.77.0.1"
    assert v4["allocation_pools"] == [{"start": "10.77.0.2", "end": "10.77.0.254"}]

    v6 = osc_json(
        server,
        "subnet",
        "create",
        "--network",
        net_name,
        "--ip-version",
        "6",
        "--subnet-range",
        "2001:db8:77::/64",
        v6_name,
    )
    assert v6["ip_version"] == 6
    assert v6["gateway_ip"] == "2001:db8:77::"

    port = osc_json(
        server, "port", "create", "--network", net_name, "--fixed-ip", f"subnet={v4_name}", f"cli-port-{suffix}"
    )
    assert [ip["subnet_id"] for ip in port["fixed_ips"]] == [v4["id"]]
    assert port["fixed_ips"][0]["ip_address"] == "10.77.0.2"
    assert port["mac_address"].startswith("fa:16:3e:")

    dual = osc_json(server, "port", "create", "--network", net_name, f"cli-dual-{suffix}")
    assert sorted(ip["subnet_id"] for ip in dual["fixed_ips"]) == sorted([v4["id"], v6["id"]])

    listed = osc_json(server, "port", "list", "--long", "--network", net_name)
    assert {p["ID"] for p in listed} == {port["id"], dual["id"]}
    by_id = {p["ID"]: p for p in listed}
    assert by_id[port["id"]]["MAC Address"] == port["mac_address"]
    assert by_id[port["id"]]["Status"] == "DOWN"

    osc(server, "port", "delete", f"cli-port-{suffix}")
    missing = osc(server, "port", "show", port["id"], check=False)
    assert missing.returncode != 0
    remaining = osc_json(server, "port", "list", "--network", net_name)
    assert [p["ID"] for p in remaining] == [dual["id"]]

    # The network is in use while a port remains: the CLI surfaces the 409.
    in_use = osc(server, "network", "delete", net_name, check=False)
    assert in_use.returncode != 0
    osc(server, "port", "delete", dual["id"])
    osc(server, "network", "delete", net_name)
    assert osc(server, "network", "show", net_name, check=False).returncode != 0


def test_openstack_cli_security_groups_and_floating_ips(api_server):
    server = api_server
    suffix = uuid.uuid4().hex[:8]
    group = osc_json(server, "security", "group", "create", f"cli-web-{suffix}")
    rule = osc_json(
        server,
        "security",
        "group",
        "rule",
        "create",
        "--protocol",
        "tcp",
        "--dst-port",
        "22",
        "--remote-ip",
        "192.0.2.0/24",
        group["id"],
    )
    assert (rule["port_range_min"], rule["port_range_max"], rule["remote_ip_prefix"]) == (22, 22, "192.0.2.0/24")
    rules = osc_json(server, "security", "group", "rule", "list", group["id"])
    assert rule["id"] in {r["ID"] for r in rules}
    names = {g["Name"] for g in osc_json(server, "security", "group", "list")}
    assert {"default", f"cli-web-{suffix}"} <= names

    external, inner = external_and_inner(server, suffix, "192.0.2.0/24", "10.78.0.0/24")
    port = osc_json(
        server, "port", "create", "--network", inner["id"], "--security-group", group["id"], f"cli-vm-{suffix}"
    )
    assert port["security_group_ids"] == [group["id"]]
    fip = osc_json(server, "floating", "ip", "create", "--port", port["id"], external["id"])
    assert fip["port_id"] == port["id"] and fip["fixed_ip_address"] == port["fixed_ips"][0]["ip_address"]
    listed = osc_json(server, "floating", "ip", "list", "--port", port["id"])
    assert [f["ID"] for f in listed] == [fip["id"]]
    osc(server, "floating", "ip", "unset", "--port", fip["id"])
    assert osc_json(server, "floating", "ip", "show", fip["id"])["port_id"] is None
    osc(server, "floating", "ip", "delete", fip["id"])
    osc(server, "port", "delete", port["id"])
    osc(server, "security", "group", "delete", group["id"])


def test_openstack_cli_floating_ip_failover_of_a_shared_address(api_server):
    """An active/passive pair shares an address (/v2.0/ip_addresses); the
    unmodified CLI moves a floating IP between them with `floating ip set`."""
    server = api_server
    suffix = uuid.uuid4().hex[:8]
    external, inner = external_and_inner(server, f"pair-{suffix}", "198.51.100.0/24", "10.79.0.0/24")
    active, passive = (
        osc_json(server, "port", "create", "--network", inner["id"], f"cli-{name}-{suffix}")
        for name in ("active", "passive")
    )
    r = httpx.post(
        f"{server.url}/v2.0/ip_addresses",
        json={"ip_address": {"network_id": inner["id"], "port_ids": [active["id"], passive["id"]]}},
    )
    assert r.status_code == 201, r.text
    vip = r.json()["ip_address"]["ip_address"]
    fip = osc_json(
        server, "floating", "ip", "create", "--port", active["id"], "--fixed-ip-address", vip, external["id"]
    )
    assert (fip["port_id"], fip["fixed_ip_address"]) == (active["id"], vip)
    for holder in (passive, active):
        osc(server, "floating", "ip", "set", "--port", holder["id"], "--fixed-ip-address", vip, fip["id"])
        shown = osc_json(server, "floating", "ip", "show", fip["id"])
        assert (shown["port_id"], shown["fixed_ip_address"]) == (holder["id"], vip)
    osc(server, "floating", "ip", "delete", fip["id"])
