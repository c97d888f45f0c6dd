"""The subnet-pool prefix allocator's moves (quark.ipam.prefixes), against a
plain model: the pool as a set of addresses. Properties: no two allocations
overlap and every one lies in the pool; best fit (an allocation never splits a
bigger block while a smaller one fits); what is freed is reused; the free
blocks stay maximal (a free block's buddy is never wholly free)."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quark import errors
from quark.ipam import prefixes as px
from quark.ipam.pool_errors import EmptySubnetPoolPrefixList, PrefixVersionMismatch
from quark.ipam.prefixes import Block, MemoryBlocks

POOL = ipaddress.ip_network("10.0.0.0/20")  # 4096 addresses: small enough to model as a set


def run(coro):
    return asyncio.run(coro)


def addresses(block: Block) -> set[int]:
    return set(range(block.start, px.last(block, 4) + 1))


def check_invariants(store: MemoryBlocks, allocated: dict[Block, None]) -> None:
    free = set().union(*(addresses(b) for b in store.blocks)) if store.blocks else set()
    used = set().union(*(addresses(b) for b in allocated)) if allocated else set()
    pool = set(range(int(POOL.network_address), int(POOL.broadcast_address) + 1))
    assert sum(px.size(b.prefixlen, 4) for b in allocated) == len(used), "two allocations overlap"
    assert sum(px.size(b.prefixlen, 4) for b in store.blocks) == len(free), "two free blocks overlap"
    assert not free & used, "an allocated prefix is still free"
    assert free | used == pool, "space was lost or invented"
    for block in store.blocks:
        assert block.start % px.size(block.prefixlen, 4) == 0, "unaligned block"
        assert px.buddy(block, 4) not in store.blocks, "free buddies left unmerged"


def largest_free_fit(store: MemoryBlocks, prefixlen: int) -> int | None:
    fits = [b.prefixlen for b in store.blocks if b.prefixlen <= prefixlen]
    return max(fits) if fits else None


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("any"), st.integers(20, 30)),
        st.tuples(st.just("specific"), st.integers(20, 30), st.integers(0, 4095)),
        st.tuples(st.just("free"), st.integers(0, 1000)),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(OPS)
def test_allocations_never_overlap_fit_best_and_reuse_freed_space(ops) -> None:
    store = MemoryBlocks()
    run(px.add_space(store, [POOL]))
    allocated: dict[Block, None] = {}
    for op in ops:
        if op[0] == "any":
            prefixlen = op[1]
            expected_level = largest_free_fit(store, prefixlen)
            got = run(px.allocate_any(store, prefixlen, 4))
            if expected_level is None:
                assert got is None
            else:
                assert got is not None and got.prefixlen == prefixlen
                # best fit: it came out of the smallest free block that holds it
                assert got.start % px.size(expected_level, 4) == 0
                allocated[got] = None
        elif op[0] == "specific":
            prefixlen, offset = op[1], op[2]
            start = int(POOL.network_address) + offset // px.size(prefixlen, 4) * px.size(prefixlen, 4)
            target = Block(prefixlen, start)
            was_free = addresses(target) <= set().union(set(), *(addresses(b) for b in store.blocks))
            assert run(px.allocate_specific(store, target, 4)) == was_free
            if was_free:
                allocated[target] = None
        elif allocated:
            victim = list(allocated)[op[1] % len(allocated)]
            del allocated[victim]
            run(px.release(store, victim, 4))
        check_invariants(store, allocated)


def test_freed_prefix_is_handed_out_again() -> None:
    store = MemoryBlocks()
    run(px.add_space(store, [ipaddress.ip_network("10.0.0.0/24")]))
    blocks = [run(px.allocate_any(store, 26, 4)) for _ in range(4)]
    assert run(px.allocate_any(store, 26, 4)) is None
    run(px.release(store, blocks[2], 4))
    assert run(px.allocate_any(store, 26, 4)) == blocks[2]


def test_best_fit_keeps_the_big_block_whole() -> None:
    store = MemoryBlocks()
    run(px.add_space(store, [ipaddress.ip_network("10.0.0.0/24"), ipaddress.ip_network("10.1.0.0/28")]))
    got = run(px.allocate_any(store, 28, 4))
    assert px.network_of(got, 4) == ipaddress.ip_network("10.1.0.0/28")
    assert Block(24, int(ipaddress.ip_address("10.0.0.0"))) in store.blocks


def test_releasing_everything_merges_back_to_the_pool() -> None:
    store = MemoryBlocks()
    run(px.add_space(store, [POOL]))
    got = [run(px.allocate_any(store, 24, 4)) for _ in range(16)]
    assert store.blocks == set()
    for block in reversed(got):
        run(px.release(store, block, 4))
    assert store.blocks == {px.block_of(POOL)}


def test_remove_space_keeps_the_rest() -> None:
    store = MemoryBlocks()
    run(px.add_space(store, [ipaddress.ip_network("10.0.0.0/16")]))
    run(px.remove_space(store, [ipaddress.ip_network("10.0.128.0/24")]))
    free = {px.network_of(b, 4) for b in store.blocks}
    assert ipaddress.ip_network("10.0.128.0/24") not in free
    assert sum(n.num_addresses for n in free) == 65536 - 256
    assert not any(n.overlaps(ipaddress.ip_network("10.0.128.0/24")) for n in free)


def test_ipv6_blocks_split_and_merge() -> None:
    store = MemoryBlocks()
    pool = ipaddress.ip_network("2001:db8::/48")
    run(px.add_space(store, [pool]))
    a = run(px.allocate_any(store, 64, 6))
    b = run(px.allocate_any(store, 64, 6))
    assert px.network_of(a, 6) == ipaddress.ip_network("2001:db8::/64")
    assert px.network_of(b, 6) == ipaddress.ip_network("2001:db8:0:1::/64")
    run(px.release(store, a, 6))
    run(px.release(store, b, 6))
    assert store.blocks == {px.block_of(pool)}


def test_read_prefixes_merges_as_neutron() -> None:
    version, nets = px.read_prefixes(["10.10.0.0/24", "10.10.1.0/24", "10.10.0.0/25", "192.168.0.5/24"])
    assert version == 4
    assert [str(n) for n in nets] == ["10.10.0.0/23", "192.168.0.0/24"]
    with pytest.raises(EmptySubnetPoolPrefixList):
        px.read_prefixes([])
    with pytest.raises(PrefixVersionMismatch):
        px.read_prefixes(["10.0.0.0/8", "2001:db8::/32"])
    for bad in ("10.0.0/24", "nonsense", "10.0.0.0", 5):
        with pytest.raises(errors.InvalidInput):
            px.read_prefixes([bad])


def test_subtract_and_overlap() -> None:
    nets = px.merge([ipaddress.ip_network("10.0.0.0/22")])
    left = px.subtract(nets, [ipaddress.ip_network("10.0.1.0/24")])
    assert [str(n) for n in left] == ["10.0.0.0/24", "10.0.2.0/23"]
    assert px.overlap(left, [ipaddress.ip_network("10.0.2.128/25")])
    assert not px.overlap(left, [ipaddress.ip_network("10.0.1.0/25")])
    assert px.quota_units(24, 4) == 256 and px.quota_units(60, 6) == 16
