"""Several database servers behind one URL: connect to one, move on when it dies.

``database_url`` may name several hosts, comma-separated, where a URL has
one (``mysql+asyncmy://quark:pw@db1:3306,db2:3306,db3/quark`` — the nodes of
a Galera cluster, all writable). Quark's connections all go to the current
host, the first one at start; when a connection to it is refused or lost, or
the node answers that it is not part of the cluster's primary component
(MariaDB 1047, ``wsrep_ready`` OFF), the current host becomes the next one
that accepts a connection, in the URL's order and round again. Nothing
returns to a host by itself: a revived node gets connections again when the
one in use fails (or at the process's restart).

The pool's connections to the failed host are discarded (SQLAlchemy
invalidates the whole pool on a disconnect), and ``Database.run_write``
re-runs the transaction that failed on it, so a write is acknowledged only
once a live node committed it. Give each API host the list starting with its
nearest node to spread the writes over the cluster.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

LOG = logging.getLogger(__name__)

# scheme://[user[:password]@]HOSTS[/database][?query]; passwords are URL-encoded (no '@' or '/').
_URL = re.compile(r"^(?P<head>[^:/]+://(?:[^@/]*@)?)(?P<hosts>[^/?]*)(?P<tail>.*)$")
# MariaDB/MySQL codes after which a connection's server must not be used again:
# 1047 (WSREP has not yet prepared node for application use: a non-primary node).
NODE_NOT_READY = {1047}


def split_hosts(url: str) -> list[str]:
    """One URL per host of a multi-host ``url`` (``url`` itself when it names one host)."""
    match = _URL.match(url)
    if match is None or "," not in match["hosts"]:
        return [url]
    return [f"{match['head']}{host.strip()}{match['tail']}" for host in match["hosts"].split(",") if host.strip()]


def first_url(url: str) -> str:
    return split_hosts(url)[0]


def error_code(orig: Any) -> int | str | None:
    """The server's error number (MySQL) or SQLSTATE (PostgreSQL) of a driver exception."""
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if isinstance(sqlstate, str):
        return sqlstate
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):
        return args[0]
    return None


class HostRing:
    """The hosts of one engine and which of them its new connections go to."""

    def __init__(self, urls: list[URL]) -> None:
        self.urls = urls
        self.current = 0
        self.failovers = 0  # times the current host changed
        self._lock = threading.Lock()

    def failed(self, index: int) -> None:
        """Connections to host ``index`` broke: the next connection tries the host after it first."""
        with self._lock:
            if index == self.current:
                self.current = (index + 1) % len(self.urls)
                self.failovers += 1
                LOG.warning(
                    "database host %s failed; moving to %s",
                    _hostport(self.urls[index]),
                    _hostport(self.urls[self.current]),
                )

    def connect(self, dialect, cparams: dict) -> Any:
        """A DBAPI connection to the first host, from the current one, that accepts one and is ready."""
        start, last_error = self.current, None
        for offset in range(len(self.urls)):
            index = (start + offset) % len(self.urls)
            url = self.urls[index]
            params = dict(cparams, host=url.host, port=url.port)
            if url.port is None:
                params.pop("port")  # the driver's default port, not another host's
            try:
                conn = dialect.connect(**params)
            except Exception as exc:  # noqa: BLE001 - refused, unreachable: try the next host
                last_error = exc
                self.failed(index)
                continue
            if dialect.name == "mysql" and not _wsrep_ready(conn):
                conn.close()
                last_error = dialect.loaded_dbapi.OperationalError(
                    1047, "WSREP has not yet prepared node for application use"
                )
                self.failed(index)
                continue
            return conn, index
        assert last_error is not None
        raise last_error


def _hostport(url: URL) -> str:
    return f"{url.host}:{url.port}" if url.port else str(url.host)


def _wsrep_ready(conn: Any) -> bool:
    """False for a Galera node outside the primary component (it answers 1047 to everything)."""

    def value(sql: str) -> str | None:
        cursor = conn.cursor()
        try:
            cursor.execute(sql)
            row = cursor.fetchone()
        finally:
            cursor.close()
        return None if row is None else str(row[1]).upper()

    if value("SHOW VARIABLES LIKE 'wsrep_on'") != "ON":
        return True  # not a Galera node
    return value("SHOW STATUS LIKE 'wsrep_ready'") == "ON"


def install(engine: AsyncEngine, urls: list[str]) -> HostRing:
    """Make ``engine`` connect through a ring of ``urls`` (its own URL is the first)."""
    ring = HostRing([make_url(u) for u in urls])
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "do_connect")
    def _connect(dialect, conn_rec, _cargs, cparams):
        conn, index = ring.connect(dialect, cparams)
        conn_rec.info["quark_host"] = index
        return conn

    @event.listens_for(sync_engine, "handle_error")
    def _on_error(context):
        orig = context.original_exception
        if error_code(orig) in NODE_NOT_READY:
            context.is_disconnect = True  # discard the connection (and the pool's others)
        if context.is_disconnect and context.connection is not None:
            try:
                index = context.connection.info.get("quark_host")
            except Exception:  # noqa: BLE001 - the connection is already gone
                index = None
            if index is not None:
                ring.failed(index)

    return ring
