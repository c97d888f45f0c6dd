"""Prefix arithmetic of subnet pools, pure: no database, no I/O.

A pool's free space is a set of maximal aligned blocks (a buddy system): a
``Block`` is a prefix length and the integer of its first address. The
allocator's three moves are written once here, over a ``BlockStore`` (the
database's in quark.ipam.prefix_allocator, ``MemoryBlocks`` in tests):

* ``allocate_any``: the smallest free block that holds a /N (best fit: the
  big blocks stay whole), its lowest /N taken, the rest split into one free
  block per level;
* ``allocate_specific``: the free block holding a given prefix, minus it;
* ``release``: the prefix back, merged with its buddy while the buddy is free.

Each move is a bounded number of store lookups (at most one per prefix
length), whatever the number of allocations: the cost of an allocation does
not grow as the pool fills.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import NamedTuple, Protocol

from quark import errors
from quark.ipam.addressing import IPNetwork
from quark.ipam.pool_errors import EmptySubnetPoolPrefixList, PrefixVersionMismatch

BITS = {4: 32, 6: 128}
# Neutron's defaults per IP version: the smallest prefix length a pool hands
# out unless told, and the unit of a pool's per-project quota (/32: addresses; /64s).
DEFAULT_MIN_PREFIXLEN = {4: 8, 6: 64}
QUOTA_UNIT = {4: 32, 6: 64}


class Block(NamedTuple):
    prefixlen: int
    start: int


def size(prefixlen: int, version: int) -> int:
    return 1 << (BITS[version] - prefixlen)


def block_of(net: IPNetwork) -> Block:
    return Block(net.prefixlen, int(net.network_address))


def network_of(block: Block, version: int) -> IPNetwork:
    address = ipaddress.ip_address(block.start) if version == 4 else ipaddress.IPv6Address(block.start)
    return ipaddress.ip_network(f"{address}/{block.prefixlen}")


def last(block: Block, version: int) -> int:
    return block.start + size(block.prefixlen, version) - 1


def contains(outer: Block, inner: Block, version: int) -> bool:
    return (
        outer.prefixlen <= inner.prefixlen
        and outer.start <= inner.start
        and last(inner, version) <= last(outer, version)
    )


def buddy(block: Block, version: int) -> Block:
    return Block(block.prefixlen, block.start ^ size(block.prefixlen, version))


def parent(block: Block, version: int) -> Block:
    return Block(block.prefixlen - 1, block.start & ~size(block.prefixlen, version))


def split(block: Block, prefixlen: int, version: int) -> tuple[Block, list[Block]]:
    """The lowest /``prefixlen`` of ``block`` and the free blocks left: one per level."""
    rest = [Block(level, block.start + size(level, version)) for level in range(block.prefixlen + 1, prefixlen + 1)]
    return Block(prefixlen, block.start), rest


def carve(block: Block, target: Block, version: int) -> list[Block]:
    """``block`` minus ``target`` (inside it), as maximal aligned blocks."""
    rest = []
    current = block
    while current.prefixlen < target.prefixlen:
        half = current.prefixlen + 1
        low, high = Block(half, current.start), Block(half, current.start + size(half, version))
        if target.start < high.start:
            rest.append(high)
            current = low
        else:
            rest.append(low)
            current = high
    return rest


# --- a pool's prefix list -------------------------------------------------------


def parse_prefix(text: object) -> IPNetwork:
    """One prefix of a pool, as neutron-lib's ``type:subnet`` validator reads it: host
    bits are allowed (cleared when the list is merged), an IPv4 spelling must be canonical."""
    if not isinstance(text, str) or "%" in text or text != text.strip():
        raise errors.InvalidInput(error_message=f"'{text}' is not a valid IP subnet")
    try:
        interface = ipaddress.ip_interface(text)
    except ValueError:
        raise errors.InvalidInput(error_message=f"'{text}' is not a valid IP subnet") from None
    net = interface.network
    if "/" not in text or (net.version == 4 and str(interface) != text):
        raise errors.InvalidInput(error_message=f"'{text}' isn't a recognized IP subnet cidr, '{net}' is recommended")
    return net


def merge(prefixes: Iterable[IPNetwork]) -> list[IPNetwork]:
    """Overlapping and adjacent prefixes merged (Neutron's ``IPSet.compact``), in address order."""
    nets = list(prefixes)
    if not nets:
        return []
    return sorted(ipaddress.collapse_addresses(nets), key=lambda n: (int(n.network_address), n.prefixlen))  # type: ignore[type-var]


def read_prefixes(raw: Sequence[object]) -> tuple[int, list[IPNetwork]]:
    """The IP version and the merged prefixes of a request's list."""
    if not raw:
        raise EmptySubnetPoolPrefixList()
    nets = [parse_prefix(text) for text in raw]
    if len({net.version for net in nets}) > 1:
        raise PrefixVersionMismatch()
    return nets[0].version, merge(nets)


def subtract(nets: Iterable[IPNetwork], removed: Iterable[IPNetwork]) -> list[IPNetwork]:
    """The addresses of ``nets`` not in ``removed``, as merged prefixes."""
    out = list(nets)
    for cut in removed:
        nxt: list[IPNetwork] = []
        for net in out:
            if not net.overlaps(cut):
                nxt.append(net)
            elif net.subnet_of(cut):  # type: ignore[arg-type]
                continue
            else:
                nxt.extend(net.address_exclude(cut) if cut.subnet_of(net) else [net])  # type: ignore[arg-type]
        out = nxt
    return merge(out)


def overlap(a: Iterable[IPNetwork], b: Iterable[IPNetwork]) -> bool:
    others = list(b)
    return any(x.version == y.version and x.overlaps(y) for x in a for y in others)


def covers(outer: Iterable[IPNetwork], inner: IPNetwork) -> bool:
    """Whether ``inner`` lies wholly in one of ``outer`` (merged prefixes)."""
    return any(inner.version == net.version and inner.subnet_of(net) for net in outer)  # type: ignore[arg-type]


def quota_units(prefixlen: int, version: int) -> Fraction:
    """What a /``prefixlen`` costs of a pool's ``default_quota`` (Neutron: /32s or /64s)."""
    return Fraction(2) ** (QUOTA_UNIT[version] - prefixlen)


# --- the allocator's moves over a store of free blocks --------------------------------


class BlockStore(Protocol):
    async def best(self, prefixlen: int) -> Block | None:
        """The free block of the largest prefix length <= ``prefixlen``, lowest first."""

    async def containing(self, start: int) -> Block | None:
        """The free block with the greatest start <= ``start`` (it may not reach it)."""

    async def between(self, low: int, high: int) -> list[Block]:
        """The free blocks starting within [low, high]."""

    async def has(self, block: Block) -> bool: ...

    async def remove(self, block: Block) -> None: ...

    async def add(self, blocks: Sequence[Block]) -> None: ...


async def allocate_any(store: BlockStore, prefixlen: int, version: int) -> Block | None:
    block = await store.best(prefixlen)
    if block is None:
        return None
    got, rest = split(block, prefixlen, version)
    await store.remove(block)
    await store.add(rest)
    return got


async def allocate_specific(store: BlockStore, target: Block, version: int) -> bool:
    block = await store.containing(target.start)
    if block is None or not contains(block, target, version):
        return False
    await store.remove(block)
    await store.add(carve(block, target, version))
    return True


async def release(store: BlockStore, block: Block, version: int) -> None:
    while block.prefixlen > 0:
        other = buddy(block, version)
        if not await store.has(other):
            break
        await store.remove(other)
        block = parent(block, version)
    await store.add([block])


async def add_space(store: BlockStore, nets: Iterable[IPNetwork]) -> None:
    """New free space (prefixes added to a pool), merged with its free neighbours."""
    for net in nets:
        await release(store, block_of(net), net.version)


async def remove_space(store: BlockStore, nets: Iterable[IPNetwork]) -> None:
    """Free space taken out of a pool (prefixes removed; the caller checked none is allocated)."""
    for net in nets:
        version = net.version
        cut = block_of(net)
        found = await store.between(cut.start, last(cut, version))
        around = await store.containing(cut.start)
        if around is not None and around not in found and contains(around, cut, version):
            found.append(around)
        for block in found:
            await store.remove(block)
            kept = subtract([network_of(block, version)], [net])
            await store.add([block_of(piece) for piece in kept])


class MemoryBlocks:
    """A ``BlockStore`` in memory: the reference the property tests drive."""

    def __init__(self) -> None:
        self.blocks: set[Block] = set()

    async def best(self, prefixlen: int) -> Block | None:
        fits = [b for b in self.blocks if b.prefixlen <= prefixlen]
        return min(fits, key=lambda b: (-b.prefixlen, b.start)) if fits else None

    async def containing(self, start: int) -> Block | None:
        below = [b for b in self.blocks if b.start <= start]
        return max(below, key=lambda b: b.start) if below else None

    async def between(self, low: int, high: int) -> list[Block]:
        return sorted(b for b in self.blocks if low <= b.start <= high)

    async def has(self, block: Block) -> bool:
        return block in self.blocks

    async def remove(self, block: Block) -> None:
        self.blocks.remove(block)

    async def add(self, blocks: Sequence[Block]) -> None:
        self.blocks.update(blocks)
