"""The agents' HTTP client of the Quark agent API (dataplane contract).

One ``httpx.AsyncClient`` per agent. The long polls (``desired_state``,
``dhcp_state``) ask the server to hold the request up to ``wait`` seconds
and return as soon as the host's generation differs from ``since``; the
client's read timeout is ``wait`` plus a margin so a held request is never
cut short by the client.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

log = logging.getLogger(__name__)

L2_AGENT_TYPE = "Quark L2 agent"
L2_BINARY = "quark-agent"
DHCP_AGENT_TYPE = "DHCP agent"
DHCP_BINARY = "quark-dhcp"
L3_AGENT_TYPE = "L3 agent"
L3_BINARY = "quark-l3-agent"


class ApiError(Exception):
    def __init__(self, status: int, body: str):
        super().__init__(f"HTTP {status}: {body[:500]}")
        self.status = status


class AgentApiClient:
    def __init__(
        self,
        api_url: str,
        *,
        token: str = "",
        auth: httpx.Auth | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        """``auth``: a Keystone service user's tokens (quark.agent.auth); ``token``: a fixed one."""
        headers = {"Accept": "application/json"}
        if token:
            headers["X-Auth-Token"] = token
        self.timeout = timeout
        self._http = httpx.AsyncClient(
            base_url=api_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport, auth=auth
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AgentApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: httpx.QueryParams | dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        resp = await self._http.request(
            method, path, json=json, params=params, timeout=timeout if timeout is not None else self.timeout
        )
        if resp.status_code >= 300:
            raise ApiError(resp.status_code, resp.text)
        return resp.json() if resp.content else None

    async def report(
        self, *, host: str, agent_type: str, binary: str, configurations: dict[str, Any], start_flag: bool
    ) -> dict[str, Any]:
        """Register / heartbeat (upsert by agent_type and host)."""
        body = {
            "agent": {
                "host": host,
                "agent_type": agent_type,
                "binary": binary,
                "configurations": configurations,
                "start_flag": start_flag,
            }
        }
        agent: dict[str, Any] = (await self._call("POST", "/v2.0/agents/report", json=body))["agent"]
        return agent

    async def _watch(self, what: str, host: str, since: Any, wait: float) -> dict[str, Any]:
        params: dict[str, Any] = {"wait": int(wait)}
        if since is not None:
            params["since"] = since
        doc: dict[str, Any] = await self._call(
            "GET", f"/v2.0/hosts/{host}/{what}", params=params, timeout=wait + self.timeout
        )
        return doc

    async def desired_state(self, host: str, *, since: Any = None, wait: float = 30) -> dict[str, Any]:
        return await self._watch("desired_state", host, since, wait)

    async def dhcp_state(self, host: str, *, since: Any = None, wait: float = 30) -> dict[str, Any]:
        return await self._watch("dhcp_state", host, since, wait)

    async def list_ports(self, params: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """``GET /v2.0/ports`` with filters (repeated keys allowed), as the agent's service user."""
        body = await self._call("GET", "/v2.0/ports", params=httpx.QueryParams(tuple(params)))
        return list(body["ports"])

    async def port_status(self, host: str, statuses: dict[str, str]) -> list[str]:
        body = await self._call("PUT", f"/v2.0/hosts/{host}/port_status", json={"ports": statuses})
        return list((body or {}).get("updated", []))

    async def l3_status(
        self,
        host: str,
        routers: dict[str, str],
        floating_ips: dict[str, str],
        ha_states: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {"routers": routers, "floatingips": floating_ips}
        if ha_states:
            payload["ha_states"] = ha_states
        body = await self._call("PUT", f"/v2.0/hosts/{host}/l3_status", json=payload)
        return dict((body or {}).get("updated", {}))
