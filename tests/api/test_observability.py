"""The signals operators run on: an access line per request, the request id on
every line a request causes, JSON lines on demand, /healthz and /readyz."""

from __future__ import annotations

import time
import uuid

import httpx
import orjson
import pytest

from quark.db import migrate
from tests.dbs import migrated_database
from tests.servers import quark_server


def lines_with(server, text: str, timeout: float = 5.0) -> list[str]:
    """Log lines containing ``text`` (the access line is written as the response ends: wait a little)."""
    deadline = time.time() + timeout
    while True:
        found = [line for line in server.log_text().splitlines() if text in line]
        if found or time.time() > deadline:
            return found
        time.sleep(0.05)


def test_probes(admin):
    alive = admin.get("/healthz")
    assert alive.status_code == 200 and alive.json() == {"status": "ok"}
    ready = admin.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["schema"] == migrate.head_revision()


def test_one_access_line_per_request_with_who_and_how_long(api_server, tenant):
    name = f"acc-{uuid.uuid4().hex[:8]}"
    created = tenant.post("/v2.0/networks", json={"network": {"name": name}}, headers={"X-User-Id": "u-42"})
    assert created.status_code == 201
    missing = tenant.get(f"/v2.0/networks/{uuid.uuid4()}")
    assert missing.status_code == 404
    for response, request_line, status in (
        (created, '"POST /v2.0/networks"', 201),
        (missing, '"GET /v2.0/networks/', 404),
    ):
        rid = response.headers["x-openstack-request-id"]
        lines = lines_with(api_server, rid)
        access = [line for line in lines if " quark.access " in line]
        assert len(access) == 1, lines
        line = access[0]
        assert f"[{rid}]" in line and request_line in line and f"{status} " in line
        assert f"project={tenant.project_id}" in line
        assert "ms " in line
    assert "user=u-42" in lines_with(api_server, created.headers["x-openstack-request-id"])[-1]
    # uvicorn's own access log is off: no second line per request.
    assert not lines_with(api_server, '"POST /v2.0/networks HTTP/1.1" 201', timeout=0)


def test_query_string_is_in_the_access_line(api_server, admin):
    response = admin.get("/v2.0/networks?limit=1&name=nobody")
    assert response.status_code == 200
    (line,) = lines_with(api_server, response.headers["x-openstack-request-id"])
    assert '"GET /v2.0/networks?limit=1&name=nobody" 200' in line


@pytest.fixture(scope="module")
def json_server(tmp_path_factory):
    with migrated_database("sqlite", tmp_path_factory) as url:
        with quark_server(url, env={"QUARK_LOG_FORMAT": "json"}) as server:
            yield server


def test_json_logs(json_server):
    with httpx.Client(base_url=json_server.url, timeout=30, headers={"X-Project-Id": "pj", "X-Roles": "member"}) as c:
        response = c.get("/v2.0/networks")
    assert response.status_code == 200
    rid = response.headers["x-openstack-request-id"]
    lines_with(json_server, rid)
    text = json_server.log_text()
    complete = text[: text.rfind("\n") + 1]  # a line being written as we read is left out
    entries = [orjson.loads(line) for line in complete.splitlines() if line.strip()]
    assert entries, "no log lines"  # every line parses: orjson.loads raised otherwise
    (access,) = [e for e in entries if e.get("request_id") == rid and e["logger"] == "quark.access"]
    assert access["method"] == "GET" and access["path"] == "/v2.0/networks" and access["status"] == 200
    assert access["project_id"] == "pj" and isinstance(access["duration_ms"], float)
    assert {"time", "level", "process", "message"} <= access.keys()
