"""The dashboard's search box: an IP address, a MAC, a port id or a device id,
answered with the ports the caller may see (the port service's own filters:
``fixed_ips=ip_address=``, ``mac_address``, ``id``, ``device_id``), each
linked to its subnet's heat map at the address (``quark.ipam.grid.leaf_prefix``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from quark import errors
from quark.api.dashboard.listing import PAGE, visible_page
from quark.api.definitions.core import PORT
from quark.ipam.addressing import canonical_ip
from quark.ipam.macs import format_mac, parse_mac
from quark.services.common.listing import ListQuery

UUID = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")


@dataclass
class Found:
    kind: str  # "ip", "mac", "id" (a port or device id), "device"
    ports: list[dict] = field(default_factory=list)
    address: str | None = None


def classify(text: str) -> tuple[str, Any]:
    try:
        return "ip", canonical_ip(text)
    except errors.InvalidInput:
        pass
    try:
        return "mac", parse_mac(text)
    except Exception:  # noqa: BLE001 - any refusal: not a MAC
        pass
    return ("id" if UUID.match(text) else "device"), text


async def run(request: Request, text: str) -> Found:
    kind, value = classify(text)
    ports = request.app.state.services.ports
    if kind == "ip":
        query = ListQuery(limit=PAGE, extra={"fixed_ips": {"ip_address": [str(value)]}})
        return Found(kind, (await visible_page(request, PORT, ports, query)).items, str(value))
    if kind == "mac":
        query = ListQuery(filters={"mac_address": [format_mac(value)]}, limit=PAGE)
        return Found(kind, (await visible_page(request, PORT, ports, query)).items)
    found = []
    if kind == "id":
        found = (await visible_page(request, PORT, ports, ListQuery(filters={"id": [text]}, limit=1))).items
    by_device = await visible_page(request, PORT, ports, ListQuery(filters={"device_id": [text]}, limit=PAGE))
    seen = {p["id"] for p in found}
    return Found(kind, found + [p for p in by_device.items if p["id"] not in seen])
