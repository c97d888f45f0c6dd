"""converge(desired, actual) planning, without a kernel."""

from __future__ import annotations

import pytest

from quark import names
from quark.agent import plan as p
from quark.agent.model import ActualState, DesiredNetwork, DesiredPort, DesiredState, HostConfig, Link

NET = "11111111-2222-3333-4444-555555555555"
NET2 = "99999999-2222-3333-4444-555555555555"
PORT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
BR, TAP, VM = names.bridge_name(NET), names.tap_name(PORT), names.vm_name(PORT)
MAC = "fa:16:3e:00:00:01"
HOST = HostConfig({"physnet1": "eth1"}, "10.0.0.1")


def vxlan_net(peers=("10.0.0.2",), vni=5001, mtu=1450) -> DesiredNetwork:
    return DesiredNetwork(NET, "vxlan", None, vni, mtu, BR, tuple(peers))


def flat_net() -> DesiredNetwork:
    return DesiredNetwork(NET, "flat", "physnet1", None, 1500, BR)


def port(**kw) -> DesiredPort:
    base = dict(
        id=PORT,
        network_id=NET,
        mac_address=MAC,
        admin_state_up=True,
        status="BUILD",
        device_name=TAP,
        vm_device_name=VM,
        bridge_name=BR,
        mtu=1450,
    )
    return DesiredPort(**{**base, **kw})


def desired(net: DesiredNetwork, *ports: DesiredPort) -> DesiredState:
    return DesiredState("h", 1, tuple(ports), (net,))


def converged_vxlan(peers=frozenset({"10.0.0.2"}), tap_up=True, vm_elsewhere=False) -> ActualState:
    links = [
        Link("lo", 1),
        Link(BR, 2, "bridge", up=True, mtu=1450),
        Link(
            "vxlan-5001",
            3,
            "vxlan",
            master=2,
            up=True,
            mtu=1450,
            vxlan_id=5001,
            vxlan_local="10.0.0.1",
            vxlan_port=4789,
        ),
        Link(TAP, 4, "veth", master=2, up=tap_up, mtu=1450, peer_index=5, peer_elsewhere=vm_elsewhere),
    ]
    if not vm_elsewhere:
        links.append(Link(VM, 5, "veth", up=tap_up, mac=MAC, mtu=1450, peer_index=4))
    return ActualState.of(links, {"vxlan-5001": peers})


def test_empty_host_gets_bridge_vxlan_flood_and_veth_in_order():
    plan = p.converge(desired(vxlan_net(), port()), ActualState.of([Link("lo", 1)]), HOST)
    assert plan.actions == [
        p.AddBridge(BR, 1450),
        p.SetLink(BR, up=True),
        p.AddVxlan("vxlan-5001", 5001, "10.0.0.1", 4789, 1450),
        p.SetLink("vxlan-5001", master=BR, up=True),
        p.AddFlood("vxlan-5001", "10.0.0.2"),
        p.AddVeth(TAP, VM, MAC, 1450),
        p.SetLink(TAP, master=BR, up=True),
        p.SetLink(VM, up=True),
    ]
    assert plan.errors == {}


def test_converged_host_plans_nothing_and_is_active():
    d, a = desired(vxlan_net(), port()), converged_vxlan()
    assert p.converge(d, a, HOST).actions == []
    assert p.port_statuses(d, a, {}) == {PORT: "ACTIVE"}


def test_vm_end_moved_to_another_namespace_is_left_alone():
    d, a = desired(vxlan_net(), port()), converged_vxlan(vm_elsewhere=True)
    assert p.converge(d, a, HOST).actions == []
    assert p.port_statuses(d, a, {}) == {PORT: "ACTIVE"}


