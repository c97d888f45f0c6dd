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

    v6 = osc_json(server, "subnet", "create", "--network", net_name, "--ip-version", "6",
                  "--subnet-range", "2001:db8:77::/64", v6_name)
    assert v6["ip_version"] == 6
    assert v6["gateway_ip"] == "2001:db8:77::"

    port = osc_json(server, "port", "create", "--network", net_name, "--fixed-ip", f"subnet={v4_name}",
                    f"cli-port-{suffix}")
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
