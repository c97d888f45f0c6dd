"""Quark with OVN end to end, on every database: a `quark serve` whose
deployment driver is ``ovn`` and a `quark worker`, against a private OVN
(tests/ovn.py). A port created over HTTP ends as a logical switch port in NB
with its MAC and IPs, in its security group's port group; with the NB server
stopped in the middle of a batch the jobs retry and converge once it is back,
and the driver's sync finds no drift between the API's resources and NB."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from quark.drivers.base import Change
from quark.drivers.ovn import OvnDriver
from quark.drivers.ovn import mapping as m
from tests.dbs import migrated_database, selected_backends
from tests.ovn import Chassis, OvnCluster, require_chassis, require_ovn
from tests.servers import QUARK, quark_server

GATEWAYS = {"gateway_chassis": "gw-1,gw-2", "distributed_floating_ips": True}
KINDS = {"network": "networks", "subnet": "subnets", "port": "ports", "security_group": "security-groups"}


@pytest.fixture(scope="module", params=selected_backends())
def stack(request, tmp_path_factory) -> Iterator[tuple[str, OvnCluster, str]]:
    """Per database: a private OVN, a `quark serve` (two API workers) whose deployment
    driver is ``ovn`` and two `quark worker`s: the API's URL, the OVN, the database's URL.
    Tests use projects of their own."""
    require_ovn()
    ovn = OvnCluster(Path(tempfile.mkdtemp(prefix="qovn-", dir="/tmp")))
    env = stack_env(ovn)
    workers: list[subprocess.Popen] = []
    try:
        ovn.start()
        with migrated_database(request.param, tmp_path_factory) as url, quark_server(url, workers=2, env=env) as server:
            with (ovn.dir / "worker.log").open("wb") as log:
                for _ in range(2):
                    workers.append(
                        subprocess.Popen(
                            [QUARK, "worker", "--database-url", url],
                            env={**os.environ, **env},
                            stdout=log,
                            stderr=subprocess.STDOUT,
                        )
                    )
                try:
                    yield server.url, ovn, url
                finally:
                    for worker in workers:
                        worker.terminate()
                    for worker in workers:
                        worker.wait(20)
    finally:
        ovn.stop()
        shutil.rmtree(ovn.dir, ignore_errors=True)


def stack_env(ovn: OvnCluster) -> dict[str, str]:
    """The settings of the stack's processes (`quark serve`, `quark worker`, `quark backend sync`)."""
    return {
        "QUARK_BACKEND_DRIVER": "ovn",
        "QUARK_BACKEND_DRIVER_OPTIONS": json.dumps({"ovn": {"nb_connection": ovn.nb_url, "timeout": 2, **GATEWAYS}}),
        "QUARK_WORKER_RETRY_DELAY": "0.2",
        "QUARK_WORKER_RETRY_MAX_DELAY": "1",
        "QUARK_WORKER_MAX_ATTEMPTS": "100",
        "QUARK_WORKER_CALL_TIMEOUT": "5",
        "QUARK_WORKER_LEASE": "10",
        "QUARK_IPAM_REUSE_AFTER": "0",
        "QUARK_WORKER_STATUS_INTERVAL": "0.5",
        # no periodic sync: one starting at a slot's boundary (every 5 minutes) would repair
        # the drift a test makes behind Quark's back before its `quark backend sync` reports it
        "QUARK_BACKEND_SYNC_INTERVAL": "0",
        "QUARK_LOG_LEVEL": "warning",
    }


@pytest.fixture
def deployment(stack) -> Iterator[tuple[httpx.Client, OvnCluster]]:
    """A client of a new project (a member) on the stack, and its OVN."""
    url, ovn, _ = stack
    headers = {"X-Project-Id": f"t-{uuid.uuid4().hex[:10]}", "X-Roles": "member"}
    with httpx.Client(base_url=url, timeout=30, headers=headers) as client:
        yield client, ovn


def jobs_done(client: httpx.Client, timeout: float = 60.0) -> list[dict]:
    """Wait until every job of the project has finished; all of them."""
    deadline = time.monotonic() + timeout
    while True:
        jobs = client.get("/v2.0/jobs", params={"limit": 1000}).json()["jobs"]
        if jobs and all(j["status"] in ("succeeded", "failed") for j in jobs):
            return jobs
        assert time.monotonic() < deadline, [(j["status"], j["last_error"]) for j in jobs]
        time.sleep(0.2)


