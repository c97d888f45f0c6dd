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
