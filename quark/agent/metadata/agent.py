"""The host-level metadata agent (``quark metadata-agent``): Neutron's
neutron-metadata-agent.

Listens on a unix socket (``metadata_proxy_socket``, mode 0600: only root's
proxies reach it, which is why it may trust their ``X-Forwarded-For`` and
``X-Quark-Network-ID`` / ``X-Quark-Router-ID``). For each request it finds the
instance by the port holding the source address on that network or router
(``lookup``; through the API as the agent's service user, cached briefly),
and forwards the request to Nova's metadata API (``nova_metadata_url``) with
``X-Forwarded-For``, ``X-Instance-ID``, ``X-Tenant-ID`` and
``X-Instance-ID-Signature`` (``signing``). Nova's 200 is relayed with its
body and content type; 400, 403, 404, 409 and 500 as the same status (403
logged: the secrets differ); anything else, or a failed lookup, is 500. An
address no port holds is 404.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from quark.agent.client import AgentApiClient, ApiError
from quark.agent.metadata import signing
from quark.agent.metadata.lookup import PortLookup
from quark.agent.watch import report_forever

log = logging.getLogger(__name__)

METADATA_AGENT_TYPE = "Metadata agent"
METADATA_BINARY = "quark-metadata-agent"
_RELAYED = (200,)
_MIRRORED = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 409: "Conflict", 500: "Internal Server Error"}
_UNKNOWN = "An unknown error has occurred. Please try your request again.\n"


@dataclass
class MetadataAgentConfig:
    host: str
    socket_path: str = "/var/lib/quark/metadata_proxy"
    shared_secret: str = ""
    nova_metadata_url: str = "http://127.0.0.1:8775"
    cache_ttl: float = 5.0
    report_interval: float = 5.0
    timeout: float = 30.0


class MetadataHandler:
    """The request handler (an ASGI app of one route), free of sockets for unit tests."""

    def __init__(self, lookup: PortLookup, http: httpx.AsyncClient, *, secret: str, nova_url: str):
        self.lookup = lookup
        self.http = http
        self.secret = secret
        self.nova_url = nova_url.rstrip("/")
        methods = ["GET", "HEAD", "POST", "PUT", "DELETE"]
        self.app = Starlette(routes=[Route("/{path:path}", self.handle, methods=methods)])

    async def handle(self, request: Request) -> Response:
        address = request.headers.get(signing.FORWARDED_FOR, "").strip()
        network_id = request.headers.get(signing.NETWORK_ID, "")
        router_id = request.headers.get(signing.ROUTER_ID, "")
        if not address or not (network_id or router_id):
            return PlainTextResponse("400 Bad Request\n", status_code=400)
        try:
            instance = await self.lookup.instance(address, network_id=network_id, router_id=router_id)
        except (ApiError, httpx.HTTPError) as exc:
            log.warning("port lookup for %s failed: %s", address, exc)
            return PlainTextResponse(_UNKNOWN, status_code=500)
        if instance is None:
            log.info("no instance at %s on %s", address, network_id or f"router {router_id}")
            return PlainTextResponse("404 Not Found\n", status_code=404)
        headers = {
            signing.FORWARDED_FOR: address,
            signing.INSTANCE_ID: instance.instance_id,
            signing.TENANT_ID: instance.project_id,
            signing.SIGNATURE: signing.sign(self.secret, instance.instance_id),
        }
        if "content-type" in request.headers:
            headers["Content-Type"] = request.headers["content-type"]
        try:
            resp = await self.http.request(
                request.method,
                self.nova_url + request.url.path,
                params=request.url.query or None,
                content=await request.body(),
                headers=headers,
            )
        except httpx.HTTPError as exc:
            log.warning("Nova metadata API at %s: %s", self.nova_url, exc)
            return PlainTextResponse(_UNKNOWN, status_code=500)
        return self._answer(resp, instance.instance_id)

    @staticmethod
    def _answer(resp: httpx.Response, instance_id: str) -> Response:
        status = resp.status_code
        if status in _RELAYED:
            media = resp.headers.get("content-type", "text/plain")
            return Response(resp.content, status_code=status, headers={"Content-Type": media})
        if status == 403:
            log.warning("Nova's metadata API refused instance %s (403): do the shared secrets match?", instance_id)
        if status in _MIRRORED:
            return PlainTextResponse(f"{status} {_MIRRORED[status]}\n", status_code=status)
        log.warning("Nova's metadata API answered %s for instance %s", status, instance_id)
        return PlainTextResponse(_UNKNOWN, status_code=500)


def unix_listener(path: str) -> socket.socket:
    """The agent's socket, 0600 before anyone can connect (a stale one is replaced)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(1024)
    return sock


class MetadataAgent:
    def __init__(self, client: AgentApiClient, config: MetadataAgentConfig):
        self.client = client
        self.config = config
        if not config.shared_secret:
            log.warning("metadata_proxy_shared_secret is empty: Nova refuses unsigned instance ids unless it has none")

    async def report(self, start_flag: bool) -> None:
        await self.client.report(
            host=self.config.host,
            agent_type=METADATA_AGENT_TYPE,
            binary=METADATA_BINARY,
            configurations={
                "metadata_proxy_socket": self.config.socket_path,
                "nova_metadata_url": self.config.nova_metadata_url,
            },
            start_flag=start_flag,
        )

    async def run(self) -> None:
        lookup = PortLookup(self.client.list_ports, ttl=self.config.cache_ttl)
        sock = unix_listener(self.config.socket_path)
        async with httpx.AsyncClient(timeout=self.config.timeout) as http:
            handler = MetadataHandler(
                lookup, http, secret=self.config.shared_secret, nova_url=self.config.nova_metadata_url
            )
            server = uvicorn.Server(uvicorn.Config(handler.app, log_level="warning", lifespan="off", access_log=False))
            log.info(
                "metadata agent on %s, Nova's metadata API at %s",
                self.config.socket_path,
                self.config.nova_metadata_url,
            )
            reporting = asyncio.create_task(report_forever(self.report, self.config.report_interval))
            try:
                await server.serve(sockets=[sock])
            finally:
                reporting.cancel()
                await asyncio.gather(reporting, return_exceptions=True)
                sock.close()