@pytest.mark.parametrize(
    ("peers", "have", "expected"),
    [
        pytest.param(("10.0.0.2", "10.0.0.3"), {"10.0.0.2"}, [p.AddFlood("vxlan-5001", "10.0.0.3")], id="peer-joins"),
        pytest.param(
            ("10.0.0.3",),
            {"10.0.0.2"},
            [p.AddFlood("vxlan-5001", "10.0.0.3"), p.DelFlood("vxlan-5001", "10.0.0.2")],
            id="peer-replaced",
        ),
        pytest.param((), {"10.0.0.2"}, [p.DelFlood("vxlan-5001", "10.0.0.2")], id="last-peer-leaves"),
        pytest.param(("10.0.0.1", "10.0.0.2"), {"10.0.0.2"}, [], id="own-tunnel-ip-ignored"),
    ],
)
def test_flood_entries_follow_peers(peers, have, expected):
    plan = p.converge(desired(vxlan_net(peers), port()), converged_vxlan(frozenset(have)), HOST)
    assert plan.actions == expected


def test_vxlan_device_with_other_vni_or_local_is_recreated():
    actual = converged_vxlan()
    wrong = Link(
        "vxlan-5001", 3, "vxlan", master=2, up=True, mtu=1450, vxlan_id=5001, vxlan_local="10.0.0.9", vxlan_port=4789
    )
    actual = ActualState.of([*(link for link in actual.links.values() if link.name != "vxlan-5001"), wrong], {})
    actions = p.converge(desired(vxlan_net(), port()), actual, HOST).actions
    assert actions[:3] == [
        p.DelLink("vxlan-5001", "VXLAN device with other parameters"),
        p.AddVxlan("vxlan-5001", 5001, "10.0.0.1", 4789, 1450),
        p.SetLink("vxlan-5001", master=BR, up=True),
    ]


def test_admin_down_port_brings_devices_down_and_reports_down():
    d = desired(vxlan_net(), port(admin_state_up=False))
    actions = p.converge(d, converged_vxlan(), HOST).actions
    assert actions == [p.SetLink(TAP, up=False), p.SetLink(VM, up=False)]
    assert p.port_statuses(d, converged_vxlan(tap_up=False), {}) == {PORT: "DOWN"}


def test_tap_missing_or_unenslaved_is_down():
    d = desired(vxlan_net(), port())
    gone = ActualState.of([link for link in converged_vxlan().links.values() if link.name not in (TAP, VM)])
    assert p.port_statuses(d, gone, {}) == {PORT: "DOWN"}
    loose = converged_vxlan()
    loose.links[TAP] = Link(TAP, 4, "veth", master=None, up=True, mtu=1450, peer_index=5)
    assert p.port_statuses(d, loose, {}) == {PORT: "DOWN"}
    assert p.converge(d, loose, HOST).actions == [p.SetLink(TAP, master=BR)]


def test_wrong_mac_and_mtu_on_the_vm_end_are_fixed():
    actual = converged_vxlan()
    actual.links[VM] = Link(VM, 5, "veth", up=True, mac="fa:16:3e:ff:ff:ff", mtu=1500, peer_index=4)
    assert p.converge(desired(vxlan_net(), port()), actual, HOST).actions == [p.SetLink(VM, mtu=1450, mac=MAC)]


def test_flat_network_enslaves_the_mapped_interface():
    actual = ActualState.of([Link("lo", 1), Link("eth1", 2, None, up=False, mtu=1500)])
    actions = p.converge(desired(flat_net(), port()), actual, HOST).actions
    assert actions[:3] == [p.AddBridge(BR, 1500), p.SetLink(BR, up=True), p.SetLink("eth1", master=BR, up=True)]
    assert p.AddVeth(TAP, VM, MAC, 1500) in actions


