"""The desired-state long-poll across server processes: with `quark serve
--workers 2`, a change made through whichever worker wakes a poll held by
whichever worker (the generation row is the only channel between them).

"Wakes" is told apart from "the wait ran out" by time: the poll asks for the
longest wait the API allows and must return well before half of it has
passed since the change (in practice within a fraction of a second; the
generous bound keeps a loaded CI machine from failing it).
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.servers import quark_server

pytestmark = pytest.mark.slow

# The longest wait the API takes (61 is a 400, see tests/api/test_dataplane.py).
MAX_WAIT = 60
# How long the change waits, so that the poll is surely held when it comes.
PAUSE = 0.6


@pytest.fixture
def two_workers(database_url):
    with quark_server(database_url, workers=2) as server:
        yield server


def _bind_after_a_pause(url: str, port_id: str, host: str) -> float:
    """Bind the port to ``host`` through a new connection (so possibly the
    other worker); the time just before the request. Runs in a thread: its
    assertion reaches the test through the future's result()."""
    time.sleep(PAUSE)
    with httpx.Client(base_url=url, timeout=60) as other:
        changed_at = time.monotonic()
        r = other.put(f"/v2.0/ports/{port_id}", json={"port": {"binding:host_id": host}})
    assert r.status_code == 200, r.text
    assert r.json()["port"]["binding:vif_type"] == "bridge", r.text
    return changed_at


def test_long_poll_wakes_across_workers(two_workers):
    host = f"lp-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=two_workers.url, timeout=MAX_WAIT + 30) as http, ThreadPoolExecutor(1) as pool:
        reported = http.post(
            "/v2.0/agents/report",
            json={
                "agent": {
                    "host": host,
                    "agent_type": "Quark L2 agent",
                    "configurations": {"tunnel_ip": "192.0.2.7", "tunnel_types": ["vxlan"]},
                }
            },
        )
        assert reported.status_code == 200, reported.text
        net = http.post("/v2.0/networks", json={"network": {"name": "lp"}}).json()["network"]
        for attempt in range(4):
            port_id = http.post("/v2.0/ports", json={"port": {"network_id": net["id"]}}).json()["port"]["id"]
            # Read after the create: a new member of the default group changes the
            # remote-group set of the host's earlier ports (docs/security_groups_enforcement.md).
            generation = http.get(f"/v2.0/hosts/{host}/desired_state").json()["generation"]
            change = pool.submit(_bind_after_a_pause, two_workers.url, port_id, host)
            state = http.get(f"/v2.0/hosts/{host}/desired_state", params={"since": generation, "wait": MAX_WAIT})
            woke = time.monotonic()
            changed_at = change.result()  # a failed change fails here, with its own message
            assert state.status_code == 200, state.text
            assert state.json()["generation"] != generation and port_id in [p["id"] for p in state.json()["ports"]]
            assert woke - changed_at < MAX_WAIT / 2, (attempt, woke - changed_at)
    assert "Traceback" not in two_workers.log_text()
