"""One real `quark serve` per database backend, shared by the API tests.

The server runs with no reuse delay so tests can see released addresses
come back; every test creates its own uniquely named resources.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.dbs import migrated_database, selected_backends
from tests.servers import quark_server


@pytest.fixture(scope="session", params=selected_backends())
def api_server(request, tmp_path_factory):
    with migrated_database(request.param, tmp_path_factory) as url:
        with quark_server(url, env={"QUARK_IPAM_REUSE_AFTER": "0"}) as server:
            yield server


# Seconds after its last report an agent is down, on the dataplane server.
DATAPLANE_DOWN_TIME = 3


@pytest.fixture(scope="session", params=selected_backends())
def dataplane_server(request, tmp_path_factory):
    """A server for the agent/binding/host-state tests: agents go down fast."""
    with migrated_database(request.param, tmp_path_factory) as url:
        with quark_server(
            url, env={"QUARK_IPAM_REUSE_AFTER": "0", "QUARK_AGENT_DOWN_TIME": str(DATAPLANE_DOWN_TIME)}
        ) as server:
            yield server


@pytest.fixture
def admin(api_server):
    """An httpx client with no project header: admin in noauth mode."""
    with httpx.Client(base_url=api_server.url, timeout=30) as client:
        yield client


@pytest.fixture
def tenant(api_server):
    """An httpx client acting as a fresh project (its own default group, its own
    resources); ``client.project_id`` names it."""
    project_id = f"t-{uuid.uuid4().hex[:10]}"
    with httpx.Client(
        base_url=api_server.url, timeout=30, headers={"X-Project-Id": project_id, "X-Roles": "member"}
    ) as client:
        client.project_id = project_id
        yield client