@pytest.mark.parametrize(
    ("net", "host", "links", "error"),
    [
        pytest.param(
            DesiredNetwork(NET, "flat", "physnet9", None, 1500, BR), HOST, [], "no bridge mapping", id="unmapped"
        ),
        pytest.param(flat_net(), HOST, [], "does not exist", id="interface-missing"),
        pytest.param(
            DesiredNetwork(NET, "vlan", "physnet1", 100, 1500, BR),
            HOST,
            [Link("eth1", 2)],
            "8021q",
            id="vlan-without-8021q",
        ),
        pytest.param(vxlan_net(), HostConfig({}, None), [], "no tunnel_ip", id="vxlan-without-tunnel-ip"),
        pytest.param(DesiredNetwork(NET, "gre", None, 1, 1500, BR), HOST, [], "not supported", id="unknown-type"),
    ],
)
def test_unrealisable_networks_are_errors_and_their_ports_error(net, host, links, error):
    d = desired(net, port())
    actual = ActualState.of([Link("lo", 1), *links])
    plan = p.converge(d, actual, host)
    assert error in plan.errors[NET]
    assert plan.actions == []
    assert p.port_statuses(d, actual, plan.errors) == {PORT: "ERROR"}


def test_vlan_with_8021q_creates_the_vlan_device():
    host = HostConfig({"physnet1": "eth1"}, None, vlan_supported=True)
    net = DesiredNetwork(NET, "vlan", "physnet1", 100, 1500, BR)
    actions = p.converge(desired(net, port()), ActualState.of([Link("eth1", 2)]), host).actions
    assert p.AddVlan("eth1.100", "eth1", 100, 1500) in actions
    assert p.SetLink("eth1.100", master=BR, up=True) in actions


def test_stale_owned_devices_go_only_with_cleanup_and_foreign_ones_never():
    stale_port = "ffffffff-0000-0000-0000-000000000000"
    actual = converged_vxlan()
    extra = [
        Link(names.tap_name(stale_port), 10, "veth", peer_index=11),
        Link(names.vm_name(stale_port), 11, "veth", peer_index=10),
        Link(names.bridge_name(NET2), 12, "bridge"),
        Link("vxlan-7", 13, "vxlan", vxlan_id=7),
        Link("vmbr0", 14, "bridge"),  # a foreign bridge named like a VM device
        Link("tapdeadbeef12", 15, "tun"),  # wrong length for a Quark tap
        Link("brq1234567890a", 16, "veth"),  # right name, wrong kind
    ]
    actual = ActualState.of([*actual.links.values(), *extra], actual.flood_peers)
    d = desired(vxlan_net(), port())
    assert p.converge(d, actual, HOST, cleanup=False).actions == []
    assert p.converge(d, actual, HOST, cleanup=True).actions == [
        p.DelLink(names.tap_name(stale_port), "stale"),
        p.DelLink(names.vm_name(stale_port), "stale"),
        p.DelLink("vxlan-7", "stale"),
        p.DelLink(names.bridge_name(NET2), "stale"),
    ]


def test_devices_of_an_errored_network_are_kept():
    actual = converged_vxlan()
    plan = p.converge(desired(vxlan_net(), port()), actual, HostConfig({}, None), cleanup=True)
    assert plan.actions == [] and NET in plan.errors


def test_desired_state_parses_the_contract_document():
    doc = {
        "host": "h",
        "generation": 3,
        "ports": [
            {
                "id": PORT,
                "mac_address": "FA:16:3E:00:00:01",
                "network_id": NET,
                "admin_state_up": True,
                "status": "BUILD",
                "device_owner": "compute:nova",
                "device_id": "d",
                "device_name": TAP,
                "vm_device_name": VM,
                "bridge_name": BR,
                "mtu": 1450,
                "fixed_ips": [{"subnet_id": "s", "ip_address": "10.0.0.5"}],
            }
        ],
        "networks": [
            {
                "id": NET,
                "network_type": "vxlan",
                "physical_network": None,
                "segmentation_id": 5001,
                "mtu": 1450,
                "bridge_name": BR,
                "peers": ["10.0.0.3", "10.0.0.2", "10.0.0.2"],
            }
        ],
    }
    state = DesiredState.from_api(doc)
    assert state.ports[0].mac_address == MAC and state.ports[0].fixed_ips[0].ip_address == "10.0.0.5"
    assert state.networks[0].peers == ("10.0.0.2", "10.0.0.3")
    assert p.converge(state, converged_vxlan(frozenset({"10.0.0.2", "10.0.0.3"})), HOST).actions == []
