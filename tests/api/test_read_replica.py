"""Quark on PostgreSQL with a streaming read replica (quark.db.replica).

A fresh primary and its hot standby are started for the module
(tests/pg_replica.py) and always torn down. The replica's WAL replay is
paused to make it visibly behind: a list that lacks a row the primary has
was served by the replica; a list by the client that wrote the row must have
it all the same (read-your-writes, through the per-process memory and the
``X-Quark-Read-After`` token / cookie); with the replica down, or further
behind than ``replica_max_lag``, the primary answers.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from keystoneauth1 import noauth
from keystoneauth1 import session as ks_session
from openstack.connection import Connection

from quark.db import migrate
from tests.pg_replica import ReplicaPair, pg_replica
from tests.servers import RunningServer, free_port, quark_server


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def headers(project: str, roles: str = "member") -> dict[str, str]:
    return {"X-Project-Id": project, "X-Roles": roles}


def replica_env(url: str, max_lag: float = 30.0) -> dict[str, str]:
    return {"QUARK_DATABASE_REPLICA_URL": url, "QUARK_REPLICA_MAX_LAG": str(max_lag)}


@pytest.fixture(scope="module")
def pair() -> Iterator[ReplicaPair]:
    with pg_replica() as started:
        started.primary.query(f"CREATE DATABASE {started.database}")
        migrate.upgrade(started.url(started.primary))
        started.wait_replayed()
        yield started


@pytest.fixture(scope="module")
def server(pair: ReplicaPair) -> Iterator[RunningServer]:
    with quark_server(pair.url(pair.primary), env=replica_env(pair.url(pair.standby))) as running:
        yield running


@contextmanager
def replay_paused(pair: ReplicaPair) -> Iterator[ReplicaPair]:
    """The standby caught up, then its replay paused (resumed after, always)."""
    pair.wait_replayed()
    time.sleep(1.0)  # a probe of the server's has seen it caught up (probes: every 0.5 s)
    pair.pause_replay()
    try:
        yield pair
    finally:
        pair.resume_replay()
        pair.wait_replayed()


@pytest.fixture
def paused(pair: ReplicaPair) -> Iterator[ReplicaPair]:
    with replay_paused(pair) as behind:
        yield behind


def names(response: httpx.Response) -> set[str]:
    assert response.status_code == 200, response.text
    return {net["name"] for net in response.json()["networks"]}


def served_by(server: RunningServer, target: str) -> float:
    """The server's count of lag-tolerant reads that ran on ``target`` (replica / primary)."""
    text = httpx.get(f"{server.url}/metrics").text
    prefix = f'quark_db_lag_tolerant_reads_total{{target="{target}"}} '
    return sum(float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix))


def on_primary(pair: ReplicaPair, name: str) -> bool:
    return bool(pair.primary.query("SELECT 1 FROM networks WHERE name = %s", pair.database, (name,)))


def test_lists_are_served_by_the_replica(server, paused):
    name = unique("behind")
    created = httpx.post(
        f"{server.url}/v2.0/networks", json={"network": {"name": name}}, headers=headers(unique("writer"))
    )
    assert created.status_code == 201, created.text
    assert on_primary(paused, name)
    reader = headers(unique("reader"), "admin")  # sees every project's networks, wrote nothing
    # The replay is paused: the replica has not got the row, so a list without it came from there.
    assert name not in names(httpx.get(f"{server.url}/v2.0/networks", params={"name": name}, headers=reader))
    # A single resource by id is always read on the primary.
    one = httpx.get(f"{server.url}/v2.0/networks/{created.json()['network']['id']}", headers=reader)
    assert one.status_code == 200 and one.json()["network"]["name"] == name

    assert served_by(server, "replica") > 0

    paused.resume_replay()
    paused.wait_replayed()
    assert name in names(httpx.get(f"{server.url}/v2.0/networks", params={"name": name}, headers=reader))


def test_a_client_reads_its_own_writes_while_the_replica_is_behind(server, paused):
    project = unique("own")
    with httpx.Client(base_url=server.url, headers=headers(project)) as client:
        name = unique("mine")
        created = client.post("/v2.0/networks", json={"network": {"name": name}})
        assert created.status_code == 201, created.text
        token = created.headers["X-Quark-Read-After"]
        assert client.cookies.get("quark_read_after") == token
        network_id = created.json()["network"]["id"]
        # POST then GET by the same client: the primary answers while the replica lacks the row.
        assert client.get(f"/v2.0/networks/{network_id}").status_code == 200
        assert name in names(client.get("/v2.0/networks", params={"name": name}))
        port = client.post("/v2.0/ports", json={"port": {"network_id": network_id, "name": name}})
        assert port.status_code == 201, port.text
        ports = client.get("/v2.0/ports", params={"network_id": network_id}).json()["ports"]
        assert [p["id"] for p in ports] == [port.json()["port"]["id"]]
    # Another client of the same project, without the cookie: this process remembers the project's write.
    assert name in names(httpx.get(f"{server.url}/v2.0/networks", params={"name": name}, headers=headers(project)))
    # A client this process knows nothing of: the replica, unless it brings the token back.
    other = headers(unique("other"), "admin")
    assert name not in names(httpx.get(f"{server.url}/v2.0/networks", params={"name": name}, headers=other))
    with_token = {**other, "X-Quark-Read-After": token}
    assert name in names(httpx.get(f"{server.url}/v2.0/networks", params={"name": name}, headers=with_token))


