"""A database_url with several hosts (quark.db.failover): Quark moves to the next
host when the one in use refuses or drops its connections, inside the request
(the transaction is re-run there), without a restart.

Two TCP forwarders in front of the one local server stand for two nodes; cutting
one is that node dying (every open connection reset, new ones refused)."""

from __future__ import annotations

from contextlib import asynccontextmanager

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from quark.db.engine import Database, is_outage
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


@pytest.fixture
def proxies(server_url):
    """Two forwarders to the one server: two "nodes" a test can kill."""
    target = (make_url(server_url).host, make_url(server_url).port)
    pair = TcpProxy(target), TcpProxy(target)
    yield pair
    for proxy in pair:
        proxy.close()


@asynccontextmanager
async def database(server_url: str, proxies, pool_size: int = 2):
    db = Database(multi_host(server_url, *(proxy.port for proxy in proxies)), pool_size=pool_size, max_overflow=0)
    try:
        yield db
    finally:
        await db.dispose()


async def _select_one(conn):
    return (await conn.execute(text("SELECT 1"))).scalar_one()


async def test_a_dead_host_is_left_for_the_next_one_mid_flight(server_url, proxies):
    async with database(server_url, proxies, pool_size=4) as db:
        assert await db.run_write(_select_one) == 1
        assert db.ring is not None and db.ring.current == 0 and db.ring.failovers == 0
        proxies[0].cut()  # the node in use dies: its pooled connection is reset, new ones refused
        assert await db.run_write(_select_one) == 1  # re-run on the second host, no error
        assert db.ring.current == 1 and db.ring.failovers == 1
        async with db.read() as conn:  # reads follow
            assert await _select_one(conn) == 1


async def test_a_host_refusing_at_start_is_skipped(server_url, proxies):
    proxies[0].cut()
    async with database(server_url, proxies) as db:
        assert await db.run_write(_select_one) == 1
        assert db.ring is not None and db.ring.current == 1


async def test_every_host_down_is_an_outage_not_a_hang(server_url, proxies):
    for proxy in proxies:
        proxy.cut()
    async with database(server_url, proxies) as db:
        with pytest.raises(Exception) as caught:
            await db.run_write(_select_one)
        assert is_outage(caught.value)


def test_migrations_go_through_the_first_host_that_answers(server_url, proxies, tmp_path_factory):
    from quark.db import migrate
    from tests.dbs import create_database, row_counts

    backend = "mariadb" if make_url(server_url).get_backend_name() == "mysql" else "postgresql"
    url, drop = create_database(backend, tmp_path_factory)
    try:
        proxies[0].cut()
        migrate.upgrade(multi_host(url, *(proxy.port for proxy in proxies)))
        assert row_counts(url, "alembic_version") == {"alembic_version": 1}
    finally:
        drop()