def resources(client: httpx.Client) -> list[Change]:
    """The API's resources of every project (the admin's view), as the driver's sync takes
    them, once every project's jobs are done (listing security groups makes the admin's
    default group, whose job then runs: the listing is taken again until nothing changed)."""
    admin = httpx.Client(base_url=client.base_url, timeout=30)
    previous: list[Change] = []
    while True:
        jobs_done(admin)
        found = _resources(admin)
        if [(c.resource_id, c.revision) for c in found] == [(c.resource_id, c.revision) for c in previous]:
            admin.close()
            return found
        previous = found


def _resources(admin: httpx.Client) -> list[Change]:
    found = []
    for kind, collection in KINDS.items():
        listed = admin.get(f"/v2.0/{collection}", params={"limit": 10000})
        for body in listed.json()[collection.replace("-", "_")]:
            found.append(Change(kind, "create", body["id"], int(body["revision_number"]), body))
    return found


def create(client: httpx.Client, collection: str, body: dict) -> dict:
    kind = collection[:-1]
    response = client.post(f"/v2.0/{collection}", json={kind: body})
    assert response.status_code == 201, response.text
    return response.json()[kind]


def test_a_port_created_over_http_ends_as_a_logical_switch_port(deployment):
    client, ovn = deployment
    net = create(client, "networks", {"name": "ovn-net"})
    assert "network_plugin" not in net or net["network_plugin"] == "ovn"
    sub = create(client, "subnets", {"network_id": net["id"], "cidr": "10.42.0.0/24", "ip_version": 4})
    port = create(client, "ports", {"network_id": net["id"], "name": "vm-port"})
    jobs = jobs_done(client)
    assert {j["status"] for j in jobs} == {"succeeded"}, [(j["resource_type"], j["last_error"]) for j in jobs]

    ip = port["fixed_ips"][0]["ip_address"]
    assert ovn.nbctl("lsp-get-addresses", port["id"]).strip() == f"{port['mac_address']} {ip}"
    assert ovn.nbctl("lsp-get-ls", port["id"]).split()[1] == f"({m.switch_name(net['id'])})"
    dhcp = ovn.get("Logical_Switch_Port", port["id"], "dhcpv4_options")
    assert ovn.get("DHCP_Options", dhcp, "cidr") == "10.42.0.0/24"
    assert f"router={sub['gateway_ip']}" in ovn.nbctl("dhcp-options-get-options", dhcp)
    [default_group] = port["security_groups"]
    pg = m.group_name(default_group)
    assert ovn.get("Logical_Switch_Port", port["id"], "_uuid") in ovn.get("Port_Group", pg, "ports")
    assert "allow-related" in ovn.nbctl("acl-list", pg)
    current = client.get(f"/v2.0/ports/{port['id']}").json()["port"]
    revision = ovn.get("Logical_Switch_Port", port["id"], 'external_ids:"quark:revision_number"')
    assert revision == str(current["revision_number"])


def test_quick_updates_end_with_the_newest_revision_in_ovn(deployment):
    client, ovn = deployment
    net = create(client, "networks", {"name": "ovn-net"})
    create(client, "subnets", {"network_id": net["id"], "cidr": "10.44.0.0/24", "ip_version": 4})
    port = create(client, "ports", {"network_id": net["id"]})
    with ThreadPoolExecutor(4) as pool:  # concurrent updates through both API workers
        codes = list(
            pool.map(
                lambda n: client.put(f"/v2.0/ports/{port['id']}", json={"port": {"name": f"n{n}"}}).status_code,
                range(20),
            )
        )
    assert codes == [200] * 20
    final = client.get(f"/v2.0/ports/{port['id']}").json()["port"]
    jobs_done(client)
    assert ovn.get("Logical_Switch_Port", port["id"], 'external_ids:"quark:revision_number"') == str(
        final["revision_number"]
    )
    assert ovn.get("Logical_Switch_Port", port["id"], 'external_ids:"quark:name"') == final["name"]


