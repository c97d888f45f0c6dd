"""The holder of a release is the ``port`` of the nearest Neutron frame
(quark/neutron_ipam/holders.py): Neutron's ``Subnet.deallocate`` carries no port."""

from __future__ import annotations

from types import SimpleNamespace

from quark.neutron_ipam.holders import holder_of_caller

# Stand-ins for Neutron's callers: functions whose module is ``neutron.*``.
_NEUTRON_CODE = """
def _ipam_deallocate_ips(port, release):
    return release()

def add_auto_addrs_on_network_ports(port, release):
    return release()

def elsewhere(release):
    port = "not a port"
    return release()
"""


def _neutron_module(name: str) -> dict:
    namespace: dict = {"__name__": name}
    exec(compile(_NEUTRON_CODE, name, "exec"), namespace)
    return namespace


def _release() -> str | None:
    """What the driver's deallocate does: ask from one frame below Neutron's."""
    return holder_of_caller()


def test_port_dict_of_the_neutron_caller():
    neutron = _neutron_module("neutron.db.ipam_pluggable_backend")
    assert neutron["_ipam_deallocate_ips"]({"id": "port-1", "network_id": "n"}, _release) == "port-1"


def test_port_object_of_the_neutron_caller():
    neutron = _neutron_module("neutron.db.ipam_pluggable_backend")
    assert neutron["add_auto_addrs_on_network_ports"](SimpleNamespace(id="port-2"), _release) == "port-2"


def test_nearest_neutron_frame_wins():
    neutron = _neutron_module("neutron.db.ipam_pluggable_backend")
    outer = neutron["_ipam_deallocate_ips"]
    inner = neutron["add_auto_addrs_on_network_ports"]
    assert outer({"id": "outer"}, lambda: inner({"id": "inner"}, _release)) == "inner"


def test_frames_outside_neutron_and_non_ports_are_ignored():
    port = {"id": "not-neutron"}  # a local of a non-Neutron frame: ignored
    assert port and _release() is None
    neutron = _neutron_module("neutron.plugins.ml2.plugin")
    assert neutron["elsewhere"](_release) is None
    without_id = _neutron_module("neutron.db.ipam_pluggable_backend")
    assert without_id["_ipam_deallocate_ips"]({"network_id": "n"}, _release) is None