def test_openstacksdk_reads_its_own_writes(server, paused):
    def connect(project: str, roles: str) -> Connection:
        session = ks_session.Session(
            auth=noauth.NoAuth(endpoint=server.url), additional_headers=headers(project, roles)
        )
        return Connection(session=session)

    writer, stranger = connect(unique("sdk"), "member"), connect(unique("sdk-admin"), "admin")
    name = unique("sdk-net")
    network = writer.network.create_network(name=name)
    # keystoneauth's session keeps the cookie: its list after its create sees the create.
    assert [net.id for net in writer.network.networks(name=name)] == [network.id]
    assert writer.network.get_network(network.id).name == name
    assert list(stranger.network.networks(name=name)) == []  # the replica's (paused) answer


def test_bad_read_after_header_is_a_400(server):
    response = httpx.get(f"{server.url}/v2.0/networks", headers={"X-Quark-Read-After": "not-a-position"})
    assert response.status_code == 400
    assert response.json()["NeutronError"]["type"] == "HTTPBadRequest"


def test_lag_beyond_the_bound_sends_reads_to_the_primary(pair, paused):
    env = replica_env(pair.url(pair.standby), max_lag=1.0)
    with quark_server(pair.url(pair.primary), env=env) as lagging:
        name = unique("lagged")
        created = httpx.post(
            f"{lagging.url}/v2.0/networks", json={"network": {"name": name}}, headers=headers(unique("w"))
        )
        assert created.status_code == 201, created.text
        time.sleep(2.5)  # past the 1 s bound, and a probe (every 0.25 s) has seen it
        reader = headers(unique("reader"), "admin")
        assert name in names(httpx.get(f"{lagging.url}/v2.0/networks", params={"name": name}, headers=reader))


def test_replica_down_reads_from_the_primary(pair, server):
    name = unique("down")
    created = httpx.post(f"{server.url}/v2.0/networks", json={"network": {"name": name}}, headers=headers("w"))
    assert created.status_code == 201, created.text
    pair.stop_standby()
    try:
        reader = headers(unique("reader"), "admin")
        on_primary_before = served_by(server, "primary")
        for _ in range(3):  # the first finds the pool's dead connections, the next ones skip the replica
            assert name in names(httpx.get(f"{server.url}/v2.0/networks", params={"name": name}, headers=reader))
        assert served_by(server, "primary") >= on_primary_before + 3
    finally:
        pair.start_standby()
    pair.wait_replayed()


def test_an_unreachable_replica_at_start_leaves_every_read_on_the_primary(pair):
    nobody = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/{pair.database}"
    with quark_server(pair.url(pair.primary), env=replica_env(nobody)) as alone:
        name = unique("alone")
        created = httpx.post(f"{alone.url}/v2.0/networks", json={"network": {"name": name}}, headers=headers("a1"))
        assert created.status_code == 201, created.text
        reader = headers(unique("reader"), "admin")
        assert name in names(httpx.get(f"{alone.url}/v2.0/networks", params={"name": name}, headers=reader))


def test_agents_watches_never_go_back_nor_spin_on_a_lagging_replica(pair, server):
    host = unique("replica-host")
    with httpx.Client(base_url=server.url, headers=headers(unique("nova"), "admin")) as nova:
        report = {"host": host, "agent_type": "Quark L2 agent", "binary": "quark-agent"}
        conf = {"bridge_mappings": {}, "tunnel_ip": "192.0.2.9", "tunnel_types": ["vxlan"]}
        assert nova.post("/v2.0/agents/report", json={"agent": {**report, "configurations": conf}}).status_code == 200
        net = nova.post("/v2.0/networks", json={"network": {"name": host}}).json()["network"]
        cidr = {"network_id": net["id"], "ip_version": 4, "cidr": "10.61.0.0/24", "enable_dhcp": False}
        assert nova.post("/v2.0/subnets", json={"subnet": cidr}).status_code == 201
        port = nova.post("/v2.0/ports", json={"port": {"network_id": net["id"], "device_owner": "compute:x"}})
        port_id = port.json()["port"]["id"]
        with httpx.Client(base_url=server.url, headers=headers(unique("agent"), "admin"), timeout=30) as agent:
            url = f"/v2.0/hosts/{host}/desired_state"
            with replay_paused(pair):
                before = agent.get(url).json()["generation"]
                bound = nova.put(f"/v2.0/ports/{port_id}", json={"port": {"binding:host_id": host}})
                assert bound.json()["port"]["binding:vif_type"] == "bridge", bound.text
                after = nova.get(url).json()  # the binder's own read: the primary's
                assert after["generation"] > before and [p["id"] for p in after["ports"]] == [port_id]

                started = time.monotonic()
                woken = agent.get(url, params={"since": before, "wait": 10}).json()
                # The feed (on the primary) saw the bind; the replica has not replayed it, so its
                # document is the old one: the primary answers at once (no agent polling in a
                # loop while the replica lags).
                assert time.monotonic() - started < 5
                assert woken["generation"] == after["generation"] and len(woken["ports"]) == 1
                # An agent that has seen the newer generation waits out its time and never
                # gets an older document.
                started = time.monotonic()
                fresh = agent.get(url, params={"since": after["generation"], "wait": 1}).json()
                assert time.monotonic() - started >= 0.9
                assert fresh["generation"] == after["generation"] and len(fresh["ports"]) == 1
            woken = agent.get(url, params={"since": before, "wait": 10}).json()
            assert woken["generation"] >= after["generation"]
