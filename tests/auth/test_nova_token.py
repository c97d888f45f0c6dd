"""Nova's network-vif-plugged events carry a token of the [nova] service user
(keystoneauth1 options, as Neutron's [nova] section), checked with the real Keystone."""

from __future__ import annotations

import time

import httpx
import pytest
import yaml

from quark.config import Settings
from quark.services.dataplane.event_sender import HttpEventSender
from quark.services.dataplane.nova_events import NovaEvents

pytestmark = pytest.mark.slow

EVENT = {"name": "network-vif-plugged", "server_uuid": "s1", "tag": "p1", "status": "completed"}


def nova_section(keystone) -> dict:
    """What an operator writes under [nova] (here: the kit's nova user)."""
    auth = yaml.safe_load(keystone.clouds_yaml.read_text())["clouds"]["nova"]["auth"]
    return {"auth_type": "password", **auth, "region_name": "RegionOne", "endpoint_type": "public"}


def recording_sender(settings: Settings, answers: list[int]) -> tuple[HttpEventSender, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(answers.pop(0) if answers else 200, json={})

    sender = HttpEventSender.from_settings(settings)
    sender.client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return sender, seen


def token_user(keystone, token: str) -> str:
    """The user name Keystone says ``token`` belongs to."""
    admin = keystone.auth("admin").session
    resp = admin.get(f"{keystone.url}/auth/tokens", headers={"X-Subject-Token": token})
    return str(resp.json()["token"]["user"]["name"])


async def test_events_carry_the_nova_users_token(keystone):
    settings = Settings(
        nova_events_url="http://nova.invalid/v2.1/os-server-external-events", nova=nova_section(keystone)
    )
    assert NovaEvents(settings, clock=None).enabled
    sender, seen = recording_sender(settings, [401, 200])
    try:
        first = await sender.send([EVENT])
        assert not first.ok and first.retry  # a refused token: retried with a new one
        second = await sender.send([EVENT])
        assert second.ok
    finally:
        await sender.close()
    tokens = [r.headers["X-Auth-Token"] for r in seen]
    assert tokens[0] != tokens[1]
    assert token_user(keystone, tokens[1]) == "nova"
    assert str(seen[1].url) == settings.nova_events_url


async def test_no_nova_section_no_token():
    settings = Settings(nova_events_url="http://nova.invalid/x")
    sender, seen = recording_sender(settings, [])
    try:
        assert (await sender.send([EVENT])).ok
    finally:
        await sender.close()
    assert "X-Auth-Token" not in seen[0].headers
    assert not NovaEvents(Settings(), clock=None).enabled


def test_server_sends_events_with_the_nova_token(keystone, tmp_path):
    """The whole path: quark.toml's [nova] table, a Keystone-authenticated server, a
    port going ACTIVE, and the event reaching 'Nova' with a token of the nova user."""
    import json
    import threading
    import uuid
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from quark.db import migrate
    from tests.keystone import quark_toml
    from tests.servers import quark_server

    seen: list[tuple[str, list]] = []

    class Nova(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.headers.get("X-Auth-Token", ""), body["events"]))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args) -> None:
            pass

    nova = ThreadingHTTPServer(("127.0.0.1", 0), Nova)
    threading.Thread(target=nova.serve_forever, daemon=True).start()
    table = "\n".join(f"{k} = {json.dumps(v)}" for k, v in nova_section(keystone).items())
    events_url = f"http://127.0.0.1:{nova.server_address[1]}/v2.1/os-server-external-events"
    config = quark_toml(keystone, tmp_path, extra=f'nova_events_url = "{events_url}"')
    config.write_text(config.read_text() + f"\n[nova]\n{table}\n")
    url = f"sqlite+aiosqlite:///{tmp_path / 'quark.db'}"
    migrate.upgrade(url)
    try:
        with quark_server(url, env={"QUARK_CONFIG": str(config)}) as server:
            admin = httpx.Client(base_url=server.url, timeout=30, headers={"X-Auth-Token": keystone.token("admin")})
            service = httpx.Client(
                base_url=server.url, timeout=30, headers={"X-Auth-Token": keystone.token("quark-service")}
            )
            host = f"nova-{uuid.uuid4().hex[:6]}"
            configurations = {"tunnel_ip": "192.0.2.9", "tunnel_types": ["vxlan"]}
            report = {"agent": {"host": host, "agent_type": "Quark L2 agent", "configurations": configurations}}
            assert service.post("/v2.0/agents/report", json=report).status_code < 300
            net = admin.post("/v2.0/networks", json={"network": {"name": "nova-token"}}).json()["network"]
            server_uuid = str(uuid.uuid4())
            port = admin.post(
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
            resp = service.put(f"/v2.0/hosts/{host}/port_status", json={"ports": {port["id"]: "ACTIVE"}})
            assert resp.status_code == 200 and resp.json()["updated"] == [port["id"]], resp.text
            deadline = time.time() + 20
            while not seen:
                assert time.time() < deadline, server.log_text()[-3000:]
                time.sleep(0.1)
    finally:
        nova.shutdown()
    token, events = seen[0]
    assert events == [
        {"name": "network-vif-plugged", "server_uuid": server_uuid, "tag": port["id"], "status": "completed"}
    ]
    assert token and token_user(keystone, token) == "nova"
