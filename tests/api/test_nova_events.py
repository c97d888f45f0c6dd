"""Nova network-vif-plugged events through the outbox, against a real server
on every database, delivered to a local HTTP receiver (http.server in a
thread) that fails the first attempts: the event arrives after the retries,
a 4xx ends the retries, and only compute ports produce events."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from quark.db import migrate
from tests.dbs import create_database, row_counts, selected_backends
from tests.servers import quark_server


class Receiver:
    """Answers 500 to the first ``failures`` POSTs, 400 for server_uuid "refuse", else 200."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.requests: list[tuple[int, list[dict]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                events = body["events"]
                if receiver.failures > 0:
                    receiver.failures -= 1
                    code = 500
                elif any(e["server_uuid"] == "refuse" for e in events):
                    code = 400
                else:
                    code = 200
                receiver.requests.append((code, events))
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v2.1/os-server-external-events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def delivered(self) -> list[dict]:
        return [e for code, events in self.requests if code == 200 for e in events]

    def wait_for(self, predicate, timeout: float = 20) -> None:
        deadline = time.time() + timeout
        while not predicate():
            assert time.time() < deadline, self.requests
            time.sleep(0.1)


@pytest.fixture(scope="module", params=selected_backends())
def nova(request, tmp_path_factory):
    receiver = Receiver(failures=2)
    url, drop = create_database(request.param, tmp_path_factory)
    try:
        migrate.upgrade(url)
        with quark_server(
            url,
            env={
                "QUARK_NOVA_EVENTS_URL": receiver.url,
                "QUARK_NOVA_EVENTS_RETRY_DELAY": "0.2",
                "QUARK_NOVA_EVENTS_RETRY_MAX_DELAY": "1",
            },
        ) as server:
            yield server, receiver
    finally:
        receiver.server.shutdown()
        drop()


def test_vif_plugged_event_after_receiver_failures(nova):
    server, receiver = nova
    host = f"nova-{uuid.uuid4().hex[:6]}"
    with httpx.Client(base_url=server.url, timeout=30) as http:
        http.post(
            "/v2.0/agents/report",
            json={
                "agent": {
                    "host": host,
                    "agent_type": "Quark L2 agent",
                    "configurations": {"tunnel_ip": "192.0.2.9", "tunnel_types": ["vxlan"]},
                }
            },
        )
        net = http.post("/v2.0/networks", json={"network": {"name": "nova"}}).json()["network"]
        server_uuid = str(uuid.uuid4())
        vm = http.post(
            "/v2.0/ports",
            json={
                "port": {
                    "network_id": net["id"],
                    "device_owner": "compute:nova",
                    "device_id": server_uuid,
                    "binding:host_id": host,
                }
            },
        ).json()["port"]
        plain = http.post(
            "/v2.0/ports",
            json={"port": {"network_id": net["id"], "device_owner": "network:foo", "binding:host_id": host}},
        ).json()["port"]
        assert vm["status"] == plain["status"] == "BUILD"
        r = http.put(f"/v2.0/hosts/{host}/port_status", json={"ports": {vm["id"]: "ACTIVE", plain["id"]: "ACTIVE"}})
        assert sorted(r.json()["updated"]) == sorted([vm["id"], plain["id"]])

        receiver.wait_for(lambda: receiver.delivered())
        assert receiver.delivered() == [
            {"name": "network-vif-plugged", "server_uuid": server_uuid, "tag": vm["id"], "status": "completed"}
        ]
        assert [code for code, _ in receiver.requests] == [500, 500, 200]  # retried after failures

        # ERROR → a failed event; ACTIVE again → completed again.
        http.put(f"/v2.0/hosts/{host}/port_status", json={"ports": {vm["id"]: "ERROR"}})
        receiver.wait_for(lambda: len(receiver.delivered()) == 2)
        assert receiver.delivered()[-1]["status"] == "failed"

        # Nova refusing an event (4xx) ends its retries.
        refused = http.post(
            "/v2.0/ports",
            json={
                "port": {
                    "network_id": net["id"],
                    "device_owner": "compute:nova",
                    "device_id": "refuse",
                    "binding:host_id": host,
                }
            },
        ).json()
        http.put(f"/v2.0/hosts/{host}/port_status", json={"ports": {refused["port"]["id"]: "ACTIVE"}})
        receiver.wait_for(lambda: any(code == 400 for code, _ in receiver.requests))
        time.sleep(1.5)
        assert sum(code == 400 for code, _ in receiver.requests) == 1
    assert row_counts(server.database_url, "nova_events")["nova_events"] == 3
    assert "Traceback" not in server.log_text()
