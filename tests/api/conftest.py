"""One real `quark serve` per database backend, shared by the API tests.

The server runs with no reuse delay so tests can see released addresses
come back; every test creates its own uniquely named resources.
"""

from __future__ import annotations

import pytest

from quark.db import migrate
from tests.dbs import create_database, selected_backends
from tests.servers import quark_server


@pytest.fixture(scope="session", params=selected_backends())
def api_server(request, tmp_path_factory):
    url, drop = create_database(request.param, tmp_path_factory)
    try:
        migrate.upgrade(url)
        with quark_server(url, env={"QUARK_IPAM_REUSE_AFTER": "0"}) as server:
            yield server
    finally:
        drop()


# Seconds after its last report an agent is down, on the dataplane server.
DATAPLANE_DOWN_TIME = 3


@pytest.fixture(scope="session", params=selected_backends())
def dataplane_server(request, tmp_path_factory):
    """A server for the agent/binding/host-state tests: agents go down fast."""
    url, drop = create_database(request.param, tmp_path_factory)
    try:
        migrate.upgrade(url)
        with quark_server(url, env={"QUARK_IPAM_REUSE_AFTER": "0",
                                    "QUARK_AGENT_DOWN_TIME": str(DATAPLANE_DOWN_TIME)}) as server:
            yield server
    finally:
        drop()
