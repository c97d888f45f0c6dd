"""The rules of network services without a database: which driver may realise
which network type (each driver declares it: ``Driver.network_types``), and
which kinds need, allow or refuse a physical network."""

from __future__ import annotations

import pytest

from quark import errors
from quark.drivers import loading
from quark.drivers.base import Driver, UnknownDriver
from quark.services.core.network_services import KINDS, check_driver, check_physical_network


class GeneveOnly(Driver):
    """A vendor's driver that declares one network type."""

    network_types = frozenset({"geneve"})


@pytest.fixture
def with_vendor(monkeypatch):
    shipped = loading.driver_class

    def driver_class(name: str) -> type[Driver]:
        return GeneveOnly if name == "vendor" else shipped(name)

    monkeypatch.setattr(loading, "driver_class", driver_class)


@pytest.mark.parametrize(
    ("driver", "network_type", "ok"),
    [
        pytest.param("agent", "flat", True, id="agent-flat"),
        pytest.param("agent", "vlan", True, id="agent-vlan"),
        pytest.param("agent", "vxlan", True, id="agent-vxlan"),
        pytest.param("agent", "gre", False, id="agent-gre"),
        pytest.param("agent", "geneve", False, id="agent-geneve"),
        pytest.param("unmanaged", "gre", True, id="unmanaged-any"),
        pytest.param("fault", "vlan", True, id="fault-any"),
        pytest.param("vendor", "geneve", True, id="vendor-declared"),
        pytest.param("vendor", "vlan", False, id="vendor-undeclared"),
    ],
)
def test_declared_combinations(with_vendor, driver, network_type, ok):
    assert loading.supports(driver, network_type) is ok
    if ok:
        check_driver(driver, network_type)
    else:
        with pytest.raises(errors.InvalidInput, match=f"does not realise {network_type} networks"):
            check_driver(driver, network_type)


def test_an_unknown_driver_is_a_400_not_a_lookup_error():
    with pytest.raises(UnknownDriver):
        loading.supports("no-such-driver", "vlan")
    with pytest.raises(errors.InvalidInput, match="not an installed driver"):
        check_driver("no-such-driver", "vlan")


@pytest.mark.parametrize(
    ("kind", "physnet", "ok"),
    [
        ("flat", "p1", True),
        ("flat", "", False),
        ("flat_dhcp", "p1", True),
        ("flat_dhcp", "", False),
        ("vlan", "p1", True),
        ("vlan", "", True),
        ("vxlan", "", True),
        ("vxlan", "p1", False),
    ],
)
def test_physical_network_by_kind(kind, physnet, ok):
    if ok:
        check_physical_network(kind, physnet)
    else:
        with pytest.raises(errors.InvalidInput):
            check_physical_network(kind, physnet)


def test_kinds_and_their_dhcp_default():
    assert {k: (v.network_type, v.dhcp) for k, v in KINDS.items()} == {
        "flat": ("flat", False),
        "flat_dhcp": ("flat", True),
        "vlan": ("vlan", True),
        "vxlan": ("vxlan", True),
    }
