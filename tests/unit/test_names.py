"""Unit tests for quark.names (device names of the dataplane contract)."""

from __future__ import annotations

import pytest

from quark import names

NET = "3f2a9c1e-7b4d-4e0a-9f6c-1d2e3f4a5b6c"
PORT = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"


def test_bridge_name():
    assert names.bridge_name(NET) == "brq3f2a9c1e-7b"
    assert len(names.bridge_name(NET)) == 14


def test_port_device_names():
    assert names.tap_name(PORT) == "tapa1b2c3d4-e5"
    assert names.vm_name(PORT) == "vma1b2c3d4-e5"


@pytest.mark.parametrize("vni, expected", [(1, "vxlan-1"), (5001, "vxlan-5001"), (16777215, "vxlan-16777215")])
def test_vxlan_name(vni, expected):
    assert names.vxlan_name(vni) == expected


def test_router_namespace():
    assert names.router_namespace(NET) == "qr-" + NET
    assert names.router_namespace(NET, prefix="t1-") == "t1-qr-" + NET


def test_dhcp_namespace():
    assert names.dhcp_namespace(NET) == "qdhcp-" + NET
    assert names.dhcp_namespace(NET, prefix="t1-") == "t1-qdhcp-" + NET


def test_all_names_fit_ifnamsiz():
    for name in (names.bridge_name(NET), names.tap_name(PORT), names.vm_name(PORT), names.vxlan_name(2**24 - 1)):
        assert len(name) <= 15
