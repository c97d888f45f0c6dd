"""Neutron's resources read through its API (``--url``): paged lists
(``limit`` / ``marker``, sorted by id), as an admin (a token from
``--token`` or ``OS_TOKEN``; none for a Neutron in noauth mode).

Router interfaces are the ports whose owner is a router interface; the
``default`` flag of a security group is its name, as Neutron's API shows no
other."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from quark.services.imports.records import ROUTER_INTERFACE_OWNERS

COLLECTIONS = {
    "networks": ("networks", "networks"),
    "subnets": ("subnets", "subnets"),
    "security_groups": ("security-groups", "security_groups"),
    "security_group_rules": ("security-group-rules", "security_group_rules"),
    "routers": ("routers", "routers"),
    "ports": ("ports", "ports"),
    "router_interfaces": ("ports", "ports"),
    "floatingips": ("floatingips", "floatingips"),
}


class ApiSource:
    def __init__(
        self,
        url: str,
        token: str | None = None,
        page_size: int = 500,
        timeout: float = 60,
        headers: dict[str, str] | None = None,
    ) -> None:
        base = url.rstrip("/")
        base = base if base.endswith("/v2.0") else base + "/v2.0"
        headers = {**(headers or {}), **({"X-Auth-Token": token} if token else {})}
        self.http = httpx.AsyncClient(base_url=base, headers=headers, timeout=timeout)
        self.page_size = page_size

    async def close(self) -> None:
        await self.http.aclose()

    async def count(self, kind: str) -> int:
        return sum([len(page) async for page in self._lists(kind, fields=["id", "device_owner"])])

    async def pages(self, kind: str) -> AsyncIterator[list[dict]]:
        async for page in self._lists(kind):
            if kind == "router_interfaces":
                page = [{"id": p["id"], "router_id": p["device_id"], "port_id": p["id"]} for p in page]
            elif kind == "security_groups":
                page = [{**g, "default": g.get("name") == "default"} for g in page]
            if page:
                yield page

    async def _lists(self, kind: str, fields: list[str] | None = None) -> AsyncIterator[list[dict]]:
        path, key = COLLECTIONS[kind]
        params: dict = {"limit": self.page_size, "sort_key": "id", "sort_dir": "asc"}
        if kind == "router_interfaces":
            params["device_owner"] = list(ROUTER_INTERFACE_OWNERS)
        if fields:
            params["fields"] = fields
        marker = None
        while True:
            resp = await self.http.get("/" + path, params={**params, **({"marker": marker} if marker else {})})
            resp.raise_for_status()
            items = resp.json()[key]
            if not items:
                return
            yield items
            if len(items) < self.page_size:
                return
            marker = items[-1]["id"]
