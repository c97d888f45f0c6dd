"""One real `quark serve` per database backend, shared by the API tests.

The server runs with no reuse delay so tests can see released addresses
come back; every test creates its own uniquely named resources.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import httpx
import pytest

from tests.dbs import migrated_database, selected_backends
from tests.servers import quark_server


@pytest.fixture(scope="session", params=selected_backends())
def api_server(request, tmp_path_factory):
    with migrated_database(request.param, tmp_path_factory) as url:
        with quark_server(url, env={"QUARK_IPAM_REUSE_AFTER": "0"}) as server:
            yield server


# Seconds after its last report an agent is down, on the dataplane server: longer
# than any test takes on a loaded machine, so an agent a test reported stays alive
# through the test. A test that needs agents of other tests out of the way sets them
# admin-down (an admin change takes effect at once); one that needs an agent to die
# uses the fast_down_server.
DATAPLANE_DOWN_TIME = 120
# The same on the fast_down_server, where agents die while a test waits for it.
FAST_DOWN_TIME = 2


@pytest.fixture(scope="session", params=selected_backends())
def dataplane_server(request, tmp_path_factory):
    """A server for the agent/binding/host-state tests."""
    with migrated_database(request.param, tmp_path_factory) as url:
        with quark_server(
            url, env={"QUARK_IPAM_REUSE_AFTER": "0", "QUARK_AGENT_DOWN_TIME": str(DATAPLANE_DOWN_TIME)}
        ) as server:
            yield server


@pytest.fixture(scope="session")
def fast_down_server(dataplane_server):
    """A second server over the dataplane server's database for the tests of an
    agent's death: to it, agents are down FAST_DOWN_TIME seconds after their
    report. Such a test waits for the death with ``wait_for`` (no fixed sleep:
    as short as the server allows, as long as a loaded machine needs). It moves
    no routers off L3 agents it deems dead (l3_reschedule_interval 0): the
    dataplane server's tests keep theirs."""
    env = {
        "QUARK_IPAM_REUSE_AFTER": "0",
        "QUARK_AGENT_DOWN_TIME": str(FAST_DOWN_TIME),
        "QUARK_L3_RESCHEDULE_INTERVAL": "0",
    }
    with quark_server(dataplane_server.database_url, env=env) as server:
        yield server


def wait_for(condition: Callable[[], bool], what: str, timeout: float = FAST_DOWN_TIME + 30) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.2)


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
