"""The hosts' change log (issue 21, "No hot rows"): changes that tell one host
insert rows and never wait on each other; the long-polls still wake for every
change; the fold of the log into the bases never loses (nor invents) a wake-up.

(a) needs row locks that SQLite does not have (it runs one write transaction
at a time), so it runs on PostgreSQL and MariaDB; the rest on all three.
"""

from __future__ import annotations

import asyncio
import random

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from quark.services.dataplane import hoststate
from tests.services.conftest import ADMIN
from tests.services.dataplane.test_hoststate import bumps

# Bounds that tell "woke up" / "did not wait" from "ran into the timeout".
WAIT = 20.0
QUICK = 10.0


@pytest.fixture
async def env(make_env):
    """Single-port creates in transactions of their own (no group commit)."""
    return await make_env(port_create_batch=0)


@pytest.fixture
async def net(env):
    """An L2 agent on h1, a DHCP agent on d1, a VXLAN network with a DHCP
    subnet (its DHCP port on d1); the log folded, as a running server keeps it."""
    await env.report_l2("h1", tunnel_ip="192.0.2.1")
    await env.report_dhcp("d1")
    network, subnet = await env.network_with_subnet("10.92.0.0/24")
    await env.services.hosts.fold_changes()
    return network, subnet


def served(dhcp_doc: dict) -> set[str]:
    """The ports a DHCP state document answers for."""
    return {h["port_id"] for n in dhcp_doc["networks"] for h in n["hosts"]}


def bound(host: str) -> dict:
    return {"security_groups": [], "binding:host_id": host}


# --- (a) no shared row ------------------------------------------------------------------


async def test_port_creates_on_one_dhcp_network_do_not_wait_on_each_other(env, net, monkeypatch):
    """A port create is held open right after it told d1 and h1; a second
    create on the same network (same DHCP host, same bound host) commits
    meanwhile. With a counter row per host (before issue 21) the second
    waited for the first's row lock until it committed."""
    if env.db.dialect == "sqlite":
        pytest.skip("SQLite runs one write transaction at a time")
    network, subnet = net
    # Each create takes its address from a subnet of its own: the allocator's
    # cursor row of a subnet (subnets.next_ip_key) is locked by a create
    # until it commits, the IPAM's own per-subnet serialisation, not a host's.
    other = await env.subnet(network["id"], "10.94.0.0/24")
    await env.services.hosts.fold_changes()
    before = await env.generations()
    held, release = asyncio.Event(), asyncio.Event()
    notify = hoststate.notify_ports

    async def holding(conn: AsyncConnection, *args, **kwargs) -> None:
        await notify(conn, *args, **kwargs)
        if not held.is_set():  # the first create: hold its transaction open
            held.set()
            await release.wait()

    monkeypatch.setattr(hoststate, "notify_ports", holding)
    first = asyncio.create_task(env.port(network["id"], fixed_ips=[{"subnet_id": subnet["id"]}], **bound("h1")))
    try:
        await asyncio.wait_for(held.wait(), QUICK)
        second = await asyncio.wait_for(
            env.port(network["id"], fixed_ips=[{"subnet_id": other["id"]}], **bound("h1")), QUICK
        )
        assert not first.done()
        # The second is committed and its hosts see it while the first is open.
        during = await env.generations()
        assert bumps(before, during) == {"d1": (0, 1), "h1": (1, 0)}
    finally:
        release.set()
    first_port = await first
    assert first_port["id"] != second["id"]
    assert bumps(before, await env.generations()) == {"d1": (0, 2), "h1": (2, 0)}


# --- (b) the long-polls still wake --------------------------------------------------


async def woken(env, host: str, change, *, dhcp: bool) -> dict:
    """Hold a long-poll of ``host`` at its current generation, make ``change``,
    and answer the document the poll returned (it must return before WAIT)."""
    fetch = env.services.hosts.dhcp_state if dhcp else env.services.hosts.desired_state
    now = (await fetch(ADMIN, host))["generation"]
    poll = asyncio.create_task(fetch(ADMIN, host, now, WAIT))
    await asyncio.sleep(0.3)
    assert not poll.done(), "the poll returned with nothing changed"
    await change()
    doc = await asyncio.wait_for(poll, QUICK)
    assert doc["generation"] != now
    return doc


async def test_the_long_polls_wake_for_a_port_create_bind_and_delete(env, net):
    network, _ = net
    created: dict = {}

    async def create() -> None:
        created.update(await env.port(network["id"], security_groups=[]))

    doc = await woken(env, "d1", create, dhcp=True)
    assert created["id"] in served(doc)

    async def bind() -> None:
        await env.services.ports.update(ADMIN, created["id"], {"binding:host_id": "h1"})

    doc = await woken(env, "h1", bind, dhcp=False)
    assert created["id"] in {p["id"] for p in doc["ports"]}
    await env.services.hosts.fold_changes()  # a fold between changes changes nothing

    async def delete() -> None:
        await env.services.ports.delete(ADMIN, created["id"])

    doc = await woken(env, "h1", delete, dhcp=False)
    assert created["id"] not in {p["id"] for p in doc["ports"]}


