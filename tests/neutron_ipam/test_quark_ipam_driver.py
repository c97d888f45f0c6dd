"""A stock Neutron (the peer kit) with ``ipam_driver = quark``: its networks,
subnets and ports get their addresses from a real Quark over HTTP
(docs/neutron_ipam_driver.md).

Skipped when the kit is absent (or ``QUARK_SKIP_NEUTRON_PEER=1``). The
first run builds Neutron's venv with the kit's install.sh (~4 minutes);
``make test-neutron-ipam`` runs this file alone.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests import neutron_peer
from tests.dbs import migrated_database
from tests.servers import free_port, quark_server

pytestmark = [
    pytest.mark.neutron_peer,
    pytest.mark.skipif(neutron_peer.kit_missing() is not None, reason=str(neutron_peer.kit_missing())),
]

QUARK_ENV = {"QUARK_IPAM_REUSE_AFTER": "3600"}


class World:
    """Neutron (with the driver) and the Quark it talks to; Quark can be killed and restarted."""

    def __init__(self, database_url: str, quark_port: int) -> None:
        self.database_url = database_url
        self.quark_port = quark_port
        self.quark_url = f"http://127.0.0.1:{quark_port}"
        self._quark = None
        self._server = None
        self.neutron_url = ""

    def start_quark(self) -> None:
        self._quark = quark_server(self.database_url, port=self.quark_port, workers=1, env=QUARK_ENV)
        self._server = self._quark.__enter__()

    def kill_quark(self) -> None:
        """SIGKILL: no graceful shutdown, requests in flight are cut."""
        self._server.proc.kill()
        self._server.proc.wait()
        self._quark.__exit__(None, None, None)
        self._quark = None

    def stop_quark(self) -> None:
        if self._quark is not None:
            self._quark.__exit__(None, None, None)
            self._quark = None

    # --- Neutron's API --------------------------------------------------------------

    def neutron(self, timeout: float = 60) -> httpx.Client:
        return httpx.Client(base_url=self.neutron_url + "/v2.0", timeout=timeout)

    def quark(self) -> httpx.Client:
        return httpx.Client(base_url=self.quark_url + "/v2.0", timeout=30)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    neutron_peer.install()
    with migrated_database("mariadb", tmp_path_factory) as url:
        w = World(url, free_port())
        w.start_quark()
        neutron_peer.configure(w.quark_url)
        try:
            with neutron_peer.neutron(free_port()) as running:
                w.neutron_url = running.url
                yield w
        finally:
            w.stop_quark()


def _network(client: httpx.Client, cidr: str, v6: str | None = None) -> tuple[str, list[str]]:
    resp = client.post("/networks", json={"network": {"name": f"n-{uuid.uuid4().hex[:6]}"}})
    assert resp.status_code == 201, resp.text
    network_id = resp.json()["network"]["id"]
    subnets = []
    for version, block in ((4, cidr), (6, v6)):
        if block is None:
            continue
        body = {"network_id": network_id, "ip_version": version, "cidr": block}
        if version == 6:
            body.update(ipv6_address_mode="dhcpv6-stateful", ipv6_ra_mode="dhcpv6-stateful")
        resp = client.post("/subnets", json={"subnet": body})
        assert resp.status_code == 201, resp.text
        subnets.append(resp.json()["subnet"]["id"])
    return network_id, subnets


def _neutron_addresses(client: httpx.Client, network_id: str) -> set[tuple[str, str, str]]:
    ports = client.get("/ports", params={"network_id": network_id}).json()["ports"]
    return {(p["id"], ip["subnet_id"], ip["ip_address"]) for p in ports for ip in p["fixed_ips"]}


def _quark_addresses(client: httpx.Client, subnet_ids: list[str]) -> set[tuple[str, str, str]]:
    held = set()
    for subnet_id in subnet_ids:
        for a in client.get("/ipam/allocations", params={"subnet_id": subnet_id}).json()["allocations"]:
            held.add((a["holder"], a["subnet_id"], a["ip_address"]))
    return held


def test_neutron_ports_take_their_addresses_from_quark(world):
    with world.neutron() as neutron, world.quark() as quark:
        network_id, subnets = _network(neutron, "10.61.0.0/24", "fd61::/64")
        # Quark knows each subnet under Neutron's ids, with Neutron's pools and gateway.
        for subnet_id in subnets:
            mine = neutron.get(f"/subnets/{subnet_id}").json()["subnet"]
            theirs = quark.get(f"/subnets/{subnet_id}").json()["subnet"]
            assert theirs["network_id"] == network_id
            assert (theirs["cidr"], theirs["gateway_ip"]) == (mine["cidr"], mine["gateway_ip"])
            assert theirs["allocation_pools"] == mine["allocation_pools"]
        ports = []
        for i in range(4):
            resp = neutron.post("/ports", json={"port": {"network_id": network_id, "name": f"p{i}"}})
            assert resp.status_code == 201, resp.text
            ports.append(resp.json()["port"])
        fixed = {"network_id": network_id, "fixed_ips": [{"subnet_id": subnets[0], "ip_address": "10.61.0.200"}]}
        resp = neutron.post("/ports", json={"port": fixed})
        assert resp.status_code == 201, resp.text
        assert all(len(p["fixed_ips"]) == 2 for p in ports)
        # Exactly Neutron's addresses, each held by its port, are Quark's.
        assert _quark_addresses(quark, subnets) == _neutron_addresses(neutron, network_id)
        availability = quark.get(f"/network-ip-availabilities/{network_id}").json()["network_ip_availability"]
        assert availability["used_ips"] == 9

        # Another port asking for a held address: Neutron's 409, nothing allocated.
        taken = neutron.post("/ports", json={"port": fixed})
        assert taken.status_code == 409, taken.text
        assert _quark_addresses(quark, subnets) == _neutron_addresses(neutron, network_id)

        # An update swaps addresses: the old one released, the new one the port's.
        port = ports[0]
        new = [{"subnet_id": subnets[0], "ip_address": "10.61.0.150"}]
        resp = neutron.put(f"/ports/{port['id']}", json={"port": {"fixed_ips": new}})
        assert resp.status_code == 200, resp.text
        assert _quark_addresses(quark, subnets) == _neutron_addresses(neutron, network_id)
        assert (port["id"], subnets[0], "10.61.0.150") in _quark_addresses(quark, subnets)

        # A pool change (Neutron's update_subnet) reaches Quark.
        pools = [{"start": "10.61.0.2", "end": "10.61.0.220"}]
        resp = neutron.put(f"/subnets/{subnets[0]}", json={"subnet": {"allocation_pools": pools}})
        assert resp.status_code == 200, resp.text
        assert quark.get(f"/subnets/{subnets[0]}").json()["subnet"]["allocation_pools"] == pools

        # Deleted ports' addresses are released (and quarantined: not handed out again at once).
        released = {ip["ip_address"] for ip in ports[1]["fixed_ips"]}
        for p in ports[1:]:
            assert neutron.delete(f"/ports/{p['id']}").status_code == 204
        assert _quark_addresses(quark, subnets) == _neutron_addresses(neutron, network_id)
        again = neutron.post("/ports", json={"port": {"network_id": network_id}}).json()["port"]
        assert not released & {ip["ip_address"] for ip in again["fixed_ips"]}

        # The network goes: its ports, then Quark's subnets and network with it.
        for p in neutron.get("/ports", params={"network_id": network_id}).json()["ports"]:
            assert neutron.delete(f"/ports/{p['id']}").status_code == 204
        assert neutron.delete(f"/networks/{network_id}").status_code == 204
        assert all(quark.get(f"/subnets/{s}").status_code == 404 for s in subnets)
        assert quark.get(f"/networks/{network_id}").status_code == 404
        assert _quark_addresses(quark, subnets) == set()


def test_ip_policies_of_quark_apply_to_neutron_ports(world):
    with world.neutron() as neutron, world.quark() as quark:
        network_id, (subnet_id,) = _network(neutron, "10.62.0.0/28")
        policy = {"ip_policy": {"name": "reserved", "subnet_ids": [subnet_id], "exclude": ["10.62.0.0/29"]}}
        assert quark.post("/ip_policies", json=policy).status_code == 201
        got = [neutron.post("/ports", json={"port": {"network_id": network_id}}).json()["port"] for _ in range(3)]
        assert all(int(p["fixed_ips"][0]["ip_address"].rsplit(".", 1)[1]) >= 8 for p in got)


def test_quark_killed_mid_load_fails_cleanly_and_leaks_nothing(world):
    with world.neutron(timeout=90) as neutron, world.quark() as quark:
        network_id, subnets = _network(neutron, "10.63.0.0/24")
        statuses: list[int] = []
        lock = threading.Lock()
        created = threading.Event()

        def create(i: int) -> None:
            with world.neutron(timeout=90) as client:
                try:
                    status = client.post(
                        "/ports", json={"port": {"network_id": network_id, "name": f"l{i}"}}
                    ).status_code
                except httpx.TransportError:
                    status = 0
            with lock:
                statuses.append(status)
                if sum(s == 201 for s in statuses) >= 5:
                    created.set()

        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(create, i) for i in range(40)]
            assert created.wait(120), statuses
            world.kill_quark()
            for f in futures:
                f.result()
        assert statuses.count(201) >= 5
        failed = [s for s in statuses if s != 201]
        assert failed, "Quark was killed while Neutron created ports: some creates must fail"
        assert all(400 <= s < 600 for s in failed), statuses  # an error answer, never a hang or a reset

        # While Quark is down: a clean 5xx, and no port.
        before = len(neutron.get("/ports", params={"network_id": network_id}).json()["ports"])
        down = neutron.post("/ports", json={"port": {"network_id": network_id}})
        assert down.status_code == 503, down.text
        assert len(neutron.get("/ports", params={"network_id": network_id}).json()["ports"]) == before
        assert before == statuses.count(201)

        world.start_quark()
        # Nothing leaked either way: Quark holds exactly the addresses of Neutron's ports.
        assert _quark_addresses(quark, subnets) == _neutron_addresses(neutron, network_id)
        resp = neutron.post("/ports", json={"port": {"network_id": network_id}})
        assert resp.status_code == 201, resp.text
        for p in neutron.get("/ports", params={"network_id": network_id}).json()["ports"]:
            assert neutron.delete(f"/ports/{p['id']}").status_code == 204
        assert _quark_addresses(quark, subnets) == set()
