"""The desired-state long-poll across server processes: with `quark serve
--workers 2`, a change made through whichever worker wakes a poll held by
whichever worker within about a second (the generation row is the only
channel between them)."""

from __future__ import annotations

import threading
import time
import uuid

import httpx
import pytest

from tests.servers import quark_server

pytestmark = pytest.mark.slow


@pytest.fixture
def two_workers(database_url):
    with quark_server(database_url, workers=2) as server:
        yield server


def test_long_poll_wakes_across_workers(two_workers):
    host = f"lp-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=two_workers.url, timeout=60) as http:
        http.post(
            "/v2.0/agents/report",
            json={
                "agent": {
                    "host": host,
                    "agent_type": "Quark L2 agent",
                    "configurations": {"tunnel_ip": "192.0.2.7", "tunnel_types": ["vxlan"]},
                }
            },
        )
        net = http.post("/v2.0/networks", json={"network": {"name": "lp"}}).json()["network"]
        for attempt in range(4):
            generation = http.get(f"/v2.0/hosts/{host}/desired_state").json()["generation"]
            port_id = http.post("/v2.0/ports", json={"port": {"network_id": net["id"]}}).json()["port"]["id"]
            changed_at: list[float] = []

            def change(port_id: str = port_id, changed_at: list[float] = changed_at) -> None:
                time.sleep(0.6)
                with httpx.Client(base_url=two_workers.url, timeout=60) as other:
                    changed_at.append(time.monotonic())
                    r = other.put(f"/v2.0/ports/{port_id}", json={"port": {"binding:host_id": host}})
                    assert r.json()["port"]["binding:vif_type"] == "bridge"

            thread = threading.Thread(target=change)
            thread.start()
            state = http.get(f"/v2.0/hosts/{host}/desired_state", params={"since": generation, "wait": 20}).json()
            woke = time.monotonic()
            thread.join()
            assert state["generation"] != generation and port_id in [p["id"] for p in state["ports"]]
            assert woke - changed_at[0] < 1.5, attempt
    assert "Traceback" not in two_workers.log_text()
