"""database_url with several hosts (quark.db.failover): one URL per host, in order."""

from __future__ import annotations

from quark.db.failover import first_url, split_hosts


def test_a_single_host_url_is_kept_whole():
    for url in (
        "mysql+asyncmy://root@127.0.0.1:3306/quark?charset=utf8mb4",
        "postgresql+asyncpg://quark:secret@db/quark",
        "sqlite+aiosqlite:////var/lib/quark/quark.db",
        "sqlite+aiosqlite:///./var/a,b.db",
    ):
        assert split_hosts(url) == [url]


def test_hosts_are_split_with_credentials_database_and_query_kept():
    url = "mysql+asyncmy://quark:p%40ss@db1:3306,db2:3307, db3/quark?charset=utf8mb4"
    assert split_hosts(url) == [
        "mysql+asyncmy://quark:p%40ss@db1:3306/quark?charset=utf8mb4",
        "mysql+asyncmy://quark:p%40ss@db2:3307/quark?charset=utf8mb4",
        "mysql+asyncmy://quark:p%40ss@db3/quark?charset=utf8mb4",
    ]
    assert first_url(url) == "mysql+asyncmy://quark:p%40ss@db1:3306/quark?charset=utf8mb4"


def test_hosts_without_credentials():
    assert split_hosts("postgresql+asyncpg://a:5432,b:5433/q") == [
        "postgresql+asyncpg://a:5432/q",
        "postgresql+asyncpg://b:5433/q",
    ]


class FakeConnection:
    def __init__(self, status: dict[str, str]) -> None:
        self.status, self.closed = status, False

    def cursor(self):
        conn = self

        class Cursor:
            def execute(self, sql: str) -> None:
                name = sql.split("'")[1]
                self.row = (name, conn.status[name]) if name in conn.status else None

            def fetchone(self):
                return self.row

            def close(self) -> None:
                pass

        return Cursor()

    def close(self) -> None:
        self.closed = True


class FakeDialect:
    """Host a refuses, host b is a Galera node outside the primary component, host c is ready."""

    name = "mysql"

    class loaded_dbapi:  # the DBAPI module's shape
        class OperationalError(Exception):
            pass

    def __init__(self) -> None:
        self.opened: list[FakeConnection] = []

    def connect(self, **params):
        if params["host"] == "a":
            raise ConnectionRefusedError("refused")
        ready = "OFF" if params["host"] == "b" else "ON"
        conn = FakeConnection({"wsrep_on": "ON", "wsrep_ready": ready})
        conn.host = params["host"]
        self.opened.append(conn)
        return conn


def test_connect_skips_refusing_and_not_ready_hosts():
    from sqlalchemy.engine import make_url

    from quark.db.failover import HostRing

    ring = HostRing([make_url(f"mysql+asyncmy://u@{h}:3306/q") for h in "abc"])
    dialect = FakeDialect()
    conn, index = ring.connect(dialect, {"host": "a", "port": 3306, "user": "u"})
    assert (conn.host, index) == ("c", 2)
    assert ring.current == 2 and ring.failovers == 2
    assert [c.closed for c in dialect.opened] == [True, False]  # the not-ready node's connection is closed
    ring.failed(0)  # a stale report about a host no longer current changes nothing
    assert ring.current == 2 and ring.failovers == 2