async def test_the_dhcp_poll_wakes_for_a_port_delete_and_a_subnet_change(env, net):
    network, subnet = net
    port = await env.port(network["id"], security_groups=[])

    async def delete() -> None:
        await env.services.ports.delete(ADMIN, port["id"])

    assert port["id"] in served(await env.services.hosts.dhcp_state(ADMIN, "d1"))
    assert port["id"] not in served(await woken(env, "d1", delete, dhcp=True))

    async def nameservers() -> None:
        await env.services.subnets.update(ADMIN, subnet["id"], {"dns_nameservers": ["192.0.2.53"]})

    doc = await woken(env, "d1", nameservers, dhcp=True)
    assert "192.0.2.53" in str(doc["networks"])

    async def add_subnet() -> None:
        await env.subnet(network["id"], "10.93.0.0/24")

    doc = await woken(env, "d1", add_subnet, dhcp=True)
    assert "10.93.0.0/24" in str(doc["networks"])


# --- (c) the fold ----------------------------------------------------------------------


async def test_a_fold_keeps_every_generation_and_wakes_nobody(env, net):
    network, _ = net
    for _ in range(3):
        await env.port(network["id"], **bound("h1"))
    before = await env.generations()
    assert await env.count(hoststate.hc) > 0
    hosts = env.services.hosts
    now = (await hosts.dhcp_state(ADMIN, "d1"))["generation"]
    poll = asyncio.create_task(hosts.dhcp_state(ADMIN, "d1", now, 1.5))
    assert await hosts.fold_changes() > 0
    assert await env.count(hoststate.hc) == 0
    assert await env.generations() == before
    assert (await poll)["generation"] == now  # the wait ran out: the fold is no change
    assert await hosts.fold_changes() == 0
    await env.port(network["id"], **bound("h1"))
    assert bumps(before, await env.generations()) == {"d1": (0, 1), "h1": (1, 0)}


async def test_a_change_committed_during_a_fold_is_never_lost(env, net):
    """A change whose transaction is open while a fold runs (PostgreSQL's fold
    does not see it; MariaDB's waits for it) is counted once, by the log or
    by the base; then a fold folds it."""
    if env.db.dialect == "sqlite":
        pytest.skip("SQLite runs one write transaction at a time")
    before = await env.generations()
    held, release = asyncio.Event(), asyncio.Event()

    async def change(conn: AsyncConnection) -> None:
        await hoststate.bump(conn, ["d1"], dhcp=True)
        held.set()
        await release.wait()

    open_change = asyncio.create_task(env.in_transaction(change))
    await asyncio.wait_for(held.wait(), QUICK)
    await env.in_transaction(lambda conn: hoststate.bump(conn, ["d1"], dhcp=True))  # one committed
    fold = asyncio.create_task(env.services.hosts.fold_changes())
    await asyncio.sleep(0.3)
    release.set()
    await open_change
    await asyncio.wait_for(fold, QUICK)
    assert (await env.generations())["d1"][1] == before["d1"][1] + 2
    await env.services.hosts.fold_changes()
    assert (await env.generations())["d1"][1] == before["d1"][1] + 2
    assert await env.count(hoststate.hc) == 0


async def test_folds_racing_changes_lose_no_change_and_never_go_back(env, net):
    """Changes and folds (two folders, as two server processes) run at once; a
    reader's generations only grow, and end at the number of changes."""
    start = (await env.generations())["d1"][1]
    changes, done = 40, asyncio.Event()
    seen: list[int] = []

    async def change() -> None:
        await asyncio.sleep(random.random() * 0.5)
        await env.in_transaction(lambda conn: hoststate.bump(conn, ["d1"], dhcp=True))

    async def folder() -> None:
        while not done.is_set():
            await env.services.hosts.fold_changes()
            await asyncio.sleep(0.01)

    async def reader() -> None:
        while not done.is_set():
            async with env.db.read() as conn:
                seen.append(await hoststate.generation(conn, "d1", dhcp=True))
            await asyncio.sleep(0.005)

    background = [asyncio.create_task(t()) for t in (folder, folder, reader)]
    await asyncio.gather(*(change() for _ in range(changes)))
    done.set()
    await asyncio.gather(*background)
    assert seen == sorted(seen), "a generation went back"
    assert (await env.generations())["d1"][1] == start + changes
    await env.services.hosts.fold_changes()
    assert (await env.generations())["d1"][1] == start + changes


async def test_each_server_process_folds_the_log_periodically(make_env):
    env = await make_env(host_changes_fold_interval=0.05)
    await env.in_transaction(lambda conn: hoststate.bump(conn, ["d9"], dhcp=True))
    stop = asyncio.Event()
    task = asyncio.create_task(env.services.hosts.run(stop))
    try:
        for _ in range(200):
            if not await env.count(hoststate.hc):
                break
            await asyncio.sleep(0.05)
        assert await env.count(hoststate.hc) == 0
        assert (await env.generations())["d9"] == (0, 1)
    finally:
        stop.set()
        await asyncio.wait_for(task, QUICK)
