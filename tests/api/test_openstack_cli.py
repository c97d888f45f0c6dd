"""The unmodified `openstack` CLI (python-openstackclient) against a real server.

Runs the commands a newcomer would: network create, subnet create (v4, v6),
port create --fixed-ip subnet=…, port list --long, port delete.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass
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


@dataclass
class Exchange:
    """One HTTP request the CLI made and the answer it got."""

    method: str
    url: str
    status: int
    error: str | None  # the NeutronError type of the answer's body, if any


@dataclass
class CliFailure:
    stderr: str
    exchanges: list[Exchange]

    def answered(self, method: str, path: str) -> list[tuple[int, str | None]]:
        """(status, NeutronError type) of each ``method`` request to a URL ending in ``path``."""
        return [(e.status, e.error) for e in self.exchanges if e.method == method and e.url.endswith(path)]


# keystoneauth's --debug log: `REQ: curl -g -i -X GET "http://…"`, then `RESP: [404] …` and `RESP BODY: {…}`.
_REQUEST = re.compile(r'^REQ: curl .*?-X (?P<method>[A-Z]+) "?(?P<url>[^" ]+)"?', re.MULTILINE)
_RESPONSE = re.compile(r"^RESP: \[(?P<status>\d{3})\]", re.MULTILINE)
_BODY = re.compile(r"^RESP BODY: (?P<body>.*)$", re.MULTILINE)


def _exchanges(debug_log: str) -> list[Exchange]:
    """The requests of a --debug log, each with the status and Neutron error that answered it."""
    found = []
    starts = [m.start() for m in _REQUEST.finditer(debug_log)] + [len(debug_log)]
    for start, end in zip(starts, starts[1:]):
        chunk = debug_log[start:end]
        request, response, body = _REQUEST.search(chunk), _RESPONSE.search(chunk), _BODY.search(chunk)
        if response is None:
            continue  # no answer (a connection error): nothing to pair
        error = _neutron_error(body["body"]) if body else None
        found.append(Exchange(request["method"], request["url"], int(response["status"]), error))
    return found


def _neutron_error(body: str) -> str | None:
    try:
        return json.loads(body)["NeutronError"]["type"]
    except (ValueError, KeyError, TypeError):
        return None  # not a Neutron error body


def osc_failure(server, *args: str) -> CliFailure:
    """Run a command that must fail, with --debug so that stderr shows every
    request it made and the HTTP status and body that answered each: the
    caller asserts the error it means (a 409, a 404), which a non-zero exit
    alone would not tell from a 500 or a crash of the CLI."""
    result = osc(server, "--debug", *args, check=False)
    assert result.returncode != 0, f"openstack {' '.join(args)} succeeded:\n{result.stdout}"
    failure = CliFailure(result.stderr, _exchanges(result.stderr))
    assert failure.exchanges, f"openstack {' '.join(args)}: no HTTP exchange in its debug log:\n{result.stderr}"
    assert all(e.status < 500 for e in failure.exchanges), failure.exchanges
    return failure


def external_and_inner(server, name: str, external_cidr: str, inner_cidr: str) -> tuple[dict, dict]:
    """An external network and an internal one, an IPv4 subnet each, joined by a
    router (what a floating IP association needs), made with the CLI."""
    external = osc_json(server, "network", "create", "--external", f"cli-ext-{name}")
    osc_json(
        server, "subnet", "create", "--network", external["id"], "--subnet-range", external_cidr, f"cli-ext-v4-{name}"
    )
    inner = osc_json(server, "network", "create", f"cli-in-{name}")
    subnet = osc_json(
        server, "subnet", "create", "--network", inner["id"], "--subnet-range", inner_cidr, f"cli-in-v4-{name}"
    )
    router = osc_json(server, "router", "create", f"cli-router-{name}")
    osc(server, "router", "set", "--external-gateway", external["id"], router["id"])
    osc(server, "router", "add", "subnet", router["id"], subnet["id"])
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
    # Gone: the GET by id answers 404 PortNotFound (the CLI then also looks the id up as a name, finding none).
    missing = osc_failure(server, "port", "show", port["id"])
    assert missing.answered("GET", f"/v2.0/ports/{port['id']}") == [(404, "PortNotFound")], missing.exchanges
    assert f"No Port found for {port['id']}" in missing.stderr
    remaining = osc_json(server, "port", "list", "--network", net_name)
    assert [p["ID"] for p in remaining] == [dual["id"]]

    # The network is in use while a port remains: the CLI surfaces the 409.
    in_use = osc_failure(server, "network", "delete", net_name)
    assert in_use.answered("DELETE", f"/v2.0/networks/{network['id']}") == [(409, "NetworkInUse")], in_use.exchanges
    assert "ConflictException: 409" in in_use.stderr
    osc(server, "port", "delete", dual["id"])
    osc(server, "network", "delete", net_name)
    # Deleted: looked up by name, it is neither a network id (404) nor any network's name.
    gone = osc_failure(server, "network", "show", net_name)
    assert gone.answered("GET", f"/v2.0/networks/{net_name}") == [(404, "NetworkNotFound")], gone.exchanges
    assert f"No Network found for {net_name}" in gone.stderr


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


def test_openstack_cli_routers(api_server):
    """router create / set --external-gateway / add subnet / show / remove
    subnet / unset --external-gateway / delete, and Neutron's refusals."""
    server = api_server
    suffix = uuid.uuid4().hex[:8]
    external = osc_json(server, "network", "create", "--external", f"cli-rext-{suffix}")
    osc_json(server, "subnet", "create", "--network", external["id"], "--subnet-range", "203.0.113.0/24", f"e-{suffix}")
    inner = osc_json(server, "network", "create", f"cli-rin-{suffix}")
    subnet = osc_json(server, "subnet", "create", "--network", inner["id"], "--subnet-range", "10.88.0.0/24", suffix)
    router = osc_json(server, "router", "create", f"cli-r-{suffix}")
    assert router["status"] == "ACTIVE" and router["external_gateway_info"] is None
    osc(server, "router", "set", "--external-gateway", external["id"], router["id"])
    osc(server, "router", "add", "subnet", router["id"], subnet["id"])
    shown = osc_json(server, "router", "show", router["id"])
    assert shown["external_gateway_info"]["network_id"] == external["id"]
    assert shown["external_gateway_info"]["external_fixed_ips"][0]["ip_address"].startswith("203.0.113.")
    ports = osc_json(server, "port", "list", "--router", router["id"], "--long")
    assert sorted(p["Device Owner"] for p in ports) == ["network:router_gateway", "network:router_interface"]
    failure = osc_failure(server, "router", "delete", router["id"])
    assert (409, "RouterInUse") in failure.answered("DELETE", f"/v2.0/routers/{router['id']}")
    osc(server, "router", "set", "--route", "destination=192.0.2.0/24,gateway=10.88.0.20", router["id"])
    assert osc_json(server, "router", "show", router["id"])["routes"] == [
        {"destination": "192.0.2.0/24", "nexthop": "10.88.0.20"}
    ]
    osc(server, "router", "unset", "--route", "destination=192.0.2.0/24,gateway=10.88.0.20", router["id"])
    osc(server, "router", "remove", "subnet", router["id"], subnet["id"])
    osc(server, "router", "unset", "--external-gateway", router["id"])
    assert osc_json(server, "router", "show", router["id"])["external_gateway_info"] is None
    osc(server, "router", "delete", router["id"])
    assert router["id"] not in {r["ID"] for r in osc_json(server, "router", "list")}
