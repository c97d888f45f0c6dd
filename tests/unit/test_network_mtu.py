"""Network MTU rules (quark.services.core.mtu), as Neutron's ML2 and base plugin."""

from __future__ import annotations

import pytest

from quark import errors
from quark.services.core import mtu


@pytest.mark.parametrize(
    "network_type, physnet, largest",
    [("vxlan", 1500, 1450), ("geneve", 1500, 1442), ("gre", 1500, 1458), ("vlan", 1500, 1500), ("flat", 9000, 9000)],
)
def test_the_largest_mtu_is_the_physical_one_less_the_overlay(network_type, physnet, largest):
    assert mtu.max_mtu(network_type, physnet) == largest
    assert mtu.network_mtu(None, network_type, physnet) == largest
    assert mtu.network_mtu(0, network_type, physnet) == largest  # 0: the maximum, as Neutron
    assert mtu.network_mtu(largest, network_type, physnet) == largest
    with pytest.raises(errors.InvalidInput) as refused:
        mtu.network_mtu(largest + 1, network_type, physnet)
    assert refused.value.msg.endswith(f"Requested MTU is too big, maximum is {largest}.")


def test_a_jumbo_underlay_allows_jumbo_overlays():
    assert mtu.network_mtu(8950, "vxlan", 9000) == 8950


@pytest.mark.parametrize("value", [1, 67, 500, 1279])
def test_small_mtus_are_accepted_without_subnets(value):
    assert mtu.network_mtu(value, "vxlan", 1500) == value
    mtu.check_subnet_fits("n", value, [])


@pytest.mark.parametrize(
    "value, versions, needed",
    [(67, [4], 68), (0, [4], 68), (67, [6], 68), (1279, [6], 1280), (1279, [4, 6], 1280), (68, [6], 1280)],
)
def test_subnets_need_their_minimum(value, versions, needed):
    with pytest.raises(errors.NetworkMTUSubnetConflict) as refused:
        mtu.check_subnet_fits("net-1", value, versions)
    assert refused.value.msg == f"MTU of net-1 is not valid, subnet requires a minimum of {needed}"


@pytest.mark.parametrize("value, versions", [(68, [4]), (1279, [4]), (1280, [6]), (1280, [4, 6])])
def test_subnets_that_fit(value, versions):
    mtu.check_subnet_fits("n", value, versions)
