"""The heat map's arithmetic (quark.ipam.grid). Properties: the zoom levels go
from the subnet to a last level of at most 256 addresses in steps of at most
8 bits; a grid's cells cover its prefix exactly, in order, without overlap,
each labelled by its own CIDR; the cell an address key falls in holds the
address; zooming into a cell gives that cell back as the grid, whose parent is
the grid it came from; an address's leaf prefix holds it and is a zoom level."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quark import errors
from quark.ipam import grid
from quark.ipam.addressing import ip_key


@st.composite
def zooms(draw) -> grid.Zoom:
    """A subnet and one of its grids that is not a leaf, with a drawn path down the levels."""
    version = draw(st.sampled_from([4, 6]))
    bits = 32 if version == 4 else 128
    length = draw(st.integers(min_value=1 if version == 4 else 8, max_value=bits - grid.CELL_BITS - 1))
    base = draw(st.integers(min_value=0, max_value=(1 << bits) - 1)) >> (bits - length) << (bits - length)
    net = ipaddress.ip_network((base, length)) if version == 4 else ipaddress.IPv6Network((base, length))
    z = grid.zoom(str(net), None)
    for _ in range(draw(st.integers(min_value=0, max_value=len(z.levels) - 2))):
        label, _first, _size = z.cells()[draw(st.integers(min_value=0, max_value=len(z.cells()) - 1))]
        z = grid.zoom(str(net), label)
    return z


def test_zoom_levels_end_at_256_addresses():
    assert grid.zoom_levels(24, 32) == [24]
    assert grid.zoom_levels(16, 32) == [16, 24]
    assert grid.zoom_levels(20, 32) == [20, 24]
    assert grid.zoom_levels(8, 32) == [8, 16, 24]
    assert grid.zoom_levels(28, 32) == [28]
    assert grid.zoom_levels(64, 128) == [64, 72, 80, 88, 96, 104, 112, 120]


@given(st.sampled_from([32, 128]).flatmap(lambda m: st.tuples(st.integers(1, m), st.just(m))))
def test_zoom_levels_step_at_most_8_bits_to_at_most_256_addresses(lengths):
    subnet_len, max_len = lengths
    levels = grid.zoom_levels(subnet_len, max_len)
    assert levels[0] == subnet_len and max_len - levels[-1] <= grid.CELL_BITS
    assert all(0 < b - a <= grid.CELL_BITS for a, b in zip(levels, levels[1:]))
    if len(levels) > 1:
        assert max_len - levels[-1] == grid.CELL_BITS  # the last level is always 256 addresses


def test_zoom_refuses_prefixes_off_the_zoom_path():
    z = grid.zoom("10.0.0.0/16", "10.0.7.0/24")
    assert (str(z.view), z.leaf, z.parent) == ("10.0.7.0/24", True, "10.0.0.0/16")
    for bad in ("10.1.0.0/24", "10.0.7.0/25", "10.0.7.1/24", "2001:db8::/64", "nonsense"):
        with pytest.raises(errors.InvalidInput):
            grid.zoom("10.0.0.0/16", bad)


def test_a_20_is_16_cells_of_24_and_an_ipv6_cell_key_groups_by_its_hex_digits():
    z = grid.zoom("10.0.0.0/20", None)
    assert (z.leaf, z.parent, z.cell_len, z.cell_size) == (False, None, 24, 256)
    assert [c[0] for c in z.cells()][:2] == ["10.0.0.0/24", "10.0.1.0/24"] and len(z.cells()) == 16
    assert z.cell_of(ip_key(ipaddress.ip_address("10.0.9.77"), 4)[: z.key_digits]) == 9
    v6 = grid.zoom("2001:db8::/64", None)
    assert (v6.cell_len, v6.key_digits, v6.cells()[255][0]) == (72, 18, "2001:db8:0:0:ff00::/72")


@settings(max_examples=200, deadline=None)
@given(zooms())
def test_cells_cover_the_prefix_exactly_in_order_without_overlap(z):
    cells = z.cells()
    assert len(cells) <= 1 << grid.CELL_BITS
    assert cells[0][1] == z.first
    for (_, first, size), (_, following, _) in zip(cells, cells[1:]):
        assert first + size == following  # contiguous: no gap, no overlap
    assert cells[-1][1] + cells[-1][2] - 1 == z.last
    assert sum(size for _, _, size in cells) == z.view.num_addresses
    for label, first, size in (cells[0], cells[-1]):
        net = ipaddress.ip_network(label)
        assert (int(net.network_address), net.num_addresses) == (first, size)


@settings(max_examples=200, deadline=None)
@given(zooms(), st.data())
def test_an_address_key_prefix_names_the_cell_holding_the_address(z, data):
    addr = data.draw(st.integers(min_value=z.first, max_value=z.last))
    index = z.cell_of(ip_key(addr, z.subnet.version)[: z.key_digits])
    _, first, size = z.cells()[index]
    assert first <= addr < first + size


@settings(max_examples=200, deadline=None)
@given(zooms(), st.data())
def test_zooming_into_a_cell_shows_it_with_this_grid_as_parent(z, data):
    label, first, size = data.draw(st.sampled_from(z.cells()))
    inner = grid.zoom(str(z.subnet), label)
    assert (inner.first, inner.last, inner.parent) == (first, first + size - 1, str(z.view))


@settings(max_examples=200, deadline=None)
@given(zooms(), st.data())
def test_an_address_leaf_prefix_holds_it_and_is_the_last_zoom_level(z, data):
    addr = ipaddress.ip_address(data.draw(st.integers(min_value=z.first, max_value=z.last)))
    if z.subnet.version == 6:
        addr = ipaddress.IPv6Address(int(addr))
    leaf = grid.zoom(str(z.subnet), grid.leaf_prefix(str(z.subnet), str(addr)))
    assert leaf.leaf and leaf.view.num_addresses <= 256 and addr in leaf.view


def test_leaf_prefix_is_none_outside_or_for_garbage():
    assert grid.leaf_prefix("10.0.0.0/16", "10.1.0.1") is None
    assert grid.leaf_prefix("10.0.0.0/16", "nonsense") is None
    assert grid.leaf_prefix("10.0.0.1/16", "10.0.0.1") is None  # host bits set: not a subnet CIDR


def test_pool_set_and_address_text():
    pools = grid.pool_set([("10.0.0.2", "10.0.0.9"), ("10.0.0.20", "10.0.0.20")])
    assert pools.ranges() == ((167772162, 167772169), (167772180, 167772180)) and pools.size == 9
    assert grid.pool_set(None).size == 0
    assert grid.address_text(1, 6) == "::1" and grid.address_text(1, 4) == "0.0.0.1"