async def test_nb_stopped_mid_batch_jobs_retry_and_converge_without_drift(deployment):
    client, ovn = deployment
    net = create(client, "networks", {"name": "ovn-net"})
    create(client, "subnets", {"network_id": net["id"], "cidr": "10.43.0.0/24", "ip_version": 4})
    jobs_done(client)
    ovn.stop_db("nb")
    response = client.post("/v2.0/ports", json={"ports": [{"network_id": net["id"]} for _ in range(8)]})
    assert response.status_code == 201, response.text  # the API does not wait for OVN
    ports = response.json()["ports"]
    renamed = client.put(f"/v2.0/ports/{ports[0]['id']}", json={"port": {"name": "renamed"}})
    assert renamed.status_code == 200
    deadline = time.monotonic() + 30
    batch = {p["id"] for p in ports}
    while not (
        retried := [
            j for j in client.get("/v2.0/jobs").json()["jobs"] if j["resource_id"] in batch and j["attempts"] >= 2
        ]
    ):
        assert time.monotonic() < deadline, "no job was retried while NB was down"
        time.sleep(0.2)
    assert all("RetryableError" in j["last_error"] for j in retried), retried
    ovn.start_db("nb")

    jobs = jobs_done(client)
    assert {j["status"] for j in jobs} == {"succeeded"}, [(j["resource_type"], j["last_error"]) for j in jobs]
    for port in ports:
        expected = f"{port['mac_address']} {port['fixed_ips'][0]['ip_address']}"
        assert ovn.nbctl("lsp-get-addresses", port["id"]).strip() == expected
    assert ovn.get("Logical_Switch_Port", ports[0]["id"], 'external_ids:"quark:name"') == "renamed"

    driver = OvnDriver("ovn", {"nb_connection": ovn.nb_url, "timeout": 5})
    try:
        listed = resources(client)
        report = await driver.sync(listed)
        held = await driver.revisions()
        drifted = [(c.kind, c.revision, held.get(c.kind, {}).get(c.resource_id), c.body.get("name"), c.body.get("status"))
                   for c in listed if c.resource_id in report.stale + report.missing]  # fmt: skip
        assert not report.drift, (report, drifted)
        ovn.nbctl("lsp-del", ports[1]["id"])  # drift from outside: sync sees it and repairs it
        report = await driver.sync(resources(client), repair=True)
        assert (report.missing, report.repaired) == ([ports[1]["id"]], 1)
        assert not (await driver.sync(resources(client))).drift
    finally:
        await driver.close()


def wait_status(client: httpx.Client, port_id: str, status: str, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while (seen := client.get(f"/v2.0/ports/{port_id}").json()["port"]["status"]) != status:
        assert time.monotonic() < deadline, f"port {port_id} stayed {seen}, never {status}"
        time.sleep(0.3)


def test_ports_plugged_on_a_chassis_become_active_and_ping_each_other(deployment):
    """Two ports created over HTTP, plugged into namespaces on a userspace-datapath
    hypervisor: the worker reads OVN's ``up`` back into their status, and they ping."""
    require_chassis()
    client, ovn = deployment
    net = create(client, "networks", {"name": "ovn-net"})
    create(client, "subnets", {"network_id": net["id"], "cidr": "10.45.0.0/24", "ip_version": 4})
    ports = [create(client, "ports", {"network_id": net["id"]}) for _ in range(2)]
    jobs_done(client)
    assert [client.get(f"/v2.0/ports/{p['id']}").json()["port"]["status"] for p in ports] == ["DOWN", "DOWN"]
    host = Chassis(ovn).start()
    try:
        spaces = [host.plug(p["id"], p["mac_address"], f"{p['fixed_ips'][0]['ip_address']}/24") for p in ports]
        for port in ports:
            wait_status(client, port["id"], "ACTIVE")
        assert host.ping(spaces[0], ports[1]["fixed_ips"][0]["ip_address"], count=3)
        down = client.put(f"/v2.0/ports/{ports[1]['id']}", json={"port": {"admin_state_up": False}})
        assert down.status_code == 200
        wait_status(client, ports[1]["id"], "DOWN")
        assert ovn.nbctl("lsp-get-enabled", ports[1]["id"]).strip() == "disabled"
    finally:
        host.stop()
