"""How ``quark agent`` and ``quark dhcp`` authenticate to the API.

With ``cloud`` (a cloud of a clouds.yaml, e.g. ``quark-service`` with
``$OS_CLIENT_CONFIG_FILE``) or an ``[agent.auth]`` table of keystoneauth1
loading options, every request carries the service user's token in
``X-Auth-Token``. keystoneauth1's session fetches it, keeps it and fetches a
new one before it expires; a request the API answers with 401 (a token
revoked meanwhile) is sent once more with a fresh token. Without either, the
agents send no token (a noauth API), or the fixed ``api_token``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import httpx

from quark.keystone import ServiceAuth, from_cloud, from_options


class KeystoneTokenAuth(httpx.Auth):
    """httpx auth flow: the session's current token on every request, renewed on 401."""

    def __init__(self, service: ServiceAuth) -> None:
        self.service = service

    async def _token(self) -> str:
        if self.service.needs_keystone():
            return await asyncio.to_thread(self.service.token)
        return self.service.token()

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers["X-Auth-Token"] = await self._token()
        response = yield request
        if response.status_code == 401:
            self.service.invalidate()
            request.headers["X-Auth-Token"] = await self._token()
            yield request


def agent_auth(cloud: str, options: Mapping[str, Any]) -> KeystoneTokenAuth | None:
    """The agents' auth from their settings (None: no Keystone)."""
    if cloud:
        return KeystoneTokenAuth(from_cloud(cloud))
    if options:
        return KeystoneTokenAuth(from_options(options))
    return None
