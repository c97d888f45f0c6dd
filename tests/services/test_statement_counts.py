"""How many SQL statements the port hot paths send, on SQLite: pinned, so a
change that adds reads shows up here (lower the numbers when you remove some).

Counted with a ``before_cursor_execute`` listener on the engine, from the
transaction's BEGIN to its last statement, in a steady state: a DHCP
agent serves the network, the project has its
default security group, whose remote-group rules concern the hosts of the
network's other ports. What each operation must still do (the binding, the
generations it bumps) is asserted too: fewer statements must not mean less
work done.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from tests.dbs import migrated_database
from tests.services.conftest import ADMIN, Env

# Statements per operation. Before the clean-up: 18, 23, 16, 22. A bound
# create binds before the row goes in (no read-back, no second UPDATE); a
# create or update hands the ports' groups to the security-group hosts'
# subscriber (no re-read of port_security_groups); an update renders the row
# it wrote (no read-back). Telling the hosts (issue 21) is one INSERT into
# host_changes per kind, as the UPDATE of host_generations was (and a host's
# first change no longer costs three more): unchanged numbers. The MAC ranges'
# usage counter (mac_range_usage, as ip_usage for subnets) is one UPDATE of a
# shard per MAC drawn or released (the range named by a subquery on release):
# one more statement each. A bind reads the network's subnets (on a routed
# network the host's segment decides the addresses: segment_hosts): one more.
CREATE_UNBOUND = 18
CREATE_BOUND = 21
BIND_UPDATE = 15
DELETE = 23


@pytest.fixture(scope="module")
def services_database_url(tmp_path_factory):
    """SQLite only (overrides the conftest's backends): the figures are SQLite's."""
    with migrated_database("sqlite", tmp_path_factory) as url:
        yield url


class Counter:
    def __init__(self, env: Env) -> None:
        self.statements: list[str] = []
        self.on = False
        event.listen(env.db.engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn, _cursor, statement, *_rest) -> None:
        if self.on:
            self.statements.append(" ".join(statement.split()))

    @contextmanager
    def counting(self) -> Iterator[list[str]]:
        self.statements.clear()
        self.on = True
        try:
            yield self.statements
        finally:
            self.on = False


@pytest.fixture
async def world(env):
    """L2 agents on h1 and h2, a DHCP agent on d1,
    a VXLAN network with two DHCP subnets and a bound port on each host."""
    await env.report_l2("h1", tunnel_ip="192.0.2.1")
    await env.report_l2("h2", tunnel_ip="192.0.2.2")
    await env.report_dhcp("d1")
    network, _ = await env.network_with_subnet("10.70.0.0/24")
    await env.subnet(network["id"], "10.71.0.0/24")
    for host in ("h1", "h2"):
        await env.port(network["id"], **{"binding:host_id": host})
    return network


def within(statements: list[str], pinned: int) -> None:
    listing = "\n".join(f"  {s[:160]}" for s in statements)
    assert len(statements) <= pinned, f"{len(statements)} statements (pinned: {pinned}):\n{listing}"


async def test_port_hot_paths_statement_counts(env, world):
    counter = Counter(env)
    ports = env.services.ports
    before = await env.generations()

    with counter.counting() as seen:
        unbound = await env.port(world["id"])
    within(seen, CREATE_UNBOUND)
    assert unbound["binding:vif_type"] == "unbound" and len(unbound["fixed_ips"]) == 1

    with counter.counting() as seen:
        bound = await env.port(world["id"], **{"binding:host_id": "h1"})
    within(seen, CREATE_BOUND)
    assert bound["binding:vif_type"] == "bridge" and bound["status"] == "BUILD"
    assert bound["binding:vif_details"]["device_name"].startswith("tap")

    with counter.counting() as seen:
        rebound = await ports.update(ADMIN, unbound["id"], {"binding:host_id": "h2"})
    within(seen, BIND_UPDATE)
    assert rebound["binding:vif_type"] == "bridge" and rebound["revision_number"] == unbound["revision_number"] + 1

    with counter.counting() as seen:
        await ports.delete(ADMIN, bound["id"])
    within(seen, DELETE)

    # Every operation still told the hosts it concerns: h1 and h2 (their own
    # ports, and the default group's remote-group rules), d1 (DHCP).
    after = await env.generations()
    for host, (gen, dhcp) in (("h1", (4, 0)), ("h2", (4, 0)), ("d1", (0, 4))):
        assert (after[host][0] - before[host][0], after[host][1] - before[host][1]) == (gen, dhcp), host
