"""Opening an ovsdbapp connection to an OVN database (NB for the writes, SB for the gateway chassis)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ovsdbapp.backend.ovs_idl import connection

from quark.drivers.base import RetryableError

RECONNECT_MAX_BACKOFF_MS = 1000


def open_api(
    url: str,
    schema: str,
    backend: type,
    timeout: float,
    tables: Sequence[str] | None = None,
    indexes: Callable[[Any], None] | None = None,
) -> tuple[connection.Connection, Any]:
    """A connection and an API object of ``backend``'s class. ovsdbapp keeps a backend's
    connection on its class (one per process): each call makes a class of its own, so two
    drivers (two databases, a test's restarts) never share one. ``indexes`` is given the
    IDL before the connection starts (an index made later misses the rows already read).
    Unreachable: retryable."""
    try:
        idl = connection.OvsdbIdl.from_server(url, schema, helper_tables=tables)
        if indexes is not None:
            indexes(idl)
        session = getattr(idl, "_session", None)  # come back within a second of the server
        if session is not None:
            session.reconnect.set_backoff(250, RECONNECT_MAX_BACKOFF_MS)
        conn = connection.Connection(idl=idl, timeout=timeout)
        api = type(f"Quark{schema}", (backend,), {"_ovsdb_connection": None})(conn)
    except Exception as exc:
        raise RetryableError(f"{schema} {url} unreachable: {exc}") from exc
    return conn, api
