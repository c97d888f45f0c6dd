"""A database_url with several hosts (quark.db.failover): Quark moves to the next
host when the one in use refuses or drops its connections, inside the request
(the transaction is re-run there), without a restart.

Two TCP forwarders in front of the one local server stand for two nodes; cutting
one is that node dying (every open connection reset, new ones refused)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from quark.db.engine import Database
from tests.tcpproxy import TcpProxy


def multi_host(url: str, *ports: int) -> str:
    parsed = make_url(url)
    hosts = ",".join(f"127.0.0.1:{p}" for p in ports)
    return url.replace(f"{parsed.host}:{parsed.port}", hosts, 1)


@pytest.fixture
def server_url(database_url):
    if make_url(database_url).get_backend_name() == "sqlite":
        pytest.skip("one file, no hosts to fail over between")
    return database_url


async def _select_one(conn):
    return (await conn.execute(text("SELECT 1"))).scalar_one()


async def test_a_dead_host_is_left_for_the_next_one_mid_flight(server_url):
    target = (make_url(server_url).host, make_url(server_url).port)
    first, second = TcpProxy(target), TcpProxy(target)
    db = Database(multi_host(server_url, first.port, second.port), pool_size=4, max_overflow=0)
    try:
        assert await db.run_write(_select_one) == 1
        assert db.ring is not None and db.ring.current == 0 and db.ring.failovers == 0
        first.cut()  # the node in use dies: its pooled connection is reset, new ones refused
        assert await db.run_write(_select_one) == 1  # re-run on the second host, no error
        assert db.ring.current == 1 and db.ring.failovers == 1
        async with db.read() as conn:  # reads follow
            assert await _select_one(conn) == 1
    finally:
        await db.dispose()
        first.close()
        second.close()


async def test_a_host_refusing_at_start_is_skipped(server_url):
    target = (make_url(server_url).host, make_url(server_url).port)
    dead, alive = TcpProxy(target), TcpProxy(target)
    dead.cut()
    db = Database(multi_host(server_url, dead.port, alive.port), pool_size=2, max_overflow=0)
    try:
        assert await db.run_write(_select_one) == 1
        assert db.ring is not None and db.ring.current == 1
    finally:
        await db.dispose()
        dead.close()
        alive.close()


async def test_every_host_down_is_an_outage_not_a_hang(server_url):
    target = (make_url(server_url).host, make_url(server_url).port)
    a, b = TcpProxy(target), TcpProxy(target)
    a.cut()
    b.cut()
    db = Database(multi_host(server_url, a.port, b.port), pool_size=2, max_overflow=0)
    from quark.db.engine import is_outage

    try:
        with pytest.raises(Exception) as caught:
            await db.run_write(_select_one)
        assert is_outage(caught.value)
    finally:
        await db.dispose()
