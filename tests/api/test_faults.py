"""Faults answered as responses: a lost database is a 503 with Retry-After,
an unexpected error a 500, both Neutron bodies, and neither closes the
client's keep-alive connection."""

from __future__ import annotations

import threading
import time
import uuid
from types import SimpleNamespace

import httpx
import pytest
import uvicorn
from starlette.routing import Route

from quark.api.app import create_app
from quark.config import Settings
from tests.dbs import migrated_database, selected_backends
from tests.servers import free_port, quark_server
from tests.tcpproxy import TcpProxy

SERVER_PORTS = {"postgresql": 5432, "mariadb": 3306}


def local_port(response: httpx.Response) -> int:
    """The client side port of the connection that carried ``response``."""
    return response.extensions["network_stream"].get_extra_info("client_addr")[1]


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    assert response.json()["NeutronError"]["type"] == "ServiceUnavailable"
    assert response.headers["x-openstack-request-id"].startswith("req-")
    assert "close" not in response.headers.get("connection", "")


@pytest.mark.parametrize("backend", [b for b in selected_backends() if b in SERVER_PORTS])
def test_database_outage_is_503_on_the_same_connection_and_recovers(backend, tmp_path_factory):
    with migrated_database(backend, tmp_path_factory) as url:
        port = SERVER_PORTS[backend]
        proxy = TcpProxy(("127.0.0.1", port))
        try:
            with quark_server(url.replace(f"127.0.0.1:{port}", f"127.0.0.1:{proxy.port}")) as server:
                with httpx.Client(base_url=server.url, timeout=30) as client:
                    first = client.post("/v2.0/networks", json={"network": {"name": f"o-{uuid.uuid4().hex[:8]}"}})
                    assert first.status_code == 201, first.text
                    conn = local_port(first)

                    proxy.cut()
                    assert client.get("/healthz").status_code == 200  # alive, though not ready
                    not_ready = client.get("/readyz")
                    assert not_ready.status_code == 503 and not_ready.headers["retry-after"] == "1"
                    assert not_ready.json()["database"] == "unreachable"
                    for _ in range(3):
                        for response in (
                            client.get("/v2.0/networks"),
                            client.post("/v2.0/networks", json={"network": {"name": "during-outage"}}),
                        ):
                            assert_unavailable(response)
                            assert local_port(response) == conn  # the same connection, still open
                    rid = response.headers["x-openstack-request-id"]

                    proxy.restore()
                    deadline = time.time() + 15
                    while (listed := client.get("/v2.0/networks")).status_code != 200 and time.time() < deadline:
                        assert_unavailable(listed)
                        time.sleep(0.2)
                    assert listed.status_code == 200, listed.text
                    names = {n["name"] for n in listed.json()["networks"]}
                    assert first.json()["network"]["name"] in names
                    assert "during-outage" not in names
                    created = client.post("/v2.0/networks", json={"network": {"name": "after-outage"}})
                    assert created.status_code == 201, created.text
                    assert local_port(created) == conn
                    assert client.get("/readyz").status_code == 200
                # The error line carries the request id the client got.
                assert any(
                    f"[{rid}]" in line and "database unavailable" in line for line in server.log_text().splitlines()
                )
        finally:
            proxy.cut()


class _Db:
    dialect = "sqlite"
    replica = None

    async def dispose(self) -> None:
        pass


class _BrokenKeystone:
    async def authenticate(self, scope, request_id):
        raise RuntimeError("a bug in auth")


@pytest.fixture(params=["noauth", "broken-keystone"])
def crashing_server(request):
    """Quark's app (its middleware and handlers) under a real uvicorn, with a route that fails
    (and, for broken-keystone, an authentication step that fails on every non-public path)."""

    async def boom(request):
        raise RuntimeError("a bug")

    # The stand-in lists no periodic tasks, so the lifespan starts none (quark.services.background).
    stand_in = SimpleNamespace(db=_Db(), periodic_tasks=[])
    app = create_app(Settings(), services=stand_in)  # type: ignore[arg-type]
    app.router.routes.append(Route("/boom", boom, methods=["GET", "POST"]))
    if request.param == "broken-keystone":
        (quark_mw,) = [m for m in app.user_middleware if m.cls.__name__ == "QuarkMiddleware"]
        quark_mw.kwargs["keystone"] = _BrokenKeystone()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started:
        assert time.time() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_unexpected_error_is_a_neutron_500_and_keeps_the_connection(crashing_server, caplog):
    with httpx.Client(base_url=crashing_server, timeout=10) as client:
        before = client.get("/")
        assert before.status_code == 200
        for method in ("GET", "POST"):
            response = client.request(method, "/boom", json={} if method == "POST" else None)
            assert response.status_code == 500
            assert response.json()["NeutronError"]["type"] == "HTTPInternalServerError"
            assert "a bug" not in response.text  # no internals to the client
            assert response.headers["x-openstack-request-id"].startswith("req-")
            assert "close" not in response.headers.get("connection", "")
            assert local_port(response) == local_port(before)
        after = client.get("/")
        assert after.status_code == 200
        assert local_port(after) == local_port(before)
    assert any("a bug" in str(r.exc_info) for r in caplog.records if r.exc_info)
