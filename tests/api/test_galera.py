"""Quark on a 3-node MariaDB Galera cluster with writes sent to every node.

Three `quark serve` processes, one per node: server ``i`` is given the
multi-host URL that starts with node ``i`` (quark.db.failover), so each
writes to its own node and moves to the next when that one dies. Galera's
certification failures (1213 at commit when two nodes wrote the same rows)
are re-run inside Quark; no client sees them.

The cluster (tests/galera.py) is started once for the module and always torn
down; without Galera on the machine these tests are skipped (failed on CI).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest

from quark.db import migrate
from tests.galera import GaleraCluster, Node, galera_cluster
from tests.galera_load import create_networks, create_ports, duplicates, setup_network
from tests.servers import RunningServer, quark_server

CLIENTS = 32
# With every node writing, a transaction may lose several certification
# rounds in a row under load: the setting the README recommends for that topology.
SERVER_ENV = {"QUARK_DB_MAX_ATTEMPTS": "20"}
TABLES = ("networks", "ports", "ip_allocations", "mac_allocations", "segment_allocations")


@pytest.fixture(scope="session")
def galera() -> Iterator[GaleraCluster]:
    with galera_cluster() as cluster:
        migrate.upgrade(cluster.url(0))
        yield cluster


@contextmanager
def servers_on(cluster: GaleraCluster) -> Iterator[list[RunningServer]]:
    """One `quark serve` per node, each preferring its own node."""
    with ExitStack() as stack:
        yield [stack.enter_context(quark_server(cluster.url(i), env=SERVER_ENV)) for i in range(len(cluster.nodes))]


def retries(servers: list[RunningServer]) -> int:
    return sum(server.log_text().count("transaction retry") for server in servers)


def port_ids(cluster: GaleraCluster, node: Node, network_id: str) -> set[str]:
    conn = node.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SET SESSION wsrep_sync_wait = 1")
            cur.execute(f"SELECT id FROM {cluster.database}.ports WHERE network_id = %s", (network_id,))
            return {row[0] for row in cur.fetchall()}
    finally:
        conn.close()


def local_commits(node: Node) -> int:
    return int(node.status("wsrep_local_commits") or 0)


async def test_writes_on_all_three_nodes_give_no_duplicates_and_no_errors(galera):
    with servers_on(galera) as servers:
        urls = [server.url for server in servers]
        commits_before = [local_commits(node) for node in galera.nodes]

        networks = await create_networks(urls, CLIENTS)
        segment_ids = [net["provider:segmentation_id"] for net in networks]
        assert None not in segment_ids
        assert duplicates(segment_ids) == []

        network_id = await asyncio.to_thread(setup_network, urls[0])
        load = await create_ports(urls, network_id, clients=CLIENTS, count=6 * CLIENTS)

        assert load.errors == []
        assert len(load.created) == 6 * CLIENTS
        assert sorted(load.per_server) == [0, 1, 2]  # every server, so every node, took writes
        macs = [port["mac_address"] for port in load.created]
        ips = [ip["ip_address"] for port in load.created for ip in port["fixed_ips"]]
        assert len(ips) == len(load.created)
        assert duplicates(macs) == [] and duplicates(ips) == []
        for node, before in zip(galera.nodes, commits_before, strict=True):
            assert local_commits(node) - before >= 5  # the node committed writes of its own (ports are group-committed)
        ids = {port["id"] for port in load.created}
        for node in galera.nodes:
            assert port_ids(galera, node, network_id) == ids
        print(f"\n{len(ids)} ports at {load.rate:.0f}/s, p99 {load.p99() * 1000:.0f} ms, {retries(servers)} retries")


async def test_a_node_killed_mid_load_loses_no_acknowledged_write_and_rejoins(galera):
    victim = galera.nodes[1]
    survivors = [galera.nodes[0], galera.nodes[2]]
    with servers_on(galera) as servers:
        urls = [server.url for server in servers]
        network_id = await asyncio.to_thread(setup_network, urls[0], "10.41.0.0/16")
        load_task = asyncio.create_task(
            create_ports(urls, network_id, clients=CLIENTS, seconds=14, retry_unavailable=True)
        )
        await asyncio.sleep(4)
        killed_at = time.monotonic()
        await asyncio.to_thread(victim.kill)
        load = await load_task

        # (b) No error but 503s (retried by the clients), and each server, the
        # victim's one too, acknowledges writes again within seconds.
        assert load.errors == []
        resumed = {
            server: min((t for t, s in load.acked_at if s == server and t > killed_at), default=float("inf"))
            - killed_at
            for server in range(3)
        }
        assert max(resumed.values()) < 12, resumed
        acked = {port["id"] for port in load.created}
        assert any(t > killed_at + 6 for t, _ in load.acked_at)  # the load went on after the kill
        for node in survivors:
            assert acked <= port_ids(galera, node, network_id)  # every 201 is on every survivor
        print(
            f"\n{len(acked)} ports acknowledged, {load.unavailable} 503s waited out, "
            f"resumed after {max(resumed.values()):.2f}s, {retries(servers)} retries"
        )

    # (c) The node restarts from its data directory, catches up (IST, or SST
    # when its position is lost) and the three nodes hold the same rows.
    started = time.monotonic()
    await asyncio.to_thread(galera.restart, victim)
    await asyncio.to_thread(galera.wait, 3, None, 90)
    print(f"rejoined in {time.monotonic() - started:.1f}s by {galera.transfer(victim)}")
    assert acked <= port_ids(galera, victim, network_id)
    counts = [{table: galera.count(node, table) for table in TABLES} for node in galera.nodes]
    assert counts[0] == counts[1] == counts[2]


def set_isolated(node: Node, isolated: bool) -> None:
    """Cut the node off the group communication (it stays up, outside the primary component), or back."""
    conn = node.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"SET GLOBAL wsrep_provider_options = 'gmcast.isolate={int(isolated)}'")
    finally:
        conn.close()


def wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


async def test_a_node_outside_the_primary_component_is_left_for_the_next(galera):
    """A partitioned node still accepts connections but answers 1047 to every
    statement: the server on it moves to the next node, the client sees a 201."""
    node = galera.nodes[2]
    with quark_server(galera.url(2), env=SERVER_ENV) as server:  # prefers node 2
        url = server.url
        network_id = await asyncio.to_thread(setup_network, url, "10.42.0.0/24")
        before = await create_ports([url], network_id, clients=1, count=1)
        assert before.errors == []
        set_isolated(node, True)
        try:
            await asyncio.to_thread(wait_for, lambda: node.status("wsrep_ready") == "OFF")
            after = await create_ports([url], network_id, clients=1, count=3)
            assert after.errors == [] and len(after.created) == 3
            assert {port["id"] for port in after.created} <= port_ids(galera, galera.nodes[0], network_id)
        finally:
            set_isolated(node, False)
            await asyncio.to_thread(galera.wait, 3, None, 60)
        assert f"database host 127.0.0.1:{node.port} failed" in server.log_text()
