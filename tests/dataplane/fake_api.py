"""A fake of the server side of the dataplane contract, for agent tests that
must not depend on the real server: the test sets each host's desired and
DHCP state documents; the fake serves them with the contract's long-poll
semantics and records agent reports and port status pushes. It also
answers ``GET /v2.0/ports`` (the metadata agent's lookups) from the ports
the test sets, with the filters that lookup uses.

Runs uvicorn in a thread on 127.0.0.1 (a free port); thread-safe.
"""

from __future__ import annotations

import asyncio
import copy
import threading
import time
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.servers import free_port


class FakeAgentApi:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._docs: dict[tuple[str, str], dict[str, Any]] = {}  # (kind, host) -> document
        self.reports: list[dict[str, Any]] = []
        self.status_pushes: list[tuple[str, dict[str, str]]] = []
        self.port_status: dict[str, str] = {}
        self.ports: list[dict[str, Any]] = []
        self.port_queries: list[list[tuple[str, str]]] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        app = Starlette(
            routes=[
                Route("/v2.0/agents/report", self._report, methods=["POST"]),
                Route("/v2.0/hosts/{host}/desired_state", self._desired, methods=["GET"]),
                Route("/v2.0/hosts/{host}/dhcp_state", self._dhcp, methods=["GET"]),
                Route("/v2.0/hosts/{host}/port_status", self._status, methods=["PUT"]),
                Route("/v2.0/ports", self._ports, methods=["GET"]),
            ]
        )
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    # --- test side ---------------------------------------------------------------

    def start(self) -> FakeAgentApi:
        self._thread.start()
        deadline = time.time() + 10
        while not self._server.started:
            if time.time() > deadline:
                raise RuntimeError("fake agent API did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def set_desired(self, host: str, ports: list[dict], networks: list[dict]) -> None:
        self._set("desired_state", host, {"ports": ports, "networks": networks})

    def set_dhcp(self, host: str, networks: list[dict]) -> None:
        self._set("dhcp_state", host, {"networks": networks})

    def _set(self, kind: str, host: str, body: dict[str, Any]) -> None:
        with self._lock:
            old = self._docs.get((kind, host), {"generation": 0})
            self._docs[(kind, host)] = {"host": host, "generation": old["generation"] + 1, **copy.deepcopy(body)}

    def set_ports(self, ports: list[dict]) -> None:
        with self._lock:
            self.ports = copy.deepcopy(ports)

    def status_of(self, port_id: str) -> str | None:
        with self._lock:
            return self.port_status.get(port_id)

    # --- server side ---------------------------------------------------------------

    def _doc(self, kind: str, host: str) -> dict[str, Any]:
        with self._lock:
            doc = self._docs.get((kind, host))
            if doc is None:
                doc = (
                    {"host": host, "generation": 0, "ports": [], "networks": []}
                    if kind == "desired_state"
                    else {"host": host, "generation": 0, "networks": []}
                )
            doc = copy.deepcopy(doc)
        if kind == "desired_state":
            for port in doc.get("ports", []):
                port["status"] = self.port_status.get(port["id"], port.get("status", "BUILD"))
        return doc

    async def _poll(self, kind: str, request: Request) -> JSONResponse:
        host = request.path_params["host"]
        since = request.query_params.get("since")
        wait = min(float(request.query_params.get("wait", 0)), 60)
        deadline = time.monotonic() + wait
        doc = self._doc(kind, host)
        # a held poll ends when the fake stops (else stop() waits for it: the agents are gone)
        while (
            since is not None
            and str(doc["generation"]) == since
            and time.monotonic() < deadline
            and not self._server.should_exit
        ):
            await asyncio.sleep(0.05)
            doc = self._doc(kind, host)
        return JSONResponse(doc)

    async def _desired(self, request: Request) -> JSONResponse:
        return await self._poll("desired_state", request)

    async def _dhcp(self, request: Request) -> JSONResponse:
        return await self._poll("dhcp_state", request)

    async def _ports(self, request: Request) -> JSONResponse:
        query = list(request.query_params.multi_items())
        with self._lock:
            self.port_queries.append(query)
            ports = copy.deepcopy(self.ports)
        for key in ("network_id", "device_id", "device_owner"):
            wanted = {v for k, v in query if k == key}
            if wanted:
                ports = [p for p in ports if p.get(key) in wanted]
        for k, v in query:
            if k == "fixed_ips" and v.startswith("ip_address="):
                ip = v.partition("=")[2]
                ports = [p for p in ports if any(f["ip_address"] == ip for f in p.get("fixed_ips", []))]
        return JSONResponse({"ports": ports})

    async def _report(self, request: Request) -> JSONResponse:
        body = await request.json()
        with self._lock:
            self.reports.append(body["agent"])
        return JSONResponse({"agent": {**body["agent"], "id": "fake", "alive": True}})

    async def _status(self, request: Request) -> JSONResponse:
        host = request.path_params["host"]
        body = await request.json()
        with self._lock:
            doc = self._docs.get(("desired_state", host), {"ports": []})
            bound = {p["id"] for p in doc.get("ports", [])}
            updated = [pid for pid in body["ports"] if pid in bound]
            changed = False
            for pid in updated:
                if self.port_status.get(pid) != body["ports"][pid]:
                    self.port_status[pid] = body["ports"][pid]
                    changed = True
            self.status_pushes.append((host, dict(body["ports"])))
            if changed:  # the status is part of the document: a new generation
                doc["generation"] += 1
        return JSONResponse({"updated": updated})
