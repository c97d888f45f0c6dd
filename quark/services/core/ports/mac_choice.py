"""A port's MAC: one asked for (unique on its network), or one from the MAC
ranges (``quark.ipam.mac_allocator``)."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors
from quark.db import models
from quark.ipam import macs
from quark.ipam.mac_allocator import MacAllocator

p = models.ports

# Reused MACs tried before giving up (a reused MAC may be in use on the network
# by an explicitly set port).
MAC_ATTEMPTS = 8


class ChosenMac(NamedTuple):
    text: str  # "fa:16:3e:12:34:56"
    value: int
    owned: bool  # taken from a MAC range: released there when the port lets go of it


class MacChoice:
    def __init__(self, allocator: MacAllocator) -> None:
        self.allocator = allocator

    @staticmethod
    async def taken(conn: AsyncConnection, network_id: str, mac_text: str) -> bool:
        return bool(
            await conn.scalar(select(exists().where(p.c.network_id == network_id, p.c.mac_address == mac_text)))
        )

    async def explicit(self, conn: AsyncConnection, network_id: str, mac_text: str) -> ChosenMac:
        """The MAC asked for, if no port of the network has it (409 otherwise);
        owned if it belongs to a MAC range (then released like any other)."""
        if await self.taken(conn, network_id, mac_text):
            raise errors.MacAddressInUse(net_id=network_id, mac=mac_text)
        value = macs.parse_mac(mac_text)
        return ChosenMac(mac_text, value, await self.allocator.record_explicit(conn, value))

    async def allocate(self, conn: AsyncConnection, network_id: str) -> ChosenMac:
        """A MAC from the ranges; a reused one is checked against the network's ports."""
        avoid: set[int] = set()
        while len(avoid) < MAC_ATTEMPTS:
            got = await self.allocator.allocate(conn, avoid=avoid)
            if got is None:
                break
            value, reused = got
            text = macs.format_mac(value)
            if not reused or not await self.taken(conn, network_id, text):
                return ChosenMac(text, value, True)
            avoid.add(value)
        raise errors.MacAddressGenerationFailure(net_id=network_id)

    async def release(self, conn: AsyncConnection, mac_text: str) -> None:
        await self.allocator.release(conn, macs.parse_mac(mac_text))
