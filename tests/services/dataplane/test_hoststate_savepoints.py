"""A host is bumped once per transaction, and a bump undone by a rolled-back
SAVEPOINT does not count: the host is bumped again by the next change that
concerns it in the same transaction (``hoststate.bump``).

The DHCP scheduler runs each network in a savepoint of one transaction
(``schedule_unserved``): a network that fails must not leave its DHCP host
thinking it was told about the next one.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from quark.services.dataplane import hoststate


async def committed_bumps(env, work) -> dict[str, tuple[int, int]]:
    """host -> (generation, dhcp_generation) increments left by ``work(conn)``
    run in one write transaction."""
    before = await env.generations()
    await env.in_transaction(work)
    after = await env.generations()
    return {
        host: (gen - before.get(host, (0, 0))[0], dhcp - before.get(host, (0, 0))[1])
        for host, (gen, dhcp) in after.items()
        if (gen, dhcp) != before.get(host, (0, 0))
    }


class Undone(Exception):
    """Raised to roll a savepoint back."""


async def in_savepoint(conn: AsyncConnection, work, *, keep: bool) -> None:
    """Run ``work()`` in a savepoint, released if ``keep`` else rolled back."""
    try:
        async with conn.begin_nested():
            await work()
            if not keep:
                raise Undone
    except Undone:
        pass


async def test_a_bump_rolled_back_with_its_savepoint_is_made_again(env):
    async def work(conn):
        await in_savepoint(conn, lambda: hoststate.bump(conn, ["h1"]), keep=False)
        await hoststate.bump(conn, ["h1"])

    assert await committed_bumps(env, work) == {"h1": (1, 0)}


async def test_a_bump_rolled_back_is_made_again_in_the_next_savepoint(env):
    """The scheduler's case: network A's savepoint fails, network B's succeeds."""

    async def work(conn):
        await in_savepoint(conn, lambda: hoststate.bump(conn, ["d1"], dhcp=True), keep=False)
        await in_savepoint(conn, lambda: hoststate.bump(conn, ["d1"], dhcp=True), keep=True)

    assert await committed_bumps(env, work) == {"d1": (0, 1)}


async def test_a_released_savepoints_bump_counts_once(env):
    async def work(conn):
        await in_savepoint(conn, lambda: hoststate.bump(conn, ["h1"]), keep=True)
        await in_savepoint(conn, lambda: hoststate.bump(conn, ["h1"]), keep=True)
        await hoststate.bump(conn, ["h1"])

    assert await committed_bumps(env, work) == {"h1": (1, 0)}


async def test_a_bump_before_a_savepoint_survives_its_rollback(env):
    async def work(conn):
        await hoststate.bump(conn, ["h1"])
        await in_savepoint(conn, lambda: hoststate.bump(conn, ["h1", "h2"]), keep=False)
        await hoststate.bump(conn, ["h1"])

    assert await committed_bumps(env, work) == {"h1": (1, 0)}


async def test_a_bump_released_into_a_savepoint_that_is_rolled_back_is_made_again(env):
    async def work(conn):
        async def outer():
            await in_savepoint(conn, lambda: hoststate.bump(conn, ["h1"]), keep=True)
            await hoststate.bump(conn, ["h1"])  # already done in this savepoint

        await in_savepoint(conn, outer, keep=False)
        await hoststate.bump(conn, ["h1", "h2"])

    assert await committed_bumps(env, work) == {"h1": (1, 0), "h2": (1, 0)}


async def test_the_two_generations_are_told_apart(env):
    async def work(conn):
        await hoststate.bump(conn, ["h1"])
        await in_savepoint(conn, lambda: hoststate.bump(conn, ["h1"], dhcp=True), keep=False)
        await hoststate.bump(conn, ["h1"], dhcp=True)
        await hoststate.bump(conn, ["h1"], dhcp=True)

    assert await committed_bumps(env, work) == {"h1": (1, 1)}


async def test_each_transaction_bumps_again(env):
    async def work(conn):
        await hoststate.bump(conn, ["h1"])

    assert await committed_bumps(env, work) == {"h1": (1, 0)}
    assert await committed_bumps(env, work) == {"h1": (1, 0)}
